using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Snapshots;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using EntitlementDecision.ControlPlane.Background;
using EntitlementDecision.ControlPlane.Configuration;
using EntitlementDecision.ControlPlane.Subscriptions;

namespace EntitlementDecision.ControlPlane.Webhooks;

/// <summary>
/// Processes stored webhook events in the background, <see cref="BillingOptions.Workers"/> at a time (never two of one tenant). Wakes on <see cref="StripeEventSignal"/> (an event was stored or put back),
/// else at the next due retry, at most every <see cref="PollInterval"/>. Each event is taken in its own transaction with
/// <c>FOR UPDATE SKIP LOCKED</c> (several instances share the work), the oldest due first in Stripe's <c>created</c> order; an event
/// of a tenant waits while an older event of the same tenant is still pending (so each tenant's events apply in order even when
/// one is being retried). Applying happens under a savepoint: on an error the changes roll back, the attempt is counted,
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
    private static readonly TimeSpan MaxErrorBackoff = TimeSpan.FromSeconds(30);

    // Several drains at once, each taking the oldest takeable event until none is left. A tenant's events never run
    // concurrently: an event is takeable only while no older event of its tenant is pending, and the one being
    // processed stays pending (and row-locked) until its transaction commits. A throw here is the database itself.
    protected override async Task<TimeSpan?> PassAsync(CancellationToken stoppingToken)
    {
        await Task.WhenAll(Enumerable.Range(0, options.Value.Workers).Select(_ => DrainAsync(stoppingToken)));
        return await UntilNextDueAsync(stoppingToken);
    }

    private async Task DrainAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested && await ProcessNextAsync(ct) is not null)
        {
        }
    }

    /// <summary>Takes and processes one due event; returns its id, or null when none is due.</summary>
    internal async Task<string?> ProcessNextAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
        var applier = scope.ServiceProvider.GetRequiredService<StripeEventApplier>();
        var now = time.GetUtcNow();
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var taken = await db.StripeEvents.FromSql($"""
            SELECT * FROM stripe_events e
            WHERE e.status = 'pending' AND e.next_attempt_at <= {now}
              AND NOT EXISTS (
                SELECT 1 FROM stripe_events p
                WHERE p.status = 'pending' AND p.tenant_id = e.tenant_id AND p.environment = e.environment
                  AND (p.stripe_created, p.event_id) < (e.stripe_created, e.event_id))
            ORDER BY e.stripe_created, e.event_id
            LIMIT 1
            FOR UPDATE SKIP LOCKED
            """).ToListAsync(ct);
        if (taken.Count == 0)
        {
            return null;
        }

        var record = taken[0];
        var eventId = record.EventId;
        // Joins the delivery's trace (traceparent stored at receipt): the outbox row written while applying carries this span on.
        using var activity = Hosting.ControlPlaneTelemetry.Source.StartActivity(
            "stripe_event process", System.Diagnostics.ActivityKind.Consumer, Telemetry.TelemetrySetup.ParentFrom(record.TraceParent));
        activity?.SetTag("stripe.event_id", eventId).SetTag("stripe.event_type", record.Type).SetTag("ed.tenant_id", record.TenantId);
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
            var row = await db.StripeEvents.SingleAsync(x => x.EventId == eventId, ct);
            row.LastError = ErrorText.Describe(e);
            if (row.Attempts >= options.Value.MaxAttempts)
            {
                row.Status = StripeEventRecord.Failed;
                metrics.Failed();
                LogFailed(logger, eventId, row.Type, row.Attempts, row.LastError);
            }
            else
            {
                var delay = options.Value.Backoff(row.Attempts);
                row.NextAttemptAt = time.GetUtcNow() + delay;
                metrics.Retried();
                LogRetry(logger, eventId, row.Type, row.Attempts, delay.TotalMilliseconds, row.LastError);
            }

            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            return eventId;
        }

        await tx.CommitAsync(ct);
        metrics.Processed(record.ProcessedAt!.Value - record.ReceivedAt);
        if (result.Changed)
        {
            outbox.Notify();
        }

        LogProcessed(logger, eventId, record.Type, result.Outcome);
        return eventId;
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

    [LoggerMessage(EventId = 1022, Level = LogLevel.Error, Message = "Stripe event {EventId} ({Type}) failed after {Attempts} attempts: {Error}")]
    private static partial void LogFailed(ILogger logger, string eventId, string type, int attempts, string error);
}
