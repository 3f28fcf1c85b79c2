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
/// Applies stored Stripe events inside the caller's transaction (not saved), for <see cref="StripeEventProcessor"/>. With re-reading
/// on, <see cref="PrepareAsync"/> first decides, before any row lock, which of a batch's events their payload cannot decide (a
/// same-second tie, an invoice event that disagrees with a state of its second) and reads each of their subscriptions from Stripe once,
/// for all of the batch's events of it; every other event, and every event with re-reading off, is applied from its payload with
/// the order rule (<see cref="SubscriptionOrder"/>). The state goes to <see cref="SubscriptionSync"/>; invoices drive dunning.
/// The rules: README, "Behaviour worth knowing".
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
    /// <summary>Longest wait for Stripe's answer to one re-read (the client's own retries included); beyond it the attempt counts as Stripe unreachable.</summary>
    public static readonly TimeSpan RereadTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Actor of changes made by webhooks.</summary>
    public const string StripeActor = "stripe";

    private BillingOptions Options => options.Value;

    // Entitlement rows a batch locked up front (LockAllAsync); LockAsync takes a row from here instead of querying it again.
    private readonly Dictionary<(string TenantId, string Environment), Entitlement> _locked = new();

    // The batch's parsed events (PrepareAsync), its subscriptions read from Stripe (or why not), and the reads already applied.
    private readonly Dictionary<string, Event> _events = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Reread> _rereads = new(StringComparer.Ordinal);
    private readonly HashSet<string> _appliedRereads = new(StringComparer.Ordinal);

    /// <summary>One subscription read from Stripe for a batch: the object (null: Stripe does not know it) or the error, and when it was read.</summary>
    private sealed record Reread(Subscription? Subscription, StripeException? Error, DateTimeOffset ObservedAt);

    /// <summary>Subscriptions read from Stripe by the last <see cref="PrepareAsync"/> (for the measurement of how many events need one).</summary>
    public int RereadCount => _rereads.Count;

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

    /// <summary>Forgets the batch: rows of <see cref="LockAllAsync"/>, events and re-reads of <see cref="PrepareAsync"/> (after its transaction ended).</summary>
    public void EndBatch()
    {
        _locked.Clear();
        _events.Clear();
        _rereads.Clear();
        _appliedRereads.Clear();
    }

    /// <summary>
    /// Before any entitlement row is locked: parses <paramref name="batch"/> (in processing order) and, with re-reading on, reads
    /// from Stripe (<see cref="StripeCallPriority.Reread"/>, at most 8 at once, each within <see cref="RereadTimeout"/>) every
    /// subscription one of whose events the payload cannot decide: a same-second tie against the row's order data as the batch's
    /// earlier events leave them, or an invoice event of the second of the row's state that disagrees with it
    /// (<see cref="SubscriptionOrder.InvoiceDecides"/>). An older event needs no read: a newer state already supersedes it. Returns the events whose read failed (network, 429,
    /// 5xx, timeout, 404) and that <see cref="ApplyAsync"/> would therefore retry, with the error.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, Exception>> PrepareAsync(IReadOnlyList<StripeEventRecord> batch, CancellationToken ct)
    {
        var needed = new HashSet<string>(StringComparer.Ordinal);
        var bySubscription = new Dictionary<string, List<StripeEventRecord>>(StringComparer.Ordinal);
        var rows = new Dictionary<(string, string), Entitlement>();
        if (Options.Reread)
        {
            var tenants = batch.Where(r => r.TenantId is not null && r.Environment is not null).Select(r => r.TenantId!).Distinct().ToArray();
            foreach (var row in await db.Entitlements.AsNoTracking().Where(e => tenants.Contains(e.TenantId)).ToListAsync(ct))
            {
                rows[(row.TenantId, row.Environment)] = row;
            }
        }

        foreach (var record in batch)
        {
            Event e;
            try
            {
                e = EventOf(record);
            }
            catch (StripeEventFormatException)
            {
                continue; // ApplyAsync parses again and rejects it with the reason
            }

            if (!Options.Reread || RereadTarget(e) is not { } target)
            {
                continue;
            }

            bySubscription.TryAdd(target.SubscriptionId, []);
            bySubscription[target.SubscriptionId].Add(record);
            if (needed.Contains(target.SubscriptionId))
            {
                continue;
            }

            if (target.Payload is null)
            {
                // An invoice: its payload is not the subscription; it needs Stripe's object only for a same-second disagreement.
                if (record.TenantId is null || record.Environment is null || !rows.TryGetValue((record.TenantId, record.Environment), out var invoiceRow)
                    || !SubscriptionOrder.InvoiceDecides(invoiceRow, e.Type, record.StripeCreated))
                {
                    needed.Add(target.SubscriptionId);
                }

                continue;
            }

            if (!rows.TryGetValue((target.Payload.TenantId, target.Payload.Environment), out var simulated))
            {
                continue; // no such entitlement: ApplyAsync rejects it without asking Stripe
            }

            var verdict = SubscriptionOrder.OfEvent(simulated, target.Payload);
            if (verdict == OrderVerdict.Older)
            {
                continue; // superseded by a newer state already applied (a later event, or Stripe's object read after it)
            }

            if (verdict == OrderVerdict.Newer)
            {
                // Decided by the payload: the batch's later events compare with it, as they will once it is applied.
                SubscriptionOrder.Note(simulated, StateSource.Event, target.Payload.EventCreated);
                simulated.StripeStatus = target.Payload.Status ?? simulated.StripeStatus;
                simulated.StripeSubscriptionId = target.Payload.SubscriptionId ?? simulated.StripeSubscriptionId;
            }
            else
            {
                needed.Add(target.SubscriptionId);
            }
        }

        if (needed.Count > 0)
        {
            using var reread = StripeCallContext.Use(StripeCallPriority.Reread);
            using var gate = new SemaphoreSlim(8);
            var reads = await Task.WhenAll(needed.Select(async id =>
            {
                await gate.WaitAsync(ct);
                try
                {
                    return (Id: id, Read: await ReadAsync(id, ct));
                }
                finally
                {
                    gate.Release();
                }
            }));
            foreach (var (id, read) in reads)
            {
                _rereads[id] = read;
            }
        }

        var failed = new Dictionary<string, Exception>(StringComparer.Ordinal);
        foreach (var (id, read) in _rereads)
        {
            foreach (var record in bySubscription[id])
            {
                if (RereadFailure(id, read, record.Attempts + 1) is { } error)
                {
                    failed[record.EventId] = error;
                }
            }
        }

        return failed;
    }

    /// <summary>
    /// The parsed event of <paramref name="record"/>, parsed once per batch: the receiver's parse when this instance received it,
    /// else the stored payload. Throws <see cref="StripeEventFormatException"/> for a payload that is not an event.
    /// </summary>
    private Event EventOf(StripeEventRecord record)
    {
        if (!_events.TryGetValue(record.EventId, out var e))
        {
            _events[record.EventId] = e = parsed.Take(record.EventId) ?? StripeWebhookEvents.Parse(record.Payload);
        }

        return e;
    }

    /// <summary>The subscription an event concerns and its payload state (null for an invoice event), or null when no re-read applies.</summary>
    private static (string SubscriptionId, SubscriptionUpdate? Payload)? RereadTarget(Event e)
    {
        switch (e.Type)
        {
            case StripeSubscriptionEvents.SubscriptionCreated or StripeSubscriptionEvents.SubscriptionUpdated or StripeSubscriptionEvents.SubscriptionDeleted:
            {
                var read = StripeSubscriptionEvents.Read(e);
                return read.Succeeded && read.Update.SubscriptionId is { } id ? (id, read.Update) : null;
            }

            case StripeInvoiceEvents.TrialWillEnd:
            {
                var (trial, _) = StripeInvoiceEvents.ReadTrialWillEnd(e);
                return trial?.Subscription.SubscriptionId is { } id ? (id, trial.Subscription) : null;
            }

            case StripeInvoiceEvents.PaymentFailed or StripeInvoiceEvents.Paid:
            {
                var (invoice, _) = StripeInvoiceEvents.ReadInvoice(e);
                return invoice?.SubscriptionId is { } id ? (id, null) : null;
            }

            default:
                return null;
        }
    }

    /// <summary>One GET of the subscription, bounded by <see cref="RereadTimeout"/>; a Stripe error is kept, not thrown.</summary>
    private async Task<Reread> ReadAsync(string subscriptionId, CancellationToken ct)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(RereadTimeout);
            try
            {
                var subscription = await stripe.GetSubscriptionAsync(subscriptionId, timeout.Token);
                return new Reread(subscription, null, time.GetUtcNow());
            }
            catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
            {
                throw StripeErrors.ConnectionError($"no answer within {RereadTimeout.TotalSeconds} s", e);
            }
        }
        catch (StripeException ex)
        {
            return new Reread(null, ex, time.GetUtcNow());
        }
    }

    /// <summary>Why an event whose subscription was read as <paramref name="read"/> must be retried at attempt <paramref name="attempt"/>; null when it can be applied.</summary>
    private StripeEventRetryException? RereadFailure(string subscriptionId, Reread read, int attempt) => read switch
    {
        { Error: { } ex } when IsUnreachable(ex) && attempt >= Options.PayloadFallbackAfter => null, // applied from its payload
        { Error: { } ex } when IsUnreachable(ex) => new StripeEventRetryException(
            $"Stripe API unavailable retrieving {subscriptionId}: {ex.Status()?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? ex.StripeError?.Type} {ex.Message}", ex),
        { Error: { } ex } => new StripeEventRetryException($"Stripe API error retrieving {subscriptionId}: {ex.Status()} {ex.StripeError?.Type}/{ex.StripeError?.Code}: {ex.Message}", ex),
        { Subscription: null } => new StripeEventRetryException(
            $"Stripe does not know subscription {subscriptionId} (404): is STRIPE_API_KEY of the account that sends these webhooks?"),
        _ => null,
    };

    /// <summary>
    /// Applies <paramref name="record"/> (its <see cref="StripeEventRecord.Attempts"/> already counts this attempt).
    /// Returns the outcome; throws <see cref="StripeEventRetryException"/> (or any database error) when the attempt should be retried.
    /// </summary>
    public async Task<ApplyResult> ApplyAsync(StripeEventRecord record, CancellationToken ct)
    {
        Event e;
        try
        {
            e = EventOf(record);
        }
        catch (StripeEventFormatException ex)
        {
            return ApplyResult.Rejected($"{ex.Message}");
        }

        switch (e.Type)
        {
            case StripeSubscriptionEvents.CheckoutSessionCompleted:
                return await ApplyCheckoutAsync(e, ct);
            case StripeSubscriptionEvents.SubscriptionCreated or StripeSubscriptionEvents.SubscriptionUpdated or StripeSubscriptionEvents.SubscriptionDeleted:
            {
                var read = StripeSubscriptionEvents.Read(e);
                return read.Succeeded ? await ApplySubscriptionEventAsync(read.Update, record, null, ct) : ApplyResult.Rejected($"{read.Error}");
            }

            case StripeInvoiceEvents.TrialWillEnd:
            {
                var (trial, error) = StripeInvoiceEvents.ReadTrialWillEnd(e);
                return trial is null ? ApplyResult.Rejected($"{error}") : await ApplySubscriptionEventAsync(trial.Subscription, record, trial.TrialEnd, ct);
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

                return invoice is null ? ApplyResult.Rejected($"{error}") : await ApplyInvoiceAsync(invoice, record, ct);
            }

            default:
                return ApplyResult.Unhandled;
        }
    }

    private async Task<ApplyResult> ApplySubscriptionEventAsync(SubscriptionUpdate payload, StripeEventRecord record, DateTimeOffset? trialEnd, CancellationToken ct)
    {
        if (!Identifiers.IsTenantId(payload.TenantId) || !Identifiers.IsEnvironment(payload.Environment))
        {
            return ApplyResult.Rejected("unknown tenant");
        }

        // Stripe's object when PrepareAsync read it (before any row lock: the lock is never held across an HTTP call).
        var (current, error) = CurrentState(payload.SubscriptionId, payload, record);
        if (error is not null)
        {
            return ApplyResult.Rejected(error);
        }

        var row = await LockAsync(payload.TenantId, payload.Environment, ct);
        if (row.Error is not null)
        {
            return ApplyResult.Rejected(row.Error);
        }

        var now = time.GetUtcNow();
        var result = ApplyState(row.Row!, payload, current, record.StripeCreated, record, now);
        if (trialEnd is not null || record.Type == StripeInvoiceEvents.TrialWillEnd)
        {
            AuditLog.Add(db, row.Row!.TenantId, row.Row.Environment, now, StripeActor, "trial.reminder", null,
                new { SubscriptionId = payload.SubscriptionId, TrialEnd = trialEnd, Status = row.Row.StripeStatus }, record.EventId,
                new TrialEnding(payload.SubscriptionId, trialEnd));
        }

        return result;
    }

    // A completed checkout counts as such in the billing KPIs (EntitlementChanged.CompletesCheckout).
    private static bool CompletesCheckout(StripeEventRecord record) => record.Type == StripeSubscriptionEvents.CheckoutSessionCompleted;

    /// <summary>
    /// Applies the state of <paramref name="record"/> to the locked <paramref name="row"/>: Stripe's object <paramref name="current"/>
    /// (once per batch; the event's <c>created</c> is noted either way, the object being at least as new), else the payload with
    /// the order rule (a same-second tie is applied: it is never older than our own change).
    /// </summary>
    private ApplyResult ApplyState(Entitlement row, SubscriptionUpdate? payload, SubscriptionUpdate? current,
        DateTimeOffset revealedAt, StripeEventRecord record, DateTimeOffset now)
    {
        if (current is not null)
        {
            var result = _appliedRereads.Add(current.SubscriptionId!)
                ? sync.Apply(row, current, StateSource.Read, revealedAt, StripeActor, record.Type, record.EventId, now, CompletesCheckout(record))
                : ApplyResult.Applied(false);
            if (result.Kind is not (ApplyKind.Rejected or ApplyKind.IgnoredOtherSubscription))
            {
                SubscriptionOrder.Note(row, StateSource.Event, record.StripeCreated);
            }

            return result;
        }

        return payload is null
            ? ApplyResult.Applied(false)
            : sync.Apply(row, payload, StateSource.Event, revealedAt, StripeActor, record.Type, record.EventId, now, CompletesCheckout(record));
    }

    private async Task<ApplyResult> ApplyInvoiceAsync(InvoiceUpdate invoice, StripeEventRecord record, CancellationToken ct)
    {
        if (record.TenantId is null || record.Environment is null)
        {
            return ApplyResult.Rejected($"no tenant for invoice {invoice.InvoiceId} (no metadata.tenant_id and no entitlement with its subscription or customer)");
        }

        // Stripe's current subscription (its status decides whether dunning runs; read by PrepareAsync), then the invoice's own facts.
        var (current, error) = invoice.SubscriptionId is null ? (null, null) : CurrentState(invoice.SubscriptionId, null, record);
        if (error is not null)
        {
            return ApplyResult.Rejected(error);
        }

        var locked = await LockAsync(record.TenantId, record.Environment, ct);
        if (locked.Error is not null)
        {
            return ApplyResult.Rejected(locked.Error);
        }

        var row = locked.Row!;
        var now = time.GetUtcNow();
        if (invoice.SubscriptionId is not null && row.StripeSubscriptionId is not null
            && !string.Equals(invoice.SubscriptionId, row.StripeSubscriptionId, StringComparison.Ordinal))
        {
            return ApplyResult.OtherSubscription;
        }

        var refreshed = false;
        var changed = false;
        if (current is not null)
        {
            var applied = ApplyState(row, null, current, invoice.EventCreated, record, now);
            if (applied.IsRejected)
            {
                return applied;
            }

            changed = applied.Changed;
            refreshed = true;
        }

        if (row.LastInvoiceEventCreated is { } lastInvoice && invoice.EventCreated < lastInvoice)
        {
            return changed ? ApplyResult.Applied(true) : ApplyResult.Stale;
        }

        var before = AuditLog.View(row);
        row.LastInvoiceEventCreated = invoice.EventCreated;
        // A subscription state newer than the invoice event wins over it (payload mode); a re-read state is always newer.
        var newerState = refreshed || SubscriptionOrder.StateNewerThan(row, invoice.EventCreated);
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
                var suspendAt = row.DunningStartedAt.Value.AddDays(Options.ReadOnlyDays);
                AuditLog.Add(db, row.TenantId, row.Environment, now, StripeActor, "dunning.reminder", null,
                    new { InvoiceId = invoice.InvoiceId, AttemptCount = invoice.AttemptCount, invoice.NextPaymentAttempt, GraceEndsAt = graceEndsAt,
                          ReadOnlyFrom = graceEndsAt, SuspendAt = suspendAt },
                    record.EventId, new PaymentFailed(invoice.InvoiceId, graceEndsAt, suspendAt));
            }
        }

        var result = sync.Finish(row, before, StripeActor, record.Type, record.EventId, now);
        return ApplyResult.Applied(changed || result.Changed);
    }

    /// <summary>checkout.session.completed links the customer and subscription ids and, when the row has no plan yet, takes metadata.plan_id.</summary>
    private async Task<ApplyResult> ApplyCheckoutAsync(Event e, CancellationToken ct)
    {
        var read = StripeSubscriptionEvents.Read(e);
        if (!read.Succeeded)
        {
            return ApplyResult.Rejected($"{read.Error}");
        }

        var update = read.Update;
        var locked = await LockAsync(update.TenantId, update.Environment, ct);
        if (locked.Error is not null)
        {
            return ApplyResult.Rejected(locked.Error);
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

        return sync.Finish(row, before, StripeActor, e.Type, e.Id, time.GetUtcNow(), completesCheckout: true);
    }

    /// <summary>
    /// Stripe's object of <paramref name="subscriptionId"/> as <see cref="PrepareAsync"/> read it (stamped with when); null when it was not
    /// read (re-reading off, or the payload decides). Returns an error outcome for a permanent problem; throws
    /// <see cref="StripeEventRetryException"/> when the read failed and the event should be retried (from attempt
    /// <see cref="BillingOptions.PayloadFallbackAfter"/> on, an unreachable Stripe means the payload is applied instead).
    /// </summary>
    private (SubscriptionUpdate? Current, string? Error) CurrentState(
        string? subscriptionId, SubscriptionUpdate? payload, StripeEventRecord record)
    {
        if (subscriptionId is null || !_rereads.TryGetValue(subscriptionId, out var reread))
        {
            return (null, null);
        }

        if (RereadFailure(subscriptionId, reread, record.Attempts) is { } failure)
        {
            throw failure;
        }

        if (reread.Error is { } unreachable)
        {
            LogPayloadFallback(logger, record.EventId, record.Attempts, unreachable.Status() ?? 0);
            return (null, null);
        }

        var read = StripeSubscriptionMapper.FromRetrieved(reread.Subscription!, reread.ObservedAt);
        if (!read.Succeeded)
        {
            return (null, $"Stripe's subscription {subscriptionId}: {read.Error}");
        }

        var current = read.Update;
        if (payload is not null && (current.TenantId != payload.TenantId || current.Environment != payload.Environment))
        {
            return (null, $"Stripe's subscription {subscriptionId} belongs to {current.TenantId}/{current.Environment}, the event says {payload.TenantId}/{payload.Environment}");
        }

        return (current, null);
    }

    /// <summary>Network errors, timeouts, 429 and 5xx: Stripe could not answer now.</summary>
    internal static bool IsUnreachable(StripeException e) => e.IsTransient();

    private async Task<(Entitlement? Row, string? Error)> LockAsync(string tenantId, string environment, CancellationToken ct)
    {
        if (!Identifiers.IsTenantId(tenantId) || !Identifiers.IsEnvironment(environment))
        {
            return (null, "unknown tenant");
        }

        var row = _locked.TryGetValue((tenantId, environment), out var locked) ? locked : await db.LockEntitlementAsync(tenantId, environment, ct);
        if (row is not null)
        {
            return (row, null);
        }

        var tenantExists = await db.Tenants.AnyAsync(t => t.TenantId == tenantId, ct);
        return (null, tenantExists ? $"unknown environment {environment}" : "unknown tenant");
    }

    [LoggerMessage(EventId = 1010, Level = LogLevel.Warning, Message = "Stripe event {EventId}: Stripe's API unreachable on attempt {Attempt} (HTTP {Status}); applying the payload with the order check")]
    private static partial void LogPayloadFallback(ILogger logger, string eventId, int attempt, int status);
}
