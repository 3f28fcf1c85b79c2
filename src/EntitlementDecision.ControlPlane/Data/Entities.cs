namespace EntitlementDecision.ControlPlane.Data;

/// <summary>
/// Table <c>tenants</c>: one customer organisation. <see cref="TenantId"/> is a slug <c>^[a-z0-9][a-z0-9-]{1,62}$</c>.
/// Lifecycle: <see cref="Provisioning"/> (inside the creating transaction) -> <see cref="Active"/> &lt;-> <see cref="Suspended"/>
/// -> <see cref="Deleting"/> (tombstoned: denied everywhere, data kept until <see cref="PurgeAfter"/>) -> <see cref="Deleted"/> (purged).
/// </summary>
internal sealed class Tenant
{
    public const string Provisioning = "provisioning";
    public const string Active = "active";
    public const string Suspended = "suspended";
    public const string Deleting = "deleting";
    public const string Deleted = "deleted";

    public required string TenantId { get; set; }

    public required string Name { get; set; }

    /// <summary>One of the lifecycle states above.</summary>
    public required string Status { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>Home region: where the tenant's data is stored and processed (<c>POST /tenants</c> <c>region</c>, default ED_REGION).</summary>
    public string Region { get; set; } = Configuration.ControlPlaneOptions.DefaultRegion;

    /// <summary>Data residency: the regions the tenant's data may be stored or processed in; always holds <see cref="Region"/>.</summary>
    public List<string> AllowedRegions { get; set; } = [Configuration.ControlPlaneOptions.DefaultRegion];

    /// <summary>When the deletion was approved (the tenant became <see cref="Deleting"/>); null otherwise.</summary>
    public DateTimeOffset? DeletionRequestedAt { get; set; }

    /// <summary>When the purge job removes the tenant's personal data (deletion + retention period); null unless deleting.</summary>
    public DateTimeOffset? PurgeAfter { get; set; }

    public DateTimeOffset? PurgedAt { get; set; }

    /// <summary>The billing owner's token subject once ownership was transferred (null: any owner-role token of the tenant is owner).
    /// Set: only this subject acts as owner; another owner-role token acts as admin (see <c>TenantStatusGate</c>).</summary>
    public string? OwnerSubject { get; set; }

    /// <summary>True when <paramref name="status"/> blocks the tenant everywhere (sidecar, its own tokens, usage).</summary>
    public static bool Blocks(string status) => status is Suspended or Deleting or Deleted;
}

/// <summary>
/// Table <c>approvals</c>: an action that needs a second operator (policy <c>ED_APPROVAL_REQUIRED</c>). <see cref="Payload"/> is the
/// action's validated request (jsonb); an operator other than <see cref="RequestedBy"/> approves (executes it once, result kept) or
/// rejects it; past <see cref="ExpiresAt"/> it can only expire.
/// </summary>
internal sealed class Approval
{
    public const string Pending = "pending";
    public const string Executed = "executed";
    public const string Rejected = "rejected";
    public const string Expired = "expired";

    /// <summary>"apr_" + 24 lower-case hex chars.</summary>
    public required string Id { get; set; }

    /// <summary>e.g. tenant.delete, tenant.purge, entitlement.override, entitlement.comp.</summary>
    public required string Action { get; set; }

    public required string TenantId { get; set; }

    public string? Environment { get; set; }

    public required string Payload { get; set; }

    /// <summary>The requester's audit actor, e.g. "operator:alice".</summary>
    public required string RequestedBy { get; set; }

    public DateTimeOffset RequestedAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }

    public string Status { get; set; } = Pending;

    public string? DecidedBy { get; set; }

    public DateTimeOffset? DecidedAt { get; set; }

    /// <summary>The executed action's HTTP status and body (jsonb), replayed to a repeated approve.</summary>
    public int? ResultStatus { get; set; }

    public string? Result { get; set; }
}

