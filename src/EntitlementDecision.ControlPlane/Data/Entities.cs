namespace EntitlementDecision.ControlPlane.Data;

/// <summary>Table <c>tenants</c>: one customer organisation. <see cref="TenantId"/> is a slug <c>^[a-z0-9][a-z0-9-]{1,62}$</c>.</summary>
public sealed class Tenant
{
    public const string Active = "active";
    public const string Suspended = "suspended";

    public required string TenantId { get; set; }

    public required string Name { get; set; }

    /// <summary><see cref="Active"/> or <see cref="Suspended"/>.</summary>
    public required string Status { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>
/// Table <c>entitlements</c>: what a tenant has in one environment, as stored (the input of
/// <see cref="Engine.Resolution.EntitlementResolver.Resolve"/>). <see cref="Version"/> is the snapshot version, incremented in
/// the same transaction as every change of this row or of its tenant's status.
/// </summary>
public sealed class Entitlement
{
    public required string TenantId { get; set; }

    /// <summary><c>^[a-z0-9][a-z0-9-]{0,31}$</c>, e.g. "production".</summary>
    public required string Environment { get; set; }

    /// <summary>The plan the subscription or the comp grants; null = none (baseline).</summary>
    public string? PlanId { get; set; }

    /// <summary>Stripe's subscription status string as sent (active, trialing, past_due, canceled, ...); null = never subscribed.</summary>
    public string? StripeStatus { get; set; }

    public string? StripeCustomerId { get; set; }

    public string? StripeSubscriptionId { get; set; }

    public DateTimeOffset? CurrentPeriodEnd { get; set; }

    public bool CancelAtPeriodEnd { get; set; }

    public bool Comped { get; set; }

    public string? OverridePlanId { get; set; }

    public long Version { get; set; }

    /// <summary><c>created</c> of the newest applied Stripe subscription event (order safety).</summary>
    public DateTimeOffset? LastStripeEventCreated { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>Table <c>stripe_events</c>: every verified, parseable webhook event; <see cref="EventId"/> is the idempotency key.</summary>
public sealed class StripeEventRecord
{
    public required string EventId { get; set; }

    public required string Type { get; set; }

    public DateTimeOffset StripeCreated { get; set; }

    public DateTimeOffset ReceivedAt { get; set; }

    /// <summary>The raw body (jsonb).</summary>
    public required string Payload { get; set; }

    /// <summary>applied | ignored_stale | ignored_unhandled | rejected: reason.</summary>
    public required string Outcome { get; set; }

    public string? TenantId { get; set; }

    public string? Environment { get; set; }
}

/// <summary>Table <c>outbox_messages</c>: "(tenant, environment) changed, publish its snapshot"; written in the changing transaction.</summary>
public sealed class OutboxMessage
{
    public long Id { get; set; }

    public required string TenantId { get; set; }

    public required string Environment { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? PublishedAt { get; set; }

    public int Attempts { get; set; }
}

/// <summary>Table <c>audit_entries</c>: who changed what, with before/after JSON (jsonb) and the cause (event id or operator).</summary>
public sealed class AuditEntry
{
    public long Id { get; set; }

    public required string TenantId { get; set; }

    public string? Environment { get; set; }

    public DateTimeOffset At { get; set; }

    /// <summary>"stripe" or "operator:&lt;sub&gt;".</summary>
    public required string Actor { get; set; }

    public required string Action { get; set; }

    public string? Before { get; set; }

    public string? After { get; set; }

    public required string Cause { get; set; }
}
