using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.ControlPlane.Tenants;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Stripe;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Billing;

/// <summary>Result of <see cref="StripeWebhookProcessor.ProcessAsync"/>: a problem (400) or an acknowledged event.</summary>
public sealed record WebhookResult(ProblemHttpResult? Problem, bool Duplicate, string? Outcome);

/// <summary>
/// Applies one Stripe webhook delivery. Order: verify the signature on the raw bytes (bad → 400, security log, nothing stored);
/// parse (bad → 400); then in ONE transaction insert <c>stripe_events</c> (the primary key on event_id is the idempotency key:
/// a duplicate fails with 23505 and is acknowledged as duplicate with nothing else changed) together with the entitlement change,
/// its audit entry and outbox row. Handled types: checkout.session.completed and customer.subscription.created/updated/deleted.
/// Order safety: a subscription event older than the row's last applied one is ignored_stale; a canceled subscription is never
/// revived by a later-delivered event of the same subscription id.
/// </summary>
public sealed partial class StripeWebhookProcessor(
    WebhookSignatureVerifier verifier,
    EntitlementsDbContext db,
    PlanCatalog catalog,
    OutboxSignal signal,
    TimeProvider time,
    ILogger<StripeWebhookProcessor> logger)
{
    public const string Applied = "applied";
    public const string IgnoredStale = "ignored_stale";
    public const string IgnoredUnhandled = "ignored_unhandled";

    public async Task<WebhookResult> ProcessAsync(byte[] body, string? signatureHeader, CancellationToken ct)
    {
        var check = verifier.Verify(body, signatureHeader);
        if (check != SignatureCheckResult.Valid)
        {
            LogSignatureRejected(logger, check);
            return new WebhookResult(
                TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid Stripe signature", detail: $"Stripe-Signature check failed: {check}."),
                false, null);
        }

        StripeEvent stripeEvent;
        try
        {
            stripeEvent = StripeEventParser.Parse(body);
        }
        catch (StripeEventFormatException e)
        {
            LogUnparseable(logger, e.Field ?? "(body)");
            return new WebhookResult(
                TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Not a Stripe event", detail: e.Message),
                false, null);
        }

        var now = time.GetUtcNow();
        var record = new StripeEventRecord
        {
            EventId = stripeEvent.Id,
            Type = stripeEvent.Type,
            StripeCreated = stripeEvent.Created,
            ReceivedAt = now,
            Payload = System.Text.Encoding.UTF8.GetString(body),
            Outcome = IgnoredUnhandled,
        };

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var changed = false;
        if (StripeSubscriptionEvents.HandledTypes.Contains(stripeEvent.Type))
        {
            var read = StripeSubscriptionEvents.Read(stripeEvent);
            if (!read.Succeeded)
            {
                record.Outcome = $"rejected: {read.Error}";
                LogEventRejected(logger, stripeEvent.Id, record.Outcome);
            }
            else
            {
                record.TenantId = read.Update.TenantId;
                record.Environment = read.Update.Environment;
                (record.Outcome, changed) = await ApplyAsync(read.Update, now, ct);
                if (record.Outcome.StartsWith("rejected", StringComparison.Ordinal))
                {
                    LogEventRejected(logger, stripeEvent.Id, record.Outcome);
                }
            }
        }

        db.StripeEvents.Add(record);
        try
        {
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
        }
        catch (DbUpdateException e) when (e.IsUniqueViolation())
        {
            await tx.RollbackAsync(CancellationToken.None);
            LogDuplicate(logger, stripeEvent.Id);
            return new WebhookResult(null, true, null);
        }

        if (changed)
        {
            signal.Notify();
        }

        LogEventProcessed(logger, stripeEvent.Id, stripeEvent.Type, record.Outcome);
        return new WebhookResult(null, false, record.Outcome);
    }

    /// <summary>Applies a read update to the locked entitlement row (not saved). Returns the outcome and whether the row changed.</summary>
    private async Task<(string Outcome, bool Changed)> ApplyAsync(SubscriptionUpdate update, DateTimeOffset now, CancellationToken ct)
    {
        if (!Identifiers.IsTenantId(update.TenantId) || !Identifiers.IsEnvironment(update.Environment))
        {
            return ("rejected: unknown tenant", false);
        }

        var row = await db.LockEntitlementAsync(update.TenantId, update.Environment, ct);
        if (row is null)
        {
            var tenantExists = await db.Tenants.AnyAsync(t => t.TenantId == update.TenantId, ct);
            return (tenantExists ? $"rejected: unknown environment {update.Environment}" : "rejected: unknown tenant", false);
        }

        var before = AuditLog.View(row);
        if (update.EventType == StripeSubscriptionEvents.CheckoutSessionCompleted)
        {
            ApplyCheckout(row, update);
        }
        else
        {
            if (row.LastStripeEventCreated is { } last && update.EventCreated < last)
            {
                return (IgnoredStale, false);
            }

            if (row.StripeStatus == "canceled" && update.SubscriptionId is not null
                && string.Equals(row.StripeSubscriptionId, update.SubscriptionId, StringComparison.Ordinal) && update.Status != "canceled")
            {
                // canceled is terminal for a Stripe subscription: a later-delivered event of it must not revive it.
                return (IgnoredStale, false);
            }

            string? planId = null;
            foreach (var price in update.PriceIds)
            {
                if (catalog.TryGetPlanByPrice(price, out var plan))
                {
                    planId = plan.Id;
                    break;
                }
            }

            if (planId is null && update.PriceIds.Count > 0)
            {
                return ($"rejected: unknown price {update.PriceIds[0]}", false);
            }

            row.PlanId = planId ?? row.PlanId;
            row.StripeStatus = update.Status;
            row.StripeSubscriptionId = update.SubscriptionId ?? row.StripeSubscriptionId;
            row.StripeCustomerId = update.CustomerId ?? row.StripeCustomerId;
            row.CurrentPeriodEnd = update.CurrentPeriodEnd;
            row.CancelAtPeriodEnd = update.CancelAtPeriodEnd;
            row.LastStripeEventCreated = update.EventCreated;
        }

        var after = AuditLog.View(row);
        if (after.SameStateAs(before))
        {
            row.UpdatedAt = now;
            return (Applied, false);
        }

        EntitlementChanges.Bump(db, row, now);
        AuditLog.Add(db, row.TenantId, row.Environment, now, "stripe", update.EventType, before, AuditLog.View(row), update.EventId);
        return (Applied, true);
    }

    /// <summary>
    /// checkout.session.completed links the customer and subscription ids and, when the row has no plan yet, takes metadata.plan_id
    /// (if the catalog has it). It sets no status (the subscription events carry it) and does not move last_stripe_event_created,
    /// so the subscription.created of the same checkout is never judged stale against it.
    /// </summary>
    private void ApplyCheckout(Entitlement row, SubscriptionUpdate update)
    {
        row.StripeCustomerId = update.CustomerId ?? row.StripeCustomerId;
        if (update.SubscriptionId is not null && !string.Equals(row.StripeSubscriptionId, update.SubscriptionId, StringComparison.Ordinal))
        {
            if (row.StripeStatus == "canceled")
            {
                // the canceled status belonged to the previous subscription; the new one's events will set its status.
                row.StripeStatus = null;
            }

            row.StripeSubscriptionId = update.SubscriptionId;
        }

        if (row.PlanId is null && update.PlanIdFromMetadata is { } planId && catalog.TryGetPlan(planId, out _))
        {
            row.PlanId = planId;
        }
    }

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "Stripe webhook signature rejected: {Reason}")]
    private static partial void LogSignatureRejected(ILogger logger, SignatureCheckResult reason);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Stripe webhook body is not a Stripe event (field {Field})")]
    private static partial void LogUnparseable(ILogger logger, string field);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "Stripe event {EventId} rejected: {Outcome}")]
    private static partial void LogEventRejected(ILogger logger, string eventId, string outcome);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "Stripe event {EventId} already received; acknowledged as duplicate")]
    private static partial void LogDuplicate(ILogger logger, string eventId);

    [LoggerMessage(EventId = 1005, Level = LogLevel.Information, Message = "Stripe event {EventId} ({Type}): {Outcome}")]
    private static partial void LogEventProcessed(ILogger logger, string eventId, string type, string outcome);
}