/// <summary>
/// Table <c>entitlements</c>: what a tenant has in one environment, as stored (the input of
/// <see cref="Engine.Resolution.EntitlementResolver.Resolve"/>). <see cref="Version"/> is the snapshot version, incremented in
/// the same transaction as every change of this row or of its tenant's status.
/// </summary>
internal sealed class Entitlement
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

    /// <summary>Start of the subscription's current billing period (UTC), from Stripe; null when unknown.</summary>
    public DateTimeOffset? CurrentPeriodStart { get; set; }

    public DateTimeOffset? CurrentPeriodEnd { get; set; }

    public bool CancelAtPeriodEnd { get; set; }

    /// <summary>When dunning started: the <c>created</c> of the first failed invoice payment (or of the first past_due/unpaid
    /// subscription state seen) since the subscription was last in good standing; null when not in dunning.</summary>
    public DateTimeOffset? DunningStartedAt { get; set; }

    /// <summary>Payment attempts of the unpaid invoice (Stripe's <c>attempt_count</c>, highest seen); 0 when not in dunning.</summary>
    public int DunningAttempts { get; set; }

    /// <summary><c>created</c> of the newest applied invoice event (order safety for dunning start/end).</summary>
    public DateTimeOffset? LastInvoiceEventCreated { get; set; }

    public bool Comped { get; set; }

    public string? OverridePlanId { get; set; }

    public long Version { get; set; }

    /// <summary>A downgrade scheduled for the end of the period (<c>POST /billing/subscription/change</c>): the plan the
    /// subscription moves to at <see cref="PendingPlanEffectiveAt"/>; null when none is pending. Applied by
    /// <c>PendingPlanChangeJob</c>; cleared by an upgrade, a cancel or <c>DELETE /billing/subscription/change</c>.</summary>
    public string? PendingPlanId { get; set; }

    /// <summary>When <see cref="PendingPlanId"/> takes effect (UTC): the subscription's current_period_end when it was scheduled.</summary>
    public DateTimeOffset? PendingPlanEffectiveAt { get; set; }

    /// <summary><c>created</c> of the newest applied Stripe event of the subscription, whole seconds as Stripe stamps it (order
    /// safety; never our own clock: see <see cref="LastStripeReadAt"/> and <c>Subscriptions/SubscriptionOrder</c>).</summary>
    public DateTimeOffset? LastStripeEventCreated { get; set; }

    /// <summary>When we last applied Stripe's subscription object as we read it ourselves (a webhook's re-read, a plan change
    /// through our API, reconciliation), our clock, sub-second; null when never.</summary>
    public DateTimeOffset? LastStripeReadAt { get; set; }

    /// <summary>The subscription whose payment collection Stripe has paused for us (<c>pause_collection[behavior]=void</c>, set while
    /// the tenant is suspended; <c>Tenants/CollectionPause</c>); null when none is, as far as Stripe last answered us.</summary>
    public string? CollectionPausedSubscriptionId { get; set; }

    /// <summary>When a suspend or resume asked Stripe to pause or resume collection and Stripe has not confirmed it yet (retried by
    /// <c>CollectionPauseJob</c>; part of the idempotency key); null when Stripe is in step.</summary>
    public DateTimeOffset? CollectionChangeRequestedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>
/// Table <c>stripe_events</c>: every verified, parseable webhook event; <see cref="EventId"/> is the idempotency key. Stored
/// <see cref="Pending"/> by the webhook endpoint, then processed by <c>StripeEventProcessor</c>.
/// </summary>
internal sealed class StripeEventRecord
{
    public const string Pending = "pending";
    public const string Processed = "processed";
    public const string Failed = "failed";

    public required string EventId { get; set; }

    public required string Type { get; set; }

    public DateTimeOffset StripeCreated { get; set; }

    public DateTimeOffset ReceivedAt { get; set; }

    /// <summary>The raw body (jsonb).</summary>
    public required string Payload { get; set; }

    /// <summary><see cref="Pending"/> (waiting or retrying), <see cref="Processed"/> (see <see cref="Outcome"/>) or <see cref="Failed"/> (gave up after the maximum attempts; see <see cref="LastError"/>; an operator may retry it).</summary>
    public string Status { get; set; } = Pending;

    /// <summary>Once processed: applied | ignored_stale | ignored_unhandled | rejected: reason; null while pending or failed.</summary>
    public string? Outcome { get; set; }

