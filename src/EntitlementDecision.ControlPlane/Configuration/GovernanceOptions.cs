using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace EntitlementDecision.ControlPlane.Configuration;

/// <summary>
/// Approval and retention policy, read from environment variables (any IConfiguration source):
/// <list type="bullet">
/// <item><c>ED_APPROVAL_REQUIRED</c>: comma-separated actions that need a second operator (default: every action in
/// <see cref="ApprovalActions.All"/>); <c>none</c> turns approvals off.</item>
/// <item><c>ED_APPROVAL_TTL_HOURS</c> (default 72, a decimal > 0): how long a request waits for its approval before it expires.</item>
/// <item><c>ED_RETENTION_DAYS</c> (default 30, a decimal >= 0): how long a deleted tenant's data is kept before the purge.</item>
/// <item><c>ED_RECONCILE_AUTO_REPAIR</c> (<c>false</c> default | <c>true</c>): false: reconciliation records drift and files a
/// <c>reconciliation.repair</c> approval per drifted row; true: it repairs at once.</item>
/// </list>
/// Invalid values fail start-up naming the variable.
/// </summary>
internal sealed class GovernanceOptions
{
    public const string ApprovalRequiredVariable = "ED_APPROVAL_REQUIRED";
    public const string ApprovalTtlVariable = "ED_APPROVAL_TTL_HOURS";
    public const string RetentionVariable = "ED_RETENTION_DAYS";
    public const string AutoRepairVariable = "ED_RECONCILE_AUTO_REPAIR";

    public IReadOnlySet<string> ApprovalRequired { get; init; } = ApprovalActions.All;

    public TimeSpan ApprovalTtl { get; init; } = TimeSpan.FromHours(72);

    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(30);

    /// <summary>True: reconciliation repairs drift at once; false (default): it reports drift and files approvals for the repairs.</summary>
    public bool ReconcileAutoRepair { get; init; }

    /// <summary>True when <paramref name="action"/> needs a second operator.</summary>
    public bool RequiresApproval(string action) => ApprovalRequired.Contains(action);

    /// <summary>SHA-256 (hex) of the policy as its canonical text, so a dossier proves which policy was in force.</summary>
    public string PolicyHash() => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
        $"approval_required={string.Join(',', ApprovalRequired.Order(StringComparer.Ordinal))};approval_ttl_s={ApprovalTtl.TotalSeconds.ToString(CultureInfo.InvariantCulture)};retention_s={Retention.TotalSeconds.ToString(CultureInfo.InvariantCulture)};reconcile_auto_repair={ReconcileAutoRepair}")));

    /// <summary>Reads the options; throws <see cref="InvalidOperationException"/> naming the variable that is invalid.</summary>
    public static GovernanceOptions From(IConfiguration configuration)
    {
        var required = ApprovalActions.All;
        if (configuration[ApprovalRequiredVariable] is { Length: > 0 } list)
        {
            var names = list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            required = names is ["none"]
                ? new HashSet<string>()
                : names.All(ApprovalActions.All.Contains)
                    ? names.ToHashSet(StringComparer.Ordinal)
                    : throw new InvalidOperationException(
                        $"{ApprovalRequiredVariable} lists '{names.First(n => !ApprovalActions.All.Contains(n))}'; known actions: {string.Join(", ", ApprovalActions.All.Order())} (or 'none')");
        }

        return new GovernanceOptions
        {
            ApprovalRequired = required,
            ApprovalTtl = TimeSpan.FromHours(Read(configuration, ApprovalTtlVariable, 72, positive: true)),
            Retention = TimeSpan.FromDays(Read(configuration, RetentionVariable, 30, positive: false)),
            ReconcileAutoRepair = configuration[AutoRepairVariable] switch
            {
                null or "" or "false" => false,
                "true" => true,
                var other => throw new InvalidOperationException($"{AutoRepairVariable} must be 'true' or 'false', got '{other}'"),
            },
        };
    }

    private static double Read(IConfiguration configuration, string name, double fallback, bool positive)
    {
        if (configuration[name] is not { Length: > 0 } text)
        {
            return fallback;
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && (positive ? value > 0 : value >= 0)
            ? value
            : throw new InvalidOperationException($"{name} must be a number {(positive ? "> 0" : ">= 0")}, got '{text}'");
    }
}

/// <summary>The actions an approval can stand for (names used in ED_APPROVAL_REQUIRED, the approval's <c>action</c> and the audit).</summary>
internal static class ApprovalActions
{
    /// <summary><c>DELETE /tenants/{id}</c>: tombstone the tenant (purge after the retention period).</summary>
    public const string TenantDelete = "tenant.delete";

    /// <summary><c>POST /tenants/{id}/purge</c>: purge a deleting tenant now instead of at the end of the retention period.</summary>
    public const string TenantPurge = "tenant.purge";

    /// <summary><c>PUT /tenants/{id}/entitlements/{env}/override</c>.</summary>
    public const string Override = "entitlement.override";

    /// <summary><c>PUT /tenants/{id}/entitlements/{env}/comp</c>.</summary>
    public const string Comp = "entitlement.comp";

    /// <summary>A repair of drift found by reconciliation: Stripe's current subscription applied to the row (filed by the reconciler).</summary>
    public const string ReconciliationRepair = "reconciliation.repair";

    /// <summary><c>POST /billing/webhooks/events/{id}/retry</c>: a failed Stripe event back to pending.</summary>
    public const string WebhookRetry = "webhook.retry";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal)
    {
        TenantDelete, TenantPurge, Override, Comp, ReconciliationRepair, WebhookRetry,
    };
}
