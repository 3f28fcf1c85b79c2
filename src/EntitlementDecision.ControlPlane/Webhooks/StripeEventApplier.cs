using Stripe;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Tenants;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Stripe;
using EntitlementDecision.Stripe.Api;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using EntitlementDecision.ControlPlane.Configuration;
using EntitlementDecision.ControlPlane.Subscriptions;
using EntitlementDecision.Engine;

namespace EntitlementDecision.ControlPlane.Webhooks;

/// <summary>Processing could not finish and should be retried (Stripe's API failed, or Stripe does not know the subscription).</summary>
internal sealed class StripeEventRetryException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Applies one stored Stripe event inside the caller's transaction (not saved), for <see cref="StripeEventProcessor"/>:
/// re-reads the subscription from Stripe (payload with the order check when Stripe stays unreachable), then hands the state
/// to <see cref="SubscriptionSync"/>; invoices drive dunning. The rules: README, "Behaviour worth knowing".
/// </summary>
internal sealed partial class StripeEventApplier(
    EntitlementsDbContext db,
    PlanCatalog catalog,
    SubscriptionSync sync,
    IStripeBilling stripe,
    ParsedEventCache parsed,
    IOptions<BillingOptions> options,
    TimeProvider time,
    ILogger<StripeEventApplier> logger)
{
    public const string IgnoredUnhandled = "ignored_unhandled";

    /// <summary>Longest wait for Stripe's answer to one re-read (the client's own retries included); beyond it the attempt counts as Stripe unreachable.</summary>
    public static readonly TimeSpan RereadTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Actor of changes made by webhooks.</summary>
    public const string StripeActor = "stripe";

    private BillingOptions Options => options.Value;

    // Entitlement rows a batch locked up front (LockAllAsync); LockAsync takes a row from here instead of querying it again.
    private readonly Dictionary<(string TenantId, string Environment), Entitlement> _locked = new();

    /// <summary>
    /// Locks, in one statement and in key order, the entitlement rows of <paramref name="keys"/> (a batch's events, each of another
    /// tenant), for the <see cref="ApplyAsync"/> calls that follow in the same transaction. Pairs without a row are skipped (their
    /// events are rejected as before). Only while re-reading is off: the locks are held until the batch commits.
    /// </summary>
    public async Task LockAllAsync(IReadOnlyCollection<(string TenantId, string Environment)> keys, CancellationToken ct)
    {
        if (keys.Count == 0)
        {
            return;
        }

        var tenants = keys.Select(k => k.TenantId).ToArray();
        var environments = keys.Select(k => k.Environment).ToArray();
        var rows = await db.Entitlements.FromSql($"""
            SELECT e.* FROM entitlements e
            JOIN unnest({tenants}::text[], {environments}::text[]) AS k(tenant_id, environment)
              ON e.tenant_id = k.tenant_id AND e.environment = k.environment
            ORDER BY e.tenant_id, e.environment
            FOR UPDATE OF e
            """).ToListAsync(ct);
        foreach (var row in rows)
        {
            _locked[(row.TenantId, row.Environment)] = row;
        }
    }

    /// <summary>Forgets the rows of <see cref="LockAllAsync"/> (after the batch's transaction ended).</summary>
    public void ForgetLocked() => _locked.Clear();

    /// <summary>
    /// Applies <paramref name="record"/> (its <see cref="StripeEventRecord.Attempts"/> already counts this attempt).
    /// Returns the outcome; throws <see cref="StripeEventRetryException"/> (or any database error) when the attempt should be retried.
    /// </summary>
    public async Task<ApplyResult> ApplyAsync(StripeEventRecord record, CancellationToken ct)
    {
        Event e;
        try
        {
            // The receiver's parse of this very payload when this instance received it; else the stored payload.
            e = parsed.Take(record.EventId) ?? StripeWebhookEvents.Parse(record.Payload);
        }
        catch (StripeEventFormatException ex)
        {
            return new ApplyResult($"rejected: {ex.Message}", false);
        }

        switch (e.Type)
        {
            case StripeSubscriptionEvents.CheckoutSessionCompleted:
                return await ApplyCheckoutAsync(e, ct);
            case StripeSubscriptionEvents.SubscriptionCreated or StripeSubscriptionEvents.SubscriptionUpdated or StripeSubscriptionEvents.SubscriptionDeleted:
            {
                var read = StripeSubscriptionEvents.Read(e);
                return read.Succeeded ? await ApplySubscriptionEventAsync(read.Update, record, null, ct) : new ApplyResult($"rejected: {read.Error}", false);
            }

            case StripeInvoiceEvents.TrialWillEnd:
            {
                var (trial, error) = StripeInvoiceEvents.ReadTrialWillEnd(e);
                return trial is null ? new ApplyResult($"rejected: {error}", false) : await ApplySubscriptionEventAsync(trial.Subscription, record, trial.TrialEnd, ct);
            }

            case StripeInvoiceEvents.PaymentFailed or StripeInvoiceEvents.Paid:
            {
                var (invoice, error) = StripeInvoiceEvents.ReadInvoice(e);
                if (invoice is not null && record.TenantId is { } invoiceTenant && e.Data.Object is global::Stripe.Invoice stripeInvoice)
                {
                    // The invoice itself, for GET /billing/invoices, whatever the event does to dunning (saved with the event's outcome).
                    await Invoices.InvoiceStore.TrackAsync(db, stripeInvoice, invoiceTenant, record.Environment ?? Engine.Identifiers.DefaultEnvironment,
                        invoice.SubscriptionId, invoice.EventCreated, time.GetUtcNow(), ct);
                }

                return invoice is null ? new ApplyResult($"rejected: {error}", false) : await ApplyInvoiceAsync(invoice, record, ct);
            }

            default:
                return new ApplyResult(IgnoredUnhandled, false);
        }
    }

    private async Task<ApplyResult> ApplySubscriptionEventAsync(SubscriptionUpdate payload, StripeEventRecord record, DateTimeOffset? trialEnd, CancellationToken ct)
    {
        if (!Identifiers.IsTenantId(payload.TenantId) || !Identifiers.IsEnvironment(payload.Environment))
        {
            return new ApplyResult("rejected: unknown tenant", false);
        }

        // Stripe first, then the row lock: the lock is never held across an HTTP call.
        var (update, fromStripe, error) = await CurrentStateAsync(payload.SubscriptionId, payload, record, ct);
        if (error is not null)
        {
            return new ApplyResult(error, false);
        }

        var row = await LockAsync(payload.TenantId, payload.Environment, ct);
        if (row.Error is not null)
        {
            return new ApplyResult(row.Error, false);
        }

        var now = time.GetUtcNow();
        var result = sync.Apply(row.Row!, update!, fromStripe, record.StripeCreated, StripeActor, record.Type, record.EventId, now);
        if (trialEnd is not null || record.Type == StripeInvoiceEvents.TrialWillEnd)
        {
            AuditLog.Add(db, row.Row!.TenantId, row.Row.Environment, now, StripeActor, "trial.reminder", null,
                new { SubscriptionId = payload.SubscriptionId, TrialEnd = trialEnd, Status = row.Row.StripeStatus }, record.EventId);
        }

        return result;
    }

    private async Task<ApplyResult> ApplyInvoiceAsync(InvoiceUpdate invoice, StripeEventRecord record, CancellationToken ct)
    {
        if (record.TenantId is null || record.Environment is null)
        {
            return new ApplyResult($"rejected: no tenant for invoice {invoice.InvoiceId} (no metadata.tenant_id and no entitlement with its subscription or customer)", false);
        }

        // Stripe's current subscription first (its status decides whether dunning runs; read before the row lock), then the invoice's own facts.
        var (update, fromStripe, error) = invoice.SubscriptionId is null ? (null, false, null) : await CurrentStateAsync(invoice.SubscriptionId, null, record, ct);
        if (error is not null)
        {
            return new ApplyResult(error, false);
        }

        var locked = await LockAsync(record.TenantId, record.Environment, ct);
        if (locked.Error is not null)
        {
            return new ApplyResult(locked.Error, false);
        }

        var row = locked.Row!;
        var now = time.GetUtcNow();
        if (invoice.SubscriptionId is not null && row.StripeSubscriptionId is not null
            && !string.Equals(invoice.SubscriptionId, row.StripeSubscriptionId, StringComparison.Ordinal))
        {
            return new ApplyResult(SubscriptionSync.IgnoredOtherSubscription, false);
        }

        var refreshed = false;
        var changed = false;
        if (update is not null)
        {
            var applied = sync.Apply(row, update, fromStripe, invoice.EventCreated, StripeActor, record.Type, record.EventId, now);
            if (applied.Outcome.StartsWith("rejected", StringComparison.Ordinal))
            {
                return applied;
            }

            changed = applied.Changed;
            refreshed = fromStripe;
        }

        if (row.LastInvoiceEventCreated is { } lastInvoice && invoice.EventCreated < lastInvoice)
        {
            return new ApplyResult(changed ? SubscriptionSync.Applied : SubscriptionSync.IgnoredStale, changed);
        }

        var before = AuditLog.View(row);
        row.LastInvoiceEventCreated = invoice.EventCreated;
        // A subscription state newer than the invoice event wins over it (payload mode); a re-read state is always newer.
        var newerState = refreshed || (row.LastStripeEventCreated is { } lastState && lastState > invoice.EventCreated);
        if (invoice.EventType == StripeInvoiceEvents.Paid)
        {
            if (!(newerState && SubscriptionSync.InDunning(row.StripeStatus)))
            {
                row.DunningStartedAt = null;
                row.DunningAttempts = 0;
            }
        }
        else if (!newerState || SubscriptionSync.InDunning(row.StripeStatus))
        {
            // Stripe's object (when re-read) says the subscription is still unpaid; from the payload alone, the invoice says so.
            row.DunningStartedAt = row.DunningStartedAt is { } started && started < invoice.EventCreated ? started : invoice.EventCreated;
            row.DunningAttempts = Math.Max(row.DunningAttempts, invoice.AttemptCount);
            var graceEndsAt = row.DunningStartedAt.Value.AddDays(Options.FullAccessDays);
            if (now < graceEndsAt)
            {
                AuditLog.Add(db, row.TenantId, row.Environment, now, StripeActor, "dunning.reminder", null,
                    new { InvoiceId = invoice.InvoiceId, AttemptCount = invoice.AttemptCount, invoice.NextPaymentAttempt, GraceEndsAt = graceEndsAt,
                          ReadOnlyFrom = graceEndsAt, SuspendAt = row.DunningStartedAt.Value.AddDays(Options.ReadOnlyDays) },
                    record.EventId);
            }
        }

        var result = sync.Finish(row, before, StripeActor, record.Type, record.EventId, now);
        return new ApplyResult(SubscriptionSync.Applied, changed || result.Changed);
    }

    /// <summary>checkout.session.completed links the customer and subscription ids and, when the row has no plan yet, takes metadata.plan_id.</summary>
    private async Task<ApplyResult> ApplyCheckoutAsync(Event e, CancellationToken ct)
    {
        var read = StripeSubscriptionEvents.Read(e);
        if (!read.Succeeded)
        {
            return new ApplyResult($"rejected: {read.Error}", false);
        }

        var update = read.Update;
        var locked = await LockAsync(update.TenantId, update.Environment, ct);
        if (locked.Error is not null)
        {
            return new ApplyResult(locked.Error, false);
        }

        var row = locked.Row!;
        var before = AuditLog.View(row);
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

        return sync.Finish(row, before, StripeActor, e.Type, e.Id, time.GetUtcNow());
    }

    /// <summary>
    /// The subscription state to apply: Stripe's current object when re-reading is on (fromStripe = true), else the payload.
    /// Returns an error outcome for a permanent problem; throws <see cref="StripeEventRetryException"/> to retry.
    /// </summary>
    private async Task<(SubscriptionUpdate? Update, bool FromStripe, string? Error)> CurrentStateAsync(
        string? subscriptionId, SubscriptionUpdate? payload, StripeEventRecord record, CancellationToken ct)
    {
        if (!Options.Reread || subscriptionId is null)
        {
            return (payload, false, null);
        }

        Subscription? subscription;
        try
        {
            // Bounded: the event row stays locked meanwhile, and with re-reading on the processor takes one event per transaction.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(RereadTimeout);
            try
            {
                subscription = await stripe.GetSubscriptionAsync(subscriptionId, timeout.Token);
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
            {
                throw StripeErrors.ConnectionError($"no answer within {RereadTimeout.TotalSeconds} s", e);
            }
        }
        catch (StripeException ex) when (IsUnreachable(ex))
        {
            if (record.Attempts >= Options.PayloadFallbackAfter)
            {
                LogPayloadFallback(logger, record.EventId, record.Attempts, ex.Status() ?? 0);
                return (payload, false, null);
            }

            throw new StripeEventRetryException($"Stripe API unavailable retrieving {subscriptionId}: {ex.Status()?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? ex.StripeError?.Type} {ex.Message}", ex);
        }
        catch (StripeException ex)
        {
            throw new StripeEventRetryException($"Stripe API error retrieving {subscriptionId}: {ex.Status()} {ex.StripeError?.Type}/{ex.StripeError?.Code}: {ex.Message}", ex);
        }

        if (subscription is null)
        {
            throw new StripeEventRetryException($"Stripe does not know subscription {subscriptionId} (404): is STRIPE_API_KEY of the account that sends these webhooks?");
        }

        var read = StripeSubscriptionMapper.FromRetrieved(subscription, time.GetUtcNow());
        if (!read.Succeeded)
        {
            return (null, true, $"rejected: Stripe's subscription {subscriptionId}: {read.Error}");
        }

        var current = read.Update;
        if (payload is not null && (current.TenantId != payload.TenantId || current.Environment != payload.Environment))
        {
            return (null, true, $"rejected: Stripe's subscription {subscriptionId} belongs to {current.TenantId}/{current.Environment}, the event says {payload.TenantId}/{payload.Environment}");
        }

        return (current, true, null);
    }

    /// <summary>Network errors, timeouts, 429 and 5xx: Stripe could not answer now.</summary>
    internal static bool IsUnreachable(StripeException e) => e.IsTransient();

    private async Task<(Entitlement? Row, string? Error)> LockAsync(string tenantId, string environment, CancellationToken ct)
    {
        if (!Identifiers.IsTenantId(tenantId) || !Identifiers.IsEnvironment(environment))
        {
            return (null, "rejected: unknown tenant");
        }

        var row = _locked.TryGetValue((tenantId, environment), out var locked) ? locked : await db.LockEntitlementAsync(tenantId, environment, ct);
        if (row is not null)
        {
            return (row, null);
        }

        var tenantExists = await db.Tenants.AnyAsync(t => t.TenantId == tenantId, ct);
        return (null, tenantExists ? $"rejected: unknown environment {environment}" : "rejected: unknown tenant");
    }

    [LoggerMessage(EventId = 1010, Level = LogLevel.Warning, Message = "Stripe event {EventId}: Stripe's API unreachable on attempt {Attempt} (HTTP {Status}); applying the payload with the order check")]
    private static partial void LogPayloadFallback(ILogger logger, string eventId, int attempt, int status);
}
