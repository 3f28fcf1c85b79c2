using StripeException = Stripe.StripeException;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Stripe.Api;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace EntitlementDecision.ControlPlane.Subscriptions;

/// <summary>What one pass of <see cref="PendingPlanChangeJob"/> did: changes applied, dropped (no longer possible) and failed (retried next pass).</summary>
internal sealed record PendingChangeRun(int Applied, int Dropped, int Failed);

/// <summary>
/// Applies due pending plan changes (downgrades scheduled by <c>POST /billing/subscription/change</c>): every
/// <c>ED_PLAN_CHANGE_INTERVAL_SECONDS</c> (default 60; 0 = off), each row whose <see cref="Entitlement.PendingPlanEffectiveAt"/> has
/// passed gets its Stripe subscription item moved to the pending plan's price with <c>proration_behavior=none</c> (operation id
/// <c>pending-change:{tenant}:{environment}:{subscription}:{plan}:{effective_at}</c>, so a retry after a crash repeats the same
/// Stripe request), then Stripe's returned subscription is applied to the row, the pending change cleared and the change audited
/// (<c>billing.downgrade_applied</c>, actor <c>scheduler</c>). A change that can no longer be made (the plan left the catalog or is
/// inactive, the subscription is gone or not active/trialing) is dropped and audited <c>billing.pending_change_dropped</c>;
/// a Stripe error leaves it pending for the next pass.
/// </summary>
internal sealed partial class PendingPlanChangeJob(
    IServiceScopeFactory scopes,
    IOptions<SelfServiceBillingOptions> options,
    OutboxSignal signal,
    TimeProvider time,
    ILogger<PendingPlanChangeJob> logger) : Background.BackgroundLoop(logger)
{
    protected override TimeProvider Time => time;

    protected override TimeSpan? InitialDelay => options.Value.JobInterval > TimeSpan.Zero ? TimeSpan.Zero : null;

    /// <summary>Actor of the changes this job makes.</summary>
    public const string Actor = "scheduler";

    /// <summary>Rows handled per pass.</summary>
    public const int BatchSize = 100;

    protected override async Task<TimeSpan?> PassAsync(CancellationToken stoppingToken)
    {
        // Scheduled: after customer calls and webhook re-reads in the Stripe request budget.
        using var priority = EntitlementDecision.Stripe.Api.StripeCallContext.Use(EntitlementDecision.Stripe.Api.StripeCallPriority.Background);
        var run = await RunDueAsync(time.GetUtcNow(), stoppingToken);
        if (run.Applied + run.Dropped + run.Failed > 0)
        {
            LogRun(logger, run.Applied, run.Dropped, run.Failed);
        }

        return options.Value.JobInterval;
    }

    /// <summary>One pass: applies the pending changes due at <paramref name="now"/> (at most <see cref="BatchSize"/>, earliest first).</summary>
    public async Task<PendingChangeRun> RunDueAsync(DateTimeOffset now, CancellationToken ct) => await RunDueAsync(now, null, ct);

    /// <summary>One pass over the changes due at <paramref name="now"/> of <paramref name="onlyTenant"/> only (all tenants when null).</summary>
    public async Task<PendingChangeRun> RunDueAsync(DateTimeOffset now, string? onlyTenant, CancellationToken ct)
    {
        List<(string TenantId, string Environment)> due;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
            due = (await db.Entitlements.AsNoTracking()
                    .Where(e => e.PendingPlanId != null && e.PendingPlanEffectiveAt <= now && (onlyTenant == null || e.TenantId == onlyTenant))
                    .OrderBy(e => e.PendingPlanEffectiveAt)
                    .Take(BatchSize)
                    .Select(e => new { e.TenantId, e.Environment })
                    .ToListAsync(ct))
                .Select(e => (e.TenantId, e.Environment)).ToList();
        }

        int applied = 0, dropped = 0, failed = 0;
        foreach (var (tenantId, environment) in due)
        {
            await using var scope = scopes.CreateAsyncScope();
            try
            {
                switch (await ApplyOneAsync(scope.ServiceProvider, tenantId, environment, now, ct))
                {
                    case true: applied++; break;
                    case false: dropped++; break;
                    default: break;
                }
            }
            catch (StripeException e)
            {
                failed++;
                LogStripeFailed(logger, tenantId, environment, e.Status() ?? 0, e.StripeError?.Type);
            }
        }

        return new PendingChangeRun(applied, dropped, failed);
    }

    /// <summary>true = applied, false = dropped, null = nothing due any more (changed meanwhile).</summary>
    private async Task<bool?> ApplyOneAsync(IServiceProvider services, string tenantId, string environment, DateTimeOffset now, CancellationToken ct)
    {
        var db = services.GetRequiredService<EntitlementsDbContext>();
        var catalog = services.GetRequiredService<PlanCatalog>();
        var stripe = services.GetRequiredService<IStripeBilling>();
        var sync = services.GetRequiredService<SubscriptionSync>();
        var row = await db.Entitlements.AsNoTracking().SingleAsync(e => e.TenantId == tenantId && e.Environment == environment, ct);
        if (row.PendingPlanId is not { } planId || row.PendingPlanEffectiveAt is not { } effectiveAt || effectiveAt > now)
        {
            return null;
        }

        var cause = $"pending_change:{planId}@{effectiveAt.UtcDateTime:O}";
        var price = SelfServiceBilling.PurchasablePrice(catalog, planId, out _);
        var subscription = row.StripeSubscriptionId is { } id ? await stripe.GetSubscriptionAsync(id, ct) : null;
        var item = subscription is null ? null : PlanChanges.PlanItem(catalog, subscription);
        var reason = price is null ? $"plan '{planId}' is no longer purchasable"
            : subscription is null ? "the subscription is not in Stripe"
            : subscription.Status is not ("active" or "trialing") ? $"the subscription is {subscription.Status}"
            : item is null ? "the subscription has no item"
            : null;
        if (reason is not null)
        {
            await UnderLockAsync(db, row, locked =>
                locked.PendingPlanId == planId && PlanChanges.SetPending(db, locked, null, null, Actor, "billing.pending_change_dropped", cause, new { PlanId = planId, Reason = reason }, now), ct);
            LogDropped(logger, tenantId, environment, planId, reason);
            return false;
        }

        var updated = item!.Price.Id == price!.Id
            ? subscription!
            : await stripe.UpdateSubscriptionAsync(
                subscription!.Id,
                new UpdateSubscriptionRequest(item.Id, price.Id, PlanChanges.DowngradeProration, Metadata: new Dictionary<string, string> { ["plan_id"] = planId }),
                $"pending-change:{tenantId}:{environment}:{subscription.Id}:{planId}:{effectiveAt.ToUnixTimeSeconds()}",
                ct);
        await UnderLockAsync(db, row, locked =>
        {
            var before = BillingChangeAuditView.Of(locked);
            PlanChanges.ApplyFromStripe(sync, locked, updated, Actor, cause, now);
            if (locked.PendingPlanId == planId && locked.PendingPlanEffectiveAt == effectiveAt)
            {
                locked.PendingPlanId = null;
                locked.PendingPlanEffectiveAt = null;
                EntitlementChanges.Bump(db, locked, now);
            }

            AuditLog.Add(db, tenantId, environment, now, Actor, "billing.downgrade_applied", before,
                new { State = BillingChangeAuditView.Of(locked), ToPlanId = planId, PriceId = price.Id, Proration = PlanChanges.DowngradeProration, SubscriptionId = updated.Id }, cause, new PlanChangeMade(PlanChangeKind.Downgrade));
            return true;
        }, ct);
        return true;
    }

    private async Task UnderLockAsync(EntitlementsDbContext db, Entitlement row, Func<Entitlement, bool> change, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var locked = await db.LockEntitlementAsync(row.TenantId, row.Environment, ct)
            ?? throw new InvalidOperationException($"entitlement {row.TenantId}/{row.Environment} disappeared");
        if (change(locked))
        {
            await db.SaveChangesAsync(ct);
        }

        await tx.CommitAsync(ct);
        signal.Notify();
    }

    [LoggerMessage(EventId = 1300, Level = LogLevel.Information, Message = "Pending plan changes: {Applied} applied, {Dropped} dropped, {Failed} failed (retried next pass)")]
    private static partial void LogRun(ILogger logger, int applied, int dropped, int failed);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Warning, Message = "Pending plan change of {TenantId}/{Environment}: Stripe answered HTTP {Status} ({Type}); retried next pass")]
    private static partial void LogStripeFailed(ILogger logger, string tenantId, string environment, int status, string? type);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning, Message = "Pending plan change of {TenantId}/{Environment} to '{PlanId}' dropped: {Reason}")]
    private static partial void LogDropped(ILogger logger, string tenantId, string environment, string planId, string reason);
}
