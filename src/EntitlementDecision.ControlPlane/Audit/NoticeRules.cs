using System.Globalization;
using System.Text.Json;
using EntitlementDecision.ControlPlane.Data;

namespace EntitlementDecision.ControlPlane.Audit;

/// <summary>
/// Which changes notify the tenant, and the versioned templates they are rendered with (the one place for both). Subscribes to the
/// <see cref="DomainEvent"/> an audit entry carries (<see cref="AuditLog.Add"/>), so a notice is written in the same transaction as
/// its cause: <see cref="TrialEnding"/> -> trial_ending; <see cref="PaymentFailed"/> -> payment_failed (with the grace deadline);
/// <see cref="TenantSuspended"/> -> suspended; <see cref="TenantResumed"/> -> reactivated; an <see cref="EntitlementChanged"/> whose
/// Stripe status becomes canceled -> canceled (naming the plan it lands on, resolved with the catalog: usually the baseline plan); whose
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

    /// <summary>Adds the notice <paramref name="raised"/> gives the tenant (not saved), if any; platform events (<see cref="AuditLog.SystemTenant"/>) notify nobody.</summary>
    public static void Raised(EntitlementsDbContext db, string tenantId, string? environment, DateTimeOffset at, DomainEvent raised, string cause)
    {
        var facts = Facts(db.Catalog, raised);
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

    private static (string Kind, Dictionary<string, string> Data)? Facts(Engine.Catalog.PlanCatalog? catalog, DomainEvent raised)
    {
        switch (raised)
        {
            case TrialEnding t:
                return ("trial_ending", new() { ["trial_end"] = Time(t.TrialEnd) });
            case PaymentFailed p:
                return ("payment_failed", new() { ["invoice_id"] = p.InvoiceId ?? "-", ["grace_ends_at"] = Time(p.GraceEndsAt), ["suspend_at"] = Time(p.SuspendAt) });
            case TenantSuspended:
                return ("suspended", []);
            case TenantResumed:
                return ("reactivated", []);
            case EntitlementChanged { Before: var b, After: var a }:
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

                return null;
            default:
                return null;
        }
    }

    // Timestamps in notices: ISO-like UTC to the minute; "-" when unknown.
    private static string Time(DateTimeOffset? at) => at is { } d ? d.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) : "-";

    private static string Render(string template, Dictionary<string, string> data)
    {
        foreach (var (k, v) in data)
        {
            template = template.Replace("{" + k + "}", v, StringComparison.Ordinal);
        }

        return template;
    }
}
