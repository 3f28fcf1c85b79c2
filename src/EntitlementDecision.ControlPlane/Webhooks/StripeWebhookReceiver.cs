using Stripe;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Tenants;
using EntitlementDecision.Stripe;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using EntitlementDecision.Engine;

namespace EntitlementDecision.ControlPlane.Webhooks;

/// <summary>Result of <see cref="StripeWebhookReceiver.ReceiveAsync"/>: a problem (400) or an acknowledged event.</summary>
internal sealed record WebhookResult(ProblemHttpResult? Problem, bool Duplicate, string? EventId);

/// <summary>
/// The request half of a Stripe webhook delivery. Order: verify the signature on the raw bytes (bad → 400, security log, nothing
/// stored); parse (bad → 400); then ONE statement stores the event as <c>pending</c> under its id (the primary key is the
/// idempotency key: <c>INSERT ... ON CONFLICT (event_id) DO UPDATE SET deliveries = deliveries + 1</c>, so a redelivery is
/// acknowledged as a duplicate and only counted). The answer (200) goes out once that statement committed; the
/// <see cref="StripeEventProcessor"/> applies the event afterwards. The tenant is noted at receipt when the event names it
/// (metadata, client_reference_id, or a stored subscription/customer id), so the processor can keep each tenant's events in order.
/// </summary>
internal sealed partial class StripeWebhookReceiver(
    WebhookSignatureVerifier verifier,
    EntitlementsDbContext db,
    StripeEventSignal signal,
    ParsedEventCache parsed,
    WebhookMetrics metrics,
    TimeProvider time,
    ILogger<StripeWebhookReceiver> logger)
{
    public async Task<WebhookResult> ReceiveAsync(byte[] body, string? signatureHeader, CancellationToken ct)
    {
        var check = verifier.Verify(body, signatureHeader);
        if (check != SignatureCheckResult.Valid)
        {
            metrics.RejectedSignature();
            LogSignatureRejected(logger, check);
            return new WebhookResult(
                TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid Stripe signature", detail: $"Stripe-Signature check failed: {check}."),
                false, null);
        }

        metrics.Verified();
        Event stripeEvent;
        string payload;
        try
        {
            payload = StripeWebhookEvents.Utf8(body);
            stripeEvent = StripeWebhookEvents.Parse(payload);
        }
        catch (StripeEventFormatException e)
        {
            metrics.RejectedParse();
            LogUnparseable(logger, e.Field ?? "(body)");
            return new WebhookResult(
                TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Not a Stripe event", detail: e.Message),
                false, null);
        }

        var (tenantId, environment) = await TenantOfAsync(stripeEvent, ct);
        var now = time.GetUtcNow();
        var inserted = await db.Database.SqlQuery<bool>($"""
            INSERT INTO stripe_events (event_id, type, stripe_created, received_at, payload, status, tenant_id, environment, attempts, next_attempt_at, deliveries, trace_parent)
            VALUES ({stripeEvent.Id}, {stripeEvent.Type}, {stripeEvent.CreatedAt()}, {now}, {payload}::jsonb, {StripeEventRecord.Pending}, {tenantId}, {environment}, 0, {now}, 1, {Telemetry.TelemetrySetup.CurrentTraceParent()})
            ON CONFLICT (event_id) DO UPDATE SET deliveries = stripe_events.deliveries + 1
            RETURNING (xmax = 0) AS "Value"
            """).ToListAsync(ct);
        if (!inserted[0])
        {
            metrics.Duplicate();
            LogDuplicate(logger, stripeEvent.Id);
            return new WebhookResult(null, true, stripeEvent.Id);
        }

        metrics.Stored();
        parsed.Add(stripeEvent.Id, stripeEvent);
        signal.Notify();
        LogStored(logger, stripeEvent.Id, stripeEvent.Type, tenantId ?? "(unknown)");
        return new WebhookResult(null, false, stripeEvent.Id);
    }

    /// <summary>The tenant and environment an event concerns, when the event or our stored ids say; (null, null) otherwise.</summary>
    private async Task<(string? TenantId, string? Environment)> TenantOfAsync(Event e, CancellationToken ct)
    {
        string? tenant = null, environment = null, subscriptionId = null, customerId = null;
        if (StripeSubscriptionEvents.HandledTypes.Contains(e.Type))
        {
            var read = StripeSubscriptionEvents.Read(e);
            if (read.Succeeded)
            {
                (tenant, environment) = (read.Update.TenantId, read.Update.Environment);
            }
        }
        else if (e.Type == StripeInvoiceEvents.TrialWillEnd)
        {
            var (trial, _) = StripeInvoiceEvents.ReadTrialWillEnd(e);
            (tenant, environment) = (trial?.Subscription.TenantId, trial?.Subscription.Environment);
        }
        else if (StripeInvoiceEvents.InvoiceTypes.Contains(e.Type))
        {
            var (invoice, _) = StripeInvoiceEvents.ReadInvoice(e);
            (tenant, environment, subscriptionId, customerId) = (invoice?.TenantId, invoice?.Environment ?? (invoice?.TenantId is null ? null : Identifiers.DefaultEnvironment), invoice?.SubscriptionId, invoice?.CustomerId);
        }

        if (tenant is null && (subscriptionId is not null || customerId is not null))
        {
            var row = await db.Entitlements.AsNoTracking()
                .Where(x => (subscriptionId != null && x.StripeSubscriptionId == subscriptionId) || (customerId != null && x.StripeCustomerId == customerId))
                .OrderByDescending(x => x.StripeSubscriptionId == subscriptionId)
                .Select(x => new { x.TenantId, x.Environment })
                .FirstOrDefaultAsync(ct);
            (tenant, environment) = (row?.TenantId, row?.Environment);
        }

        return Identifiers.IsTenantId(tenant) && Identifiers.IsEnvironment(environment) ? (tenant, environment) : (null, null);
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "Stripe webhook signature rejected: {Reason}")]
    private static partial void LogSignatureRejected(ILogger logger, SignatureCheckResult reason);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Stripe webhook body is not a Stripe event (field {Field})")]
    private static partial void LogUnparseable(ILogger logger, string field);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "Stripe event {EventId} already received; acknowledged as duplicate")]
    private static partial void LogDuplicate(ILogger logger, string eventId);

    [LoggerMessage(EventId = 1006, Level = LogLevel.Information, Message = "Stripe event {EventId} ({Type}) stored for processing (tenant {TenantId})")]
    private static partial void LogStored(ILogger logger, string eventId, string type, string tenantId);
}

/// <summary>In-process wake-up of <see cref="StripeEventProcessor"/> after an event was stored or put back for retry; coalesces.</summary>
internal sealed class StripeEventSignal : Background.WakeSignal;
