using System.Diagnostics.Metrics;

namespace EntitlementDecision.ControlPlane.Audit;

/// <summary>
/// The billing KPIs (meter <c>EntitlementDecision.ControlPlane</c>; README "Metrics"), counted from <see cref="DomainEvent"/>s after
/// the transaction that recorded them commits (<see cref="AuditLog.Add"/>), so a rolled-back change counts nothing and a replayed one once.
/// </summary>
internal static class BillingKpis
{
    private static Meter Meter => Observability.ControlPlaneTelemetry.Meter;
    private static readonly Counter<long> CheckoutSessions = Meter.CreateCounter<long>("ed.billing.checkout_sessions", "{session}", "Stripe Checkout sessions by stage: created, completed");
    private static readonly Counter<long> Transitions = Meter.CreateCounter<long>("ed.billing.subscription_transitions", "{transition}", "Subscription status changes (from, to; 'none' before the first subscription)");
    private static readonly Counter<long> PaymentsFailed = Meter.CreateCounter<long>("ed.billing.payments_failed", "{payment}", "Failed invoice payments (each attempt)");
    private static readonly Counter<long> PlanChanges = Meter.CreateCounter<long>("ed.billing.plan_changes", "{change}", "Plan changes by kind: upgrade, downgrade_scheduled, downgrade, cancel_scheduled, changed");

    /// <summary>Counts one committed event.</summary>
    public static void Committed(DomainEvent e)
    {
        switch (e)
        {
            case CheckoutSessionCreated:
                CheckoutSessions.Add(1, new KeyValuePair<string, object?>("stage", "created"));
                break;
            case PlanChangeMade p:
                PlanChange(p.Kind switch
                {
                    PlanChangeKind.Upgrade => "upgrade",
                    PlanChangeKind.DowngradeScheduled => "downgrade_scheduled",
                    PlanChangeKind.Downgrade => "downgrade",
                    _ => "cancel_scheduled",
                });
                break;
            case EntitlementChanged c:
                Changed(c);
                break;
        }
    }

    private static void Changed(EntitlementChanged c)
    {
        var (b, a) = (c.Before, c.After);
        if (c.CompletesCheckout)
        {
            CheckoutSessions.Add(1, new KeyValuePair<string, object?>("stage", "completed"));
        }

        if (a.StripeStatus is not null && a.StripeStatus != b.StripeStatus)
        {
            Transitions.Add(1, new KeyValuePair<string, object?>("from", b.StripeStatus ?? "none"), new KeyValuePair<string, object?>("to", a.StripeStatus));
        }

        if (a.DunningAttempts > b.DunningAttempts)
        {
            PaymentsFailed.Add(a.DunningAttempts - b.DunningAttempts);
        }

        // Any change of the row's subscribed plan (a webhook, a repair, or the sync that follows a self-service change).
        if (b.PlanId is not null && a.PlanId != b.PlanId)
        {
            PlanChange("changed");
        }
    }

    private static void PlanChange(string kind) => PlanChanges.Add(1, new KeyValuePair<string, object?>("kind", kind));
}
