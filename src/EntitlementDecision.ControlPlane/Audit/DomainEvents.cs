namespace EntitlementDecision.ControlPlane.Audit;

/// <summary>
/// A billing or lifecycle change the control plane made, recorded with its audit entry (<see cref="AuditLog.Add"/>) and so in its
/// transaction. Subscribers pick events by type, never by audit action: <see cref="NoticeRules"/> writes the tenant's notice in the
/// same transaction (the notices table is their outbox, sent by one dispatcher); <see cref="BillingKpis"/> counts after the commit.
/// </summary>
internal abstract record DomainEvent;

/// <summary>The entitlement row's state changed (<paramref name="Before"/> -> <paramref name="After"/>, both as audited);
/// <paramref name="CompletesCheckout"/> when the change applies a <c>checkout.session.completed</c>.</summary>
internal sealed record EntitlementChanged(EntitlementAuditView Before, EntitlementAuditView After, bool CompletesCheckout = false) : DomainEvent;

/// <summary>Stripe announced the trial's end (<c>customer.subscription.trial_will_end</c>, or a trial_end in the payload).</summary>
internal sealed record TrialEnding(string? SubscriptionId, DateTimeOffset? TrialEnd) : DomainEvent;

/// <summary>A payment failed during the grace period: full access until <paramref name="GraceEndsAt"/>, suspended from <paramref name="SuspendAt"/>.</summary>
internal sealed record PaymentFailed(string? InvoiceId, DateTimeOffset GraceEndsAt, DateTimeOffset SuspendAt) : DomainEvent;

/// <summary>An operator suspended the tenant (access blocked).</summary>
internal sealed record TenantSuspended : DomainEvent;

/// <summary>An operator resumed the tenant.</summary>
internal sealed record TenantResumed : DomainEvent;

/// <summary>A Stripe Checkout Session was created for the tenant (not a replayed answer).</summary>
internal sealed record CheckoutSessionCreated(string SessionId, string PlanId) : DomainEvent;

/// <summary>A self-service plan change took effect or was scheduled.</summary>
internal sealed record PlanChangeMade(PlanChangeKind Kind) : DomainEvent;

/// <summary>The kinds of <see cref="PlanChangeMade"/>, as counted by <c>ed_billing_plan_changes_total{kind}</c>.</summary>
internal enum PlanChangeKind
{
    Upgrade,
    DowngradeScheduled,
    Downgrade,
    CancelScheduled,
}
