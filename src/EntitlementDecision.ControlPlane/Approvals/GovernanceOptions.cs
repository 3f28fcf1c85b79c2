using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using EntitlementDecision.ControlPlane.Configuration;

namespace EntitlementDecision.ControlPlane.Approvals;

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
/// Invalid values fail start-up naming the variable (<see cref="EnvironmentOptions"/>).
/// </summary>
internal sealed class GovernanceOptions : EnvironmentOptions
{
    public const string ApprovalRequiredVariable = "ED_APPROVAL_REQUIRED";
    public const string ApprovalTtlVariable = "ED_APPROVAL_TTL_HOURS";
    public const string RetentionVariable = "ED_RETENTION_DAYS";
    public const string AutoRepairVariable = "ED_RECONCILE_AUTO_REPAIR";

    public IReadOnlySet<string> ApprovalRequired { get; set; } = ApprovalActions.All;

    public TimeSpan ApprovalTtl { get; set; } = TimeSpan.FromHours(72);

    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>True: reconciliation repairs drift at once; false (default): it reports drift and files approvals for the repairs.</summary>
    public bool ReconcileAutoRepair { get; set; }

    /// <summary>True when <paramref name="action"/> needs a second operator.</summary>
    public bool RequiresApproval(string action) => ApprovalRequired.Contains(action);

    /// <summary>SHA-256 (hex) of the policy as its canonical text, so a dossier proves which policy was in force.</summary>
    public string PolicyHash() => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
        $"approval_required={string.Join(',', ApprovalRequired.Order(StringComparer.Ordinal))};approval_ttl_s={ApprovalTtl.TotalSeconds.ToString(CultureInfo.InvariantCulture)};retention_s={Retention.TotalSeconds.ToString(CultureInfo.InvariantCulture)};reconcile_auto_repair={ReconcileAutoRepair}")));

    protected internal override void Read(EnvironmentReader env)
    {
        var names = env.List(ApprovalRequiredVariable);
        if (names is ["none"])
        {
            ApprovalRequired = new HashSet<string>();
        }
        else if (names.FirstOrDefault(n => !ApprovalActions.All.Contains(n)) is { } unknown)
        {
            env.Fail($"{ApprovalRequiredVariable} lists '{unknown}'; known actions: {string.Join(", ", ApprovalActions.All.Order())} (or 'none')");
        }
        else if (names.Length > 0)
        {
            ApprovalRequired = names.ToHashSet(StringComparer.Ordinal);
        }

        ApprovalTtl = TimeSpan.FromHours(env.Decimal(ApprovalTtlVariable, ApprovalTtl.TotalHours, h => h > 0, text => $"{ApprovalTtlVariable} must be a number > 0, got '{text}'"));
        Retention = TimeSpan.FromDays(env.Decimal(RetentionVariable, Retention.TotalDays, d => d >= 0, text => $"{RetentionVariable} must be a number >= 0, got '{text}'"));
        ReconcileAutoRepair = env.Switch(AutoRepairVariable, ReconcileAutoRepair, $"{AutoRepairVariable} must be 'true' or 'false', got '{env.Text(AutoRepairVariable)}'");
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