    /// <summary>The tenant the event concerns, when known at receipt (metadata, or the stored customer/subscription id); events of one tenant are processed in <see cref="StripeCreated"/> order.</summary>
    public string? TenantId { get; set; }

    public string? Environment { get; set; }

    /// <summary>Processing attempts so far (failed ones and the successful one).</summary>
    public int Attempts { get; set; }

    /// <summary>When the processor may take the event next (UTC); receipt time at first, later receipt + backoff.</summary>
    public DateTimeOffset NextAttemptAt { get; set; }

    /// <summary>The last processing error (exception type and message; no secrets), or null.</summary>
    public string? LastError { get; set; }

    public DateTimeOffset? ProcessedAt { get; set; }

    /// <summary>How many times Stripe delivered this event (1 + duplicates).</summary>
    public int Deliveries { get; set; } = 1;

    /// <summary>W3C traceparent of the delivery's request span, so processing joins the delivery's trace; null when untraced.</summary>
    public string? TraceParent { get; set; }
}

/// <summary>Table <c>reconciliation_runs</c>: one comparison of Stripe's subscriptions with our entitlement rows, with its drift counts.</summary>
internal sealed class ReconciliationRun
{
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";

    public long Id { get; set; }

    /// <summary>"scheduled" or "operator:&lt;sub&gt;".</summary>
    public required string Trigger { get; set; }

    /// <summary>The one tenant checked, or null for all tenants.</summary>
    public string? TenantId { get; set; }

    /// <summary><see cref="Running"/>, <see cref="Completed"/> or <see cref="Failed"/>.</summary>
    public required string Status { get; set; }

    public DateTimeOffset StartedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }

    /// <summary>Entitlement rows compared.</summary>
    public int Checked { get; set; }

    /// <summary>Mismatches found (rows of <c>reconciliation_mismatches</c>).</summary>
    public int MismatchCount { get; set; }

    /// <summary>Entitlement rows repaired from Stripe's object.</summary>
    public int Repaired { get; set; }

    /// <summary>Drift counts by field as JSON (jsonb), e.g. <c>{"status": 1, "plan": 1}</c>.</summary>
    public string DriftCounts { get; set; } = "{}";

    public string? Error { get; set; }
}

/// <summary>Table <c>reconciliation_mismatches</c>: one field of one entitlement row that differed from Stripe in a run.</summary>
internal sealed class ReconciliationMismatch
{
    public long Id { get; set; }

    public long RunId { get; set; }

    public required string TenantId { get; set; }

    public required string Environment { get; set; }

    /// <summary>The Stripe subscription compared (sub_...), or null when none was found.</summary>
    public string? SubscriptionId { get; set; }

    /// <summary>status | plan | current_period_start | current_period_end | cancel_at_period_end | subscription_id | missing_in_stripe | unknown_price.</summary>
    public required string Field { get; set; }

    /// <summary>Our value (as text; null = none).</summary>
    public string? OurValue { get; set; }

    /// <summary>Stripe's value (as text; null = none).</summary>
    public string? StripeValue { get; set; }

    /// <summary>repaired (our row now follows Stripe) or reported (left for an operator).</summary>
    public required string Action { get; set; }
}

/// <summary>Table <c>outbox_messages</c>: "(tenant, environment) changed, publish its snapshot"; written in the changing transaction.</summary>
internal sealed class OutboxMessage
{
    public long Id { get; set; }

    public required string TenantId { get; set; }

    public required string Environment { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? PublishedAt { get; set; }

    public int Attempts { get; set; }

    /// <summary>W3C traceparent of the span that changed the entitlement: the publish, and the sidecar's apply, join its trace.</summary>
    public string? TraceParent { get; set; }
}

/// <summary>Table <c>audit_entries</c>: who changed what, with before/after JSON (jsonb) and the cause (event id or operator).</summary>
internal sealed class AuditEntry
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

/// <summary>
/// Table <c>invoices</c>: Stripe invoices of a tenant as the <c>invoice.*</c> webhooks last showed them (Stripe's Invoice object):
/// amounts in the currency's minor unit, Stripe's hosted page and PDF links. <see cref="LastEventCreated"/> keeps the newest event
/// applied, so an older event never overwrites a newer state.
/// </summary>
internal sealed class InvoiceRecord
{
    /// <summary><c>in_...</c>.</summary>
    public required string InvoiceId { get; set; }

