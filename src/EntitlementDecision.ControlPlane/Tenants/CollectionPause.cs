using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.Stripe.Api;
using Microsoft.EntityFrameworkCore;
using StripeException = Stripe.StripeException;

namespace EntitlementDecision.ControlPlane.Tenants;

/// <summary>What one attempt to bring Stripe's payment collection in step with a tenant's status did.</summary>
internal enum CollectionStep
{
    /// <summary>Stripe paused collection (<c>pause_collection[behavior]=void</c>); audited <c>billing.collection_paused</c>.</summary>
    Paused,

    /// <summary>Stripe resumed collection (<c>pause_collection=</c>); audited <c>billing.collection_resumed</c>.</summary>
    Resumed,

    /// <summary>The paused subscription ended or was replaced: nothing left to resume in Stripe; only our record was cleared.</summary>
    Dropped,

    /// <summary>Stripe failed or did not answer in time: the change stays requested and <see cref="CollectionPauseJob"/> retries it.</summary>
    Pending,
}

/// <summary>The outcome of one row: environment, subscription, step and, when pending, Stripe's error.</summary>
internal sealed record CollectionOutcome(string Environment, string SubscriptionId, CollectionStep Step, string? Error = null);

/// <summary>
/// Payment collection follows suspension: while a tenant is suspended, each of its live Stripe subscriptions has collection paused with
/// behavior <c>void</c> (Stripe voids the invoices the pause creates, so nothing is charged and nothing is owed when it ends; not
/// <c>keep_as_draft</c>, which leaves drafts to collect later, nor <c>mark_uncollectible</c>, which books them as bad debt); on resume the
/// pause is cleared. The suspension commits first (it is a safety action and never waits for Stripe); the wanted change is recorded on the
/// row (<see cref="Entitlement.CollectionChangeRequestedAt"/>) in the same transaction, then sent to Stripe, and retried by
/// <see cref="CollectionPauseJob"/> until Stripe confirms. The idempotency key names the tenant, environment, subscription, action and the
/// request time, so a retry never makes a second change while a later suspension gets a key of its own. README, "Behaviour worth knowing".
/// </summary>
internal sealed partial class CollectionPause(IStripeBilling stripe, TimeProvider time, ILogger<CollectionPause> logger)
{
    /// <summary>Stripe's pause behavior used: invoices created during the pause are voided.</summary>
    public const string Behavior = "void";

    /// <summary>Longest wait for Stripe on an operator's request; beyond it the change is left to the job.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The subscription whose collection should be paused now: the row's live subscription while the tenant is suspended; else null.</summary>
    public static string? Target(Tenant tenant, Entitlement row) =>
        tenant.Status == Tenant.Suspended && row.StripeSubscriptionId is { } id && TenantLifecycle.IsLive(row.StripeStatus) ? id : null;

    /// <summary>After a status change, under the caller's locks: records that Stripe must change (request time <paramref name="now"/>), or that it need not.</summary>
    public static void Request(Tenant tenant, Entitlement row, DateTimeOffset now) =>
        row.CollectionChangeRequestedAt = Target(tenant, row) == row.CollectionPausedSubscriptionId ? null : now;

    /// <summary>
    /// Sends each requested change of <paramref name="tenantId"/> to Stripe at <paramref name="priority"/> and records what Stripe did
    /// (each row in its own transaction, after the call, under the tenant's and the row's locks). A failure leaves the request for the
    /// job; with <paramref name="auditFailure"/> it is audited too (<c>billing.collection_pause_failed</c> / <c>_resume_failed</c>).
    /// </summary>
    public async Task<IReadOnlyList<CollectionOutcome>> SyncAsync(
        EntitlementsDbContext db, string tenantId, string actor, string cause, StripeCallPriority priority, bool auditFailure, CancellationToken ct)
    {
        var rows = await db.Entitlements.AsNoTracking()
            .Where(e => e.TenantId == tenantId && e.CollectionChangeRequestedAt != null).OrderBy(e => e.Environment).ToListAsync(ct);
        var tenant = await db.Tenants.AsNoTracking().FirstOrDefaultAsync(t => t.TenantId == tenantId, ct);
        var outcomes = new List<CollectionOutcome>();
        if (tenant is null)
        {
            return outcomes;
        }

        using var marked = StripeCallContext.Use(priority);
        foreach (var row in rows)
        {
            var requestedAt = row.CollectionChangeRequestedAt!.Value;
            var target = Target(tenant, row);
            var paused = row.CollectionPausedSubscriptionId;
            if (target is null && paused is not null && (paused != row.StripeSubscriptionId || !TenantLifecycle.IsLive(row.StripeStatus)))
            {
                await RecordAsync(db, row, paused, null, CollectionStep.Dropped, null, actor, cause, ct);
                outcomes.Add(new CollectionOutcome(row.Environment, paused, CollectionStep.Dropped));
                continue;
            }

            if (target == paused)
            {
                await RecordAsync(db, row, paused, paused, null, null, actor, cause, ct);
                continue;
            }

            var pause = target is not null;
            var subscriptionId = target ?? paused!;
            var operation = $"collection-{(pause ? "pause" : "resume")}:{row.TenantId}:{row.Environment}:{subscriptionId}:{requestedAt.ToUnixTimeMilliseconds()}";
            global::Stripe.Subscription updated;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                timeout.CancelAfter(RequestTimeout);
                updated = await stripe.UpdateSubscriptionAsync(subscriptionId, new UpdateSubscriptionRequest(PauseCollection: pause ? Behavior : ""), operation, timeout.Token);
            }
            catch (Exception e) when (e is StripeException || (e is OperationCanceledException && !ct.IsCancellationRequested))
            {
                var error = e is StripeException se ? $"Stripe {se.Status()?.ToString() ?? "unreachable"} {se.StripeError?.Type}: {se.StripeError?.Message ?? se.Message}" : "no answer in time";
                LogCollectionPending(logger, row.TenantId, row.Environment, subscriptionId, pause ? "pause" : "resume", error);
                if (auditFailure)
                {
                    AuditLog.Add(db, row.TenantId, row.Environment, time.GetUtcNow(), actor, pause ? "billing.collection_pause_failed" : "billing.collection_resume_failed",
                        new { PausedSubscriptionId = paused }, new { SubscriptionId = subscriptionId, Behavior = pause ? Behavior : null, Error = error, RetriedBy = nameof(CollectionPauseJob) }, cause);
                    await db.SaveChangesAsync(ct);
                }

                outcomes.Add(new CollectionOutcome(row.Environment, subscriptionId, CollectionStep.Pending, error));
                continue;
            }

            var step = pause ? CollectionStep.Paused : CollectionStep.Resumed;
            await RecordAsync(db, row, paused, pause ? subscriptionId : null, step, updated.PauseCollection?.Behavior, actor, cause, ct);
            outcomes.Add(new CollectionOutcome(row.Environment, subscriptionId, step));
        }

