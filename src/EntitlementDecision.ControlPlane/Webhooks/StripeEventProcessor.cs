using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Snapshots;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using EntitlementDecision.ControlPlane.Background;
using EntitlementDecision.ControlPlane.Subscriptions;

namespace EntitlementDecision.ControlPlane.Webhooks;

/// <summary>
/// Processes stored webhook events in the background, <see cref="BillingOptions.Workers"/> drains at a time (never two events of one
/// tenant at once). Wakes on <see cref="StripeEventSignal"/> (an event was stored or put back), else at the next due retry, at most
/// every <see cref="PollInterval"/>. A drain takes, with <c>FOR UPDATE SKIP LOCKED</c> (several instances share the work), the
/// oldest due event of up to <see cref="BillingOptions.BatchSize"/> tenants (an event waits while an older event of its tenant is
/// pending) and then up to <see cref="FollowersPerTenant"/> of each such tenant's next due events, at most
/// <see cref="MaxBatchEvents"/> in all, in Stripe's <c>created</c> order per tenant. With re-reading on, the events whose payload
/// cannot decide have their subscriptions read from Stripe first, once per subscription (<see cref="StripeEventApplier.PrepareAsync"/>);
/// an event whose read failed is retried later and its tenant's later events wait for it. A batch is applied in one transaction
/// (its entitlement rows locked in one statement, one save, one commit); when any of its events throws, the batch rolls back and
/// each of its events is processed alone: under a savepoint, on an error the changes roll back, the attempt is counted,
/// <c>last_error</c> kept and <c>next_attempt_at</c> moved by <see cref="BillingOptions.Backoff"/>; after
/// <see cref="BillingOptions.MaxAttempts"/> the event is <c>failed</c> (queryable and retryable at the operator endpoints).
/// </summary>
internal sealed partial class StripeEventProcessor(
    IServiceScopeFactory scopes,
    StripeEventSignal signal,
    OutboxSignal outbox,
    WebhookMetrics metrics,
    IOptions<BillingOptions> options,
    TimeProvider time,
    ILogger<StripeEventProcessor> logger) : Background.BackgroundLoop(logger)
{
    protected override TimeProvider Time => time;

    protected override Background.WakeSignal Signal => signal;

    protected override TimeSpan MaxBackoff => MaxErrorBackoff;

    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    /// <summary>Events of one tenant a batch takes after its oldest (so a subscription's waiting events share one re-read).</summary>
    public const int FollowersPerTenant = 8;

    private int MaxBatchEvents => options.Value.BatchSize * 4;
    private static readonly TimeSpan MaxErrorBackoff = TimeSpan.FromSeconds(30);

    // Several drains at once, each taking the oldest takeable events until none is left. A tenant's events never run
    // concurrently: an event is takeable only while no older event of its tenant is pending, and the ones being
    // processed stay pending (and row-locked) until their transaction commits. A throw here is the database itself.
    protected override async Task<TimeSpan?> PassAsync(CancellationToken stoppingToken)
    {
        await Task.WhenAll(Enumerable.Range(0, options.Value.Workers).Select(_ => DrainAsync(stoppingToken)));
        return await UntilNextDueAsync(stoppingToken);
    }

    private async Task DrainAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested && (await ProcessBatchAsync(ct)).Count > 0)
        {
        }
    }

    /// <summary>
    /// Takes a batch of due events (the oldest of up to <see cref="BillingOptions.BatchSize"/> tenants, then their next ones) and
    /// processes it; returns the ids in the order taken (each tenant's in Stripe's created order), empty when none was due.
    /// </summary>
    internal Task<IReadOnlyList<string>> ProcessBatchAsync(CancellationToken ct) => ProcessAsync(options.Value.BatchSize, null, ct);

    private async Task<IReadOnlyList<string>> ProcessAsync(int limit, string? onlyEventId, CancellationToken ct)
    {
        string[] ids;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
            var applier = scope.ServiceProvider.GetRequiredService<StripeEventApplier>();
            await using var tx = await db.Database.BeginTransactionAsync(ct);
            var taken = await TakeAsync(db, limit, onlyEventId, ct);
            if (taken.Count == 0)
            {
                return [];
            }

            if (onlyEventId is null)
            {
                taken.AddRange(await TakeFollowersAsync(db, taken, ct));
            }

            // Stripe's objects for what the payloads cannot decide, before any entitlement row is locked.
            var unread = await applier.PrepareAsync(taken, ct);
            metrics.Rereads(applier.RereadCount);
            if (taken.Count == 1)
            {
                await ProcessOneAsync(db, applier, tx, taken[0], ct);
                return [taken[0].EventId];
            }

            ids = taken.Select(r => r.EventId).ToArray();
            var apply = WithoutUnread(taken, unread);
            if (await TryApplyBatchAsync(db, applier, tx, apply, ct))
            {
                return ids;
            }
        }

        // The batch rolled back (nothing of it was saved): each event alone, counting the attempt and the error of the one that throws.
        foreach (var id in ids)
        {
            await ProcessAsync(1, id, ct);
        }

        return ids;
    }

    /// <summary>
    /// Up to <paramref name="limit"/> takeable events (pending, due, no older pending event of their tenant, not locked by another
    /// transaction), locked, oldest first; with <paramref name="onlyEventId"/>, that event if it is takeable.
    /// </summary>
    private Task<List<StripeEventRecord>> TakeAsync(EntitlementsDbContext db, int limit, string? onlyEventId, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        return db.StripeEvents.FromSql($"""
            SELECT * FROM stripe_events e
            WHERE e.status = 'pending' AND e.next_attempt_at <= {now}
              AND ({onlyEventId}::text IS NULL OR e.event_id = {onlyEventId})
              AND NOT EXISTS (
                SELECT 1 FROM stripe_events p
                WHERE p.status = 'pending' AND p.tenant_id = e.tenant_id AND p.environment = e.environment
                  AND (p.stripe_created, p.event_id) < (e.stripe_created, e.event_id))
            ORDER BY e.stripe_created, e.event_id
            LIMIT {limit}
            FOR UPDATE SKIP LOCKED
            """).ToListAsync(ct);
    }

    /// <summary>
    /// Up to <see cref="FollowersPerTenant"/> pending events of each tenant of <paramref name="heads"/> after its head, in order, locked;
    /// each tenant's run stops at its first event not yet due (a retry in backoff), and the batch at <see cref="MaxBatchEvents"/>.
    /// No other worker takes them meanwhile: an event is takeable only while no older event of its tenant is pending.
    /// </summary>
    private async Task<List<StripeEventRecord>> TakeFollowersAsync(EntitlementsDbContext db, List<StripeEventRecord> heads, CancellationToken ct)
    {
        var keyed = heads.Where(h => h.TenantId is not null && h.Environment is not null).ToList();
        var room = MaxBatchEvents - heads.Count;
        if (keyed.Count == 0 || room <= 0)
        {
            return [];
        }

        var tenants = keyed.Select(h => h.TenantId!).ToArray();
        var environments = keyed.Select(h => h.Environment!).ToArray();
        var headIds = heads.Select(h => h.EventId).ToArray();
        var candidates = await db.StripeEvents.FromSql($"""
            SELECT * FROM stripe_events WHERE event_id IN (
              SELECT event_id FROM (
                SELECT e.event_id, row_number() OVER (PARTITION BY e.tenant_id, e.environment ORDER BY e.stripe_created, e.event_id) AS n
                FROM stripe_events e
                JOIN unnest({tenants}::text[], {environments}::text[]) AS k(tenant_id, environment)
                  ON e.tenant_id = k.tenant_id AND e.environment = k.environment
                WHERE e.status = 'pending' AND NOT (e.event_id = ANY({headIds}))) x
              WHERE x.n <= {FollowersPerTenant})
            ORDER BY tenant_id, environment, stripe_created, event_id
            FOR UPDATE
            """).ToListAsync(ct);
        var now = time.GetUtcNow();
        var followers = new List<StripeEventRecord>();
        foreach (var run in candidates.GroupBy(c => (c.TenantId, c.Environment)))
        {
            foreach (var record in run)
            {
                if (record.NextAttemptAt > now || followers.Count >= room)
                {
                    break;
                }

                followers.Add(record);
            }
        }

        return followers;
    }

    /// <summary>
    /// The events of <paramref name="taken"/> that can be applied now: a tenant's events from its first one whose re-read failed are
    /// left out (that one's attempt and error are recorded here, the later ones stay pending untouched), so each tenant's order holds.
    /// </summary>
    private List<StripeEventRecord> WithoutUnread(List<StripeEventRecord> taken, IReadOnlyDictionary<string, Exception> unread)
    {
        if (unread.Count == 0)
        {
            return taken;
        }

        var blocked = new HashSet<(string?, string?)>();
        var apply = new List<StripeEventRecord>();
        foreach (var record in taken)
        {
            var key = record.TenantId is null ? (record.EventId, null) : (record.TenantId, record.Environment);
            if (blocked.Contains(key))
            {
                continue;
            }

            if (unread.TryGetValue(record.EventId, out var error))
            {
                blocked.Add(key);
                record.Attempts++;
                RecordFailure(record, error);
                continue;
            }

            apply.Add(record);
        }

        return apply;
    }

    /// <summary>
    /// Applies several taken events (at most <see cref="FollowersPerTenant"/> + 1 of one tenant, in its order) in <paramref name="tx"/>: attempts counted, entitlement rows locked in one
    /// statement, each event applied under its own processing Activity, one save, one commit. Returns false, with the transaction
    /// rolled back, when any event threw; cancellation and a failed rollback propagate.
    /// </summary>
    private async Task<bool> TryApplyBatchAsync(
        EntitlementsDbContext db, StripeEventApplier applier, Microsoft.EntityFrameworkCore.Storage.IDbContextTransaction tx,
        List<StripeEventRecord> taken, CancellationToken ct)
    {
        var results = new ApplyResult[taken.Count];
        var activities = new System.Diagnostics.Activity?[taken.Count];
        var outer = System.Diagnostics.Activity.Current;
        try
        {
            await applier.LockAllAsync(
                taken.Where(r => r.TenantId is not null && r.Environment is not null).Select(r => (r.TenantId!, r.Environment!)).Distinct().ToArray(), ct);
            for (var i = 0; i < taken.Count; i++)
            {
                var record = taken[i];
                activities[i] = StartProcessing(record);
                record.Attempts++;
                results[i] = await applier.ApplyAsync(record, ct);
                record.Status = StripeEventRecord.Processed;
                record.Outcome = results[i].Outcome;
                record.ProcessedAt = time.GetUtcNow();
                record.LastError = null;
                // Each event's Activity is current only while it is applied (outbox rows carry it); all end after the commit.
                System.Diagnostics.Activity.Current = outer;
            }

            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            System.Diagnostics.Activity.Current = outer;
            foreach (var activity in activities)
            {
                activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, "batch rolled back: " + e.GetType().Name);
                activity?.Dispose();
            }

            LogBatchRolledBack(logger, taken.Count, ErrorText.Describe(e));
            await tx.RollbackAsync(ct);
            return false;
        }
        finally
        {
            applier.EndBatch();
        }

        var changed = false;
        for (var i = 0; i < taken.Count; i++)
        {
            var record = taken[i];
            activities[i]?.Dispose();
            metrics.Processed(record.ProcessedAt!.Value - record.ReceivedAt);
            changed |= results[i].Changed;
            LogProcessed(logger, record.EventId, record.Type, results[i].Outcome);
        }

        System.Diagnostics.Activity.Current = outer;
        if (changed)
        {
            outbox.Notify();
        }

        return true;
    }

    /// <summary>The processing Activity of <paramref name="record"/>, joining the delivery's trace (traceparent stored at receipt).</summary>
    private static System.Diagnostics.Activity? StartProcessing(StripeEventRecord record) =>
        Observability.ControlPlaneTelemetry.Source.StartActivity(
                "stripe_event process", System.Diagnostics.ActivityKind.Consumer, Telemetry.TelemetrySetup.ParentFrom(record.TraceParent))
            ?.SetTag("stripe.event_id", record.EventId).SetTag("stripe.event_type", record.Type).SetTag("ed.tenant_id", record.TenantId);

    /// <summary>Applies one taken event in <paramref name="tx"/> under a savepoint; an error is recorded on the event (retry or failed) and committed.</summary>
    private async Task ProcessOneAsync(
        EntitlementsDbContext db, StripeEventApplier applier, Microsoft.EntityFrameworkCore.Storage.IDbContextTransaction tx,
        StripeEventRecord record, CancellationToken ct)
    {
        var eventId = record.EventId;
        // Joins the delivery's trace: the outbox row written while applying carries this span on.
        using var activity = StartProcessing(record);
        record.Attempts++;
        await db.SaveChangesAsync(ct);
        await tx.CreateSavepointAsync("apply", ct);
        ApplyResult result;
        try
        {
            result = await applier.ApplyAsync(record, ct);
            record.Status = StripeEventRecord.Processed;
            record.Outcome = result.Outcome;
            record.ProcessedAt = time.GetUtcNow();
            record.LastError = null;
            await db.SaveChangesAsync(ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            activity?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, e.GetType().Name);
            await tx.RollbackToSavepointAsync("apply", ct);
            db.ChangeTracker.Clear();
            RecordFailure(await db.StripeEvents.SingleAsync(x => x.EventId == eventId, ct), e);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            return;
        }

        await tx.CommitAsync(ct);
        metrics.Processed(record.ProcessedAt!.Value - record.ReceivedAt);
        if (result.Changed)
        {
            outbox.Notify();
        }

        LogProcessed(logger, eventId, record.Type, result.Outcome);
    }

    /// <summary>Records a failed attempt on <paramref name="row"/> (its attempts already counted): <c>failed</c> after the last, else the next attempt's time.</summary>
    private void RecordFailure(StripeEventRecord row, Exception e)
    {
        row.LastError = ErrorText.Describe(e);
        if (row.Attempts >= options.Value.MaxAttempts)
        {
            row.Status = StripeEventRecord.Failed;
            metrics.Failed();
            LogFailed(logger, row.EventId, row.Type, row.Attempts, row.LastError);
        }
        else
        {
            var delay = options.Value.Backoff(row.Attempts);
            row.NextAttemptAt = time.GetUtcNow() + delay;
            metrics.Retried();
            LogRetry(logger, row.EventId, row.Type, row.Attempts, delay.TotalMilliseconds, row.LastError);
        }
    }

    /// <summary>Time until the earliest pending retry is due, capped at <see cref="PollInterval"/>.</summary>
    private async Task<TimeSpan> UntilNextDueAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
        var next = await db.StripeEvents.Where(e => e.Status == StripeEventRecord.Pending).MinAsync(e => (DateTimeOffset?)e.NextAttemptAt, ct);
        if (next is null)
        {
            return PollInterval;
        }

        var wait = next.Value - time.GetUtcNow();
        return wait <= TimeSpan.Zero ? TimeSpan.FromMilliseconds(1) : wait < PollInterval ? wait : PollInterval;
    }
    [LoggerMessage(EventId = 1020, Level = LogLevel.Information, Message = "Stripe event {EventId} ({Type}) processed: {Outcome}")]
    private static partial void LogProcessed(ILogger logger, string eventId, string type, string outcome);

    [LoggerMessage(EventId = 1021, Level = LogLevel.Warning, Message = "Stripe event {EventId} ({Type}) attempt {Attempt} failed; retrying in {DelayMs} ms: {Error}")]
    private static partial void LogRetry(ILogger logger, string eventId, string type, int attempt, double delayMs, string error);

    [LoggerMessage(EventId = 1023, Level = LogLevel.Warning, Message = "A batch of {Count} Stripe events rolled back ({Error}); processing each alone")]
    private static partial void LogBatchRolledBack(ILogger logger, int count, string error);

    [LoggerMessage(EventId = 1022, Level = LogLevel.Error, Message = "Stripe event {EventId} ({Type}) failed after {Attempts} attempts: {Error}")]
    private static partial void LogFailed(ILogger logger, string eventId, string type, int attempts, string error);
}