    public required string TenantId { get; set; }

    public required string Environment { get; set; }

    public string? SubscriptionId { get; set; }

    /// <summary>Stripe's invoice number (e.g. "ABC123-0001"), set once finalized.</summary>
    public string? Number { get; set; }

    /// <summary>draft, open, paid, uncollectible or void.</summary>
    public required string Status { get; set; }

    public required string Currency { get; set; }

    public long Total { get; set; }

    public long AmountDue { get; set; }

    public long AmountPaid { get; set; }

    public long AmountRemaining { get; set; }

    public DateTimeOffset? PeriodStart { get; set; }

    public DateTimeOffset? PeriodEnd { get; set; }

    public DateTimeOffset? DueDate { get; set; }

    public string? HostedInvoiceUrl { get; set; }

    public string? InvoicePdf { get; set; }

    public DateTimeOffset StripeCreated { get; set; }

    public DateTimeOffset LastEventCreated { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>Table <c>notice_endpoints</c>: where a tenant receives its notices (signed webhooks) and the secret they are signed with.</summary>
internal sealed class NoticeEndpoint
{
    public required string TenantId { get; set; }

    /// <summary>Absolute https URL (http only on loopback).</summary>
    public required string Url { get; set; }

    /// <summary>The signing secret ("nsec_" + 32 hex chars), shown to the owner once, never logged.</summary>
    public required string Secret { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>
/// Table <c>notices</c>: a notice to a tenant (trial ending, payment failed, suspended, ...), rendered from a versioned template
/// when the change that causes it is written (same transaction), then delivered by the notice dispatcher with retries.
/// </summary>
internal sealed class Notice
{
    public const string Pending = "pending";
    public const string Delivered = "delivered";
    public const string Failed = "failed";

    /// <summary>Stored but not sent: the tenant has no notice endpoint (it can still read it at GET /billing/notices).</summary>
    public const string NoEndpoint = "no_endpoint";

    public long Id { get; set; }

    public required string TenantId { get; set; }

    public string? Environment { get; set; }

    /// <summary>trial_ending, payment_failed, suspended, reactivated, canceled, plan_changed.</summary>
    public required string Kind { get; set; }

    public required string TemplateVersion { get; set; }

    public required string Subject { get; set; }

    public required string Body { get; set; }

    /// <summary>The facts the template was rendered from (jsonb).</summary>
    public required string Data { get; set; }

    /// <summary>The audit cause of the change that raised it.</summary>
    public required string Cause { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public string Status { get; set; } = Pending;

    public int Attempts { get; set; }

    public DateTimeOffset NextAttemptAt { get; set; }

    public DateTimeOffset? DeliveredAt { get; set; }

    public string? LastError { get; set; }
}

/// <summary>Table <c>notice_deliveries</c>: one delivery attempt of a notice (the delivery log).</summary>
internal sealed class NoticeDelivery
{
    public long Id { get; set; }

    public long NoticeId { get; set; }

    public int Attempt { get; set; }

    public DateTimeOffset At { get; set; }

    public required string Url { get; set; }

    /// <summary>The endpoint's HTTP status, or null when it did not answer.</summary>
    public int? StatusCode { get; set; }

    public string? Error { get; set; }

    public long DurationMs { get; set; }
}

/// <summary>
/// Table <c>owner_transfers</c>: the billing owner handing ownership to an admin of the same tenant. Requested by the owner,
/// accepted by the admin (the confirmations of both); expires unaccepted after a day.
/// </summary>
internal sealed class OwnerTransfer
{
    public const string Pending = "pending";
    public const string Accepted = "accepted";
    public const string Canceled = "canceled";

    /// <summary>"otr_" + 24 hex chars.</summary>
    public required string Id { get; set; }

    public required string TenantId { get; set; }

    public required string FromSubject { get; set; }

    public required string ToSubject { get; set; }

    public DateTimeOffset RequestedAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }

    public string Status { get; set; } = Pending;

    public DateTimeOffset? DecidedAt { get; set; }
}