        return outcomes;
    }

    /// <summary>
    /// Records what Stripe now has (<paramref name="nowPaused"/>) under the tenant's and the row's locks; the request is cleared when that
    /// matches the tenant's status as it is now (a suspend or resume that raced the call leaves it set, for the next pass). Audits a step.
    /// </summary>
    private async Task RecordAsync(
        EntitlementsDbContext db, Entitlement row, string? wasPaused, string? nowPaused, CollectionStep? step, string? stripeBehavior, string actor, string cause, CancellationToken ct)
    {
        db.ChangeTracker.Clear(); // the callers saved; the locked rows must be read as they are now, not as tracked before the call
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var tenant = await db.LockTenantAsync(row.TenantId, ct);
        var locked = await db.LockEntitlementAsync(row.TenantId, row.Environment, ct);
        if (tenant is null || locked is null)
        {
            return;
        }

        var now = time.GetUtcNow();
        var before = new { PausedSubscriptionId = locked.CollectionPausedSubscriptionId, ChangeRequestedAt = locked.CollectionChangeRequestedAt };
        // The job and a repeated request may both have sent the same change (one key, so one change in Stripe): audit it once.
        var recorded = locked.CollectionPausedSubscriptionId == nowPaused && locked.CollectionChangeRequestedAt is null;
        locked.CollectionPausedSubscriptionId = nowPaused;
        locked.CollectionChangeRequestedAt = Target(tenant, locked) == nowPaused ? null : locked.CollectionChangeRequestedAt ?? now;
        if (!recorded && step is CollectionStep.Paused or CollectionStep.Resumed)
        {
            AuditLog.Add(db, locked.TenantId, locked.Environment, now, actor, step == CollectionStep.Paused ? "billing.collection_paused" : "billing.collection_resumed",
                before, new
                {
                    PausedSubscriptionId = locked.CollectionPausedSubscriptionId,
                    ChangeRequestedAt = locked.CollectionChangeRequestedAt,
                    SubscriptionId = nowPaused ?? wasPaused,
                    StripePauseCollection = stripeBehavior,
                    TenantStatus = tenant.Status,
                }, cause);
        }

        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
    }

    [LoggerMessage(EventId = 6101, Level = LogLevel.Warning,
        Message = "Collection {Action} of {TenantId}/{Environment} ({SubscriptionId}) not confirmed by Stripe, retried later: {Error}")]
    private static partial void LogCollectionPending(ILogger logger, string tenantId, string environment, string subscriptionId, string action, string error);
}

/// <summary>
/// Retries the collection pauses and resumes Stripe has not confirmed (<see cref="Entitlement.CollectionChangeRequestedAt"/> set), every
/// <see cref="Interval"/>, at background priority (actor <c>system:collection-pause</c>, cause <c>retry</c>). Failures are logged, not audited.
/// </summary>
internal sealed class CollectionPauseJob(IServiceScopeFactory scopes, TimeProvider time, ILogger<CollectionPauseJob> logger) : Background.BackgroundLoop(logger)
{
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    protected override TimeProvider Time => time;

    protected override TimeSpan? InitialDelay => TimeSpan.FromSeconds(5);

    protected override async Task<TimeSpan?> PassAsync(CancellationToken ct)
    {
        await RunAsync(ct);
        return Interval;
    }

    /// <summary>One pass over every tenant with a requested change; returns the outcomes.</summary>
    internal async Task<IReadOnlyList<CollectionOutcome>> RunAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
        var pause = scope.ServiceProvider.GetRequiredService<CollectionPause>();
        var tenants = await db.Entitlements.AsNoTracking().Where(e => e.CollectionChangeRequestedAt != null)
            .Select(e => e.TenantId).Distinct().OrderBy(t => t).ToListAsync(ct);
        var outcomes = new List<CollectionOutcome>();
        foreach (var tenantId in tenants)
        {
            outcomes.AddRange(await pause.SyncAsync(db, tenantId, "system:collection-pause", "retry", StripeCallPriority.Background, auditFailure: false, ct));
        }

        return outcomes;
    }
}
