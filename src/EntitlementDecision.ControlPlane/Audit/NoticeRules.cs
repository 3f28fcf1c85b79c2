using System.Globalization;
using System.Text.Json;
using EntitlementDecision.ControlPlane.Data;

namespace EntitlementDecision.ControlPlane.Audit;

/// <summary>
/// Which audited changes notify the tenant, and the versioned templates they are rendered with (the one place for both).
/// Called for every audit entry (<see cref="AuditLog.Add"/>), so a notice is written in the same transaction as its cause:
/// <c>trial.reminder</c> -> trial_ending; <c>dunning.reminder</c> -> payment_failed (with the grace deadline); <c>tenant.suspended</c>
/// -> suspended; <c>tenant.resumed</c> -> reactivated; an entitlement whose Stripe status becomes canceled -> canceled (naming the
/// plan it lands on, resolved with the catalog: usually the baseline plan); whose
/// subscribed or override plan changes -> plan_changed. Not raised yet: read_only (a time-based change of the dunning schedule,
/// which no write marks).
/// </summary>
internal static class NoticeRules
{
    /// <summary>The template set's version, stored with every notice rendered from it; bump it when a text changes.</summary>
    public const string TemplateVersion = "2026-12-08.1";

    private static readonly Dictionary<string, (string Subject, string Body)> Templates = new(StringComparer.Ordinal)
    {
        ["trial_ending"] = ("Your trial ends {trial_end}", "The trial of tenant {tenant} ends {trial_end}. Add a payment method in the billing portal to keep your plan."),
        ["payment_failed"] = ("Payment failed: full access until {grace_ends_at}", "A payment of tenant {tenant} failed (invoice {invoice_id}). Full access continues until {grace_ends_at}; then the account is read-only until {suspend_at}, and suspended after that. Update the payment method in the billing portal."),
        ["suspended"] = ("Your account is suspended", "Tenant {tenant} is suspended: its services are denied until it is reactivated. Nothing was deleted."),
        ["reactivated"] = ("Your account is active again", "Tenant {tenant} is active again, with the plan it had before the suspension."),
        ["canceled"] = ("Your subscription is canceled", "The subscription {subscription_id} of tenant {tenant} ({environment}) is canceled; the tenant is now on the {plan} plan."),
        ["plan_changed"] = ("Your plan changed to {plan}", "The plan of tenant {tenant} ({environment}) changed from {previous_plan} to {plan}."),
    };

    /// <summary>Adds the notice an audit entry raises (not saved), if any.</summary>
    public static void OnAudit(EntitlementsDbContext db, string tenantId, string? environment, DateTimeOffset at, string action, object? before, object? after, string cause)
    {
        var facts = Facts(db.Catalog, action, before, after);
        if (facts is not { } f || tenantId == AuditLog.SystemTenant)
        {
            return;
        }

        f.Data["tenant"] = tenantId;
        f.Data["environment"] = environment ?? "";
        var (subject, body) = Templates[f.Kind];
        db.Notices.Add(new Notice
        {
            TenantId = tenantId,
            Environment = environment,
            Kind = f.Kind,
            TemplateVersion = TemplateVersion,
            Subject = Render(subject, f.Data),
            Body = Render(body, f.Data),
            Data = JsonSerializer.Serialize(f.Data),
            Cause = cause,
            CreatedAt = at,
            NextAttemptAt = at,
        });
    }

    /// <summary>The plan a row's audited state resolves to (override > comp > subscription > the catalog's baseline); without a
    /// catalog (design time), the override or subscribed plan id, else "baseline".</summary>
    private static string PlanIn(Engine.Catalog.PlanCatalog? catalog, EntitlementAuditView view) => catalog is null
        ? view.OverridePlanId ?? (view.Comped ? view.PlanId : null) ?? "baseline"
        : Engine.Resolution.EntitlementResolver.PlanOf(catalog, view.OverridePlanId, view.Comped, view.PlanId, view.StripeStatus).Plan.Id;

    private static (string Kind, Dictionary<string, string> Data)? Facts(Engine.Catalog.PlanCatalog? catalog, string action, object? before, object? after)
    {
        switch (action)
        {
            case "trial.reminder":
                return ("trial_ending", Props(after, ("trial_end", "TrialEnd")));
            case "dunning.reminder":
                return ("payment_failed", Props(after, ("invoice_id", "InvoiceId"), ("grace_ends_at", "GraceEndsAt"), ("suspend_at", "SuspendAt")));
            case "tenant.suspended":
                return ("suspended", []);
            case "tenant.resumed":
                return ("reactivated", []);
        }

        if (before is EntitlementAuditView b && after is EntitlementAuditView a)
        {
            if (a.StripeStatus == "canceled" && b.StripeStatus != "canceled")
            {
                return ("canceled", new() { ["subscription_id"] = a.StripeSubscriptionId ?? "", ["plan"] = PlanIn(catalog, a) });
            }

            var was = b.OverridePlanId ?? b.PlanId;
            var now = a.OverridePlanId ?? a.PlanId;
            if (now is not null && !string.Equals(was, now, StringComparison.Ordinal))
            {
                return ("plan_changed", new() { ["plan"] = now, ["previous_plan"] = was ?? catalog?.Baseline.Id ?? "baseline" });
            }
        }

        return null;
    }

    // Reads named properties of an anonymous audit object; timestamps as ISO 8601 UTC.
    private static Dictionary<string, string> Props(object? value, params (string Name, string Property)[] names)
    {
        var data = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, property) in names)
        {
            var v = value?.GetType().GetProperty(property)?.GetValue(value);
            data[name] = v switch
            {
                DateTimeOffset d => d.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
                null => "-",
                _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "-",
            };
        }

        return data;
    }

    private static string Render(string template, Dictionary<string, string> data)
    {
        foreach (var (k, v) in data)
        {
            template = template.Replace("{" + k + "}", v, StringComparison.Ordinal);
        }

        return template;
    }
}
