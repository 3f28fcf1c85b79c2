using StripeException = Stripe.StripeException;
using Subscription = Stripe.Subscription;
using System.Security.Claims;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.ControlPlane.Tenants;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Resolution;
using EntitlementDecision.Stripe.Api;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using EntitlementDecision.ControlPlane.Entitlements;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.Engine;
using static EntitlementDecision.ControlPlane.Http.Problems;
using static EntitlementDecision.ControlPlane.Http.RequestKeys;
using static EntitlementDecision.ControlPlane.Subscriptions.SelfServiceBilling;

namespace EntitlementDecision.ControlPlane.Subscriptions;

/// <summary><c>POST /billing/subscription/change</c> body: the plan to move to and the environment (default <c>production</c>).</summary>
internal sealed record PlanChangeRequest(string? PlanId, string? Environment);

/// <summary>
/// The answer of a plan change: <c>{ change: "upgrade" | "downgrade_scheduled" | "pending_change_cleared", plan_id,
/// previous_plan_id, effective_at (now for an upgrade, the period end for a downgrade), soft_locked (accepted over usage under
/// ED_DOWNGRADE_OVER_USAGE=soft_lock), over_usage: [OverUsageDto], entitlement: EntitlementDto }</c>.
/// </summary>
internal sealed record PlanChangeDto(
    string Change,
    string PlanId,
    string? PreviousPlanId,
    DateTimeOffset? EffectiveAt,
    bool SoftLocked,
    IReadOnlyList<OverUsageDto> OverUsage,
    EntitlementDto Entitlement);

/// <summary>
/// Plan changes of the token's tenant (owner or admin): upgrade at once with prorations, downgrade at period end, cancel and
/// resume. Answers and errors per route: README, "Control plane HTTP API"; Stripe errors via <see cref="StripeProblemDetails.From"/>.
/// </summary>
internal static class PlanChangeEndpoints
{
    /// <summary>Statuses in which the plan may change (not while an invoice is unpaid).</summary>
    private static readonly IReadOnlySet<string> ChangeableStatuses = new HashSet<string>(StringComparer.Ordinal) { "active", "trialing" };

    public static void MapPlanChangeEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/billing/subscription/change", Change).RequireAuthorization(OwnerOrAdminPolicy);
        app.MapDelete("/billing/subscription/change", CancelPendingChange).RequireAuthorization(OwnerOrAdminPolicy);
        app.MapPost("/billing/subscription/cancel", Cancel).RequireAuthorization(OwnerOrAdminPolicy);
        app.MapPost("/billing/subscription/resume", Resume).RequireAuthorization(OwnerOrAdminPolicy);
    }

    public static async Task<Results<Ok<PlanChangeDto>, ProblemHttpResult>> Change(
        PlanChangeRequest? body, HttpContext http, ClaimsPrincipal user, EntitlementsDbContext db, PlanCatalog catalog, DunningPolicy dunning, IStripeBilling stripe,
        SubscriptionSync sync, RedisConnection redis, IOptions<SelfServiceBillingOptions> options, OutboxSignal signal, TimeProvider time, CancellationToken ct)
    {
        var key = RequestKey(http, out var keyProblem);
        if (keyProblem is not null)
        {
            return keyProblem;
        }

        var environment = body?.Environment ?? Identifiers.DefaultEnvironment;
        if (InvalidEnvironment(environment) is { } invalid)
        {
            return invalid;
        }

        if (string.IsNullOrWhiteSpace(body?.PlanId))
        {
            return BadRequest("plan_id is required.");
        }

        var tenantId = user.TenantId()!;
        var (_, row, problem) = await LoadAsync(db, tenantId, environment, ct);
        if (problem is not null)
        {
            return problem;
        }

        if (row!.StripeSubscriptionId is not { } subscriptionId || row.StripeStatus is not { } status || !ChangeableStatuses.Contains(status))
        {
            return Conflict(row.StripeSubscriptionId is null || row.StripeStatus is null or "canceled" or "incomplete_expired"
                ? "You have no subscription to change: subscribe with POST /billing/checkout."
                : $"Your subscription is {row.StripeStatus}: plans change only while it is active or trialing.");
        }

        var cause = Cause(http, key);
        var now = time.GetUtcNow();
        if (body.PlanId == row.PlanId)
        {
            if (row.PendingPlanId is null)
            {
                return Conflict($"Your subscription is already on plan '{row.PlanId}'.");
            }

            var cleared = await UnderLockAsync(db, row, signal, locked =>
                PlanChanges.SetPending(db, locked, null, null, user.Actor(), "billing.pending_change_canceled", cause, new { KeptPlanId = row.PlanId }, now), ct);
            return TypedResults.Ok(new PlanChangeDto("pending_change_cleared", row.PlanId!, row.PlanId, null, false, [], await ViewAsync(db, catalog, dunning, row, time, ct)));
        }

        if (PurchasablePrice(catalog, body.PlanId, out var target) is not { } targetPrice)
        {
            return BadRequest(target is null
                ? $"Plan '{body.PlanId}' is not in the catalog."
                : $"Plan '{target.Id}' cannot be subscribed to (not active, not purchasable or without a Stripe price).");
        }

        var currentPrice = row.PlanId is { } currentPlanId && catalog.TryGetPlan(currentPlanId, out var current) ? PrimaryPrice(current) : null;
        if (PlanChanges.MonthlyAmount(targetPrice) > PlanChanges.MonthlyAmount(currentPrice))
        {
            return await UpgradeAsync(row, subscriptionId, target!, targetPrice, key, cause, user, db, catalog, dunning, stripe, sync, signal, time, ct);
        }

        // A downgrade: at the period's end, and not below current usage unless the policy soft-locks.
        if (row.CurrentPeriodEnd is not { } effectiveAt)
        {
            return Conflict("The subscription's current period end is not known yet; try again when Stripe's events arrived.");
        }

        IReadOnlyList<OverUsageDto> over;
        try
        {
            over = await PlanChanges.OverUsageAsync(redis, target!, row, now, ct);
        }
        catch (Exception e) when (e is TimeoutException or StackExchange.Redis.RedisException)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Usage unavailable",
                detail: "Current usage could not be read, so the downgrade could not be checked against the lower plan's limits; try again later.");
        }

        var softLocked = over.Count > 0;
        if (softLocked && options.Value.OverUsage == DowngradeOverUsagePolicy.Refuse)
        {
            return Conflict(
                string.Join("; ", over.Select(o => o.Describe(target!.Id))),
                new Dictionary<string, object?> { ["plan_id"] = target!.Id, ["over_usage"] = over });
        }

        await UnderLockAsync(db, row, signal, locked =>
            PlanChanges.SetPending(db, locked, target!.Id, effectiveAt, user.Actor(), "billing.downgrade_scheduled", cause,
                new { FromPlanId = row.PlanId, ToPlanId = target.Id, PriceId = targetPrice.Id, SoftLocked = softLocked, OverUsage = over }, now,
                new PlanChangeMade(PlanChangeKind.DowngradeScheduled)), ct);
        return TypedResults.Ok(new PlanChangeDto("downgrade_scheduled", target!.Id, row.PlanId, effectiveAt, softLocked, over, await ViewAsync(db, catalog, dunning, row, time, ct)));
    }

    public static async Task<Results<Ok<EntitlementDto>, ProblemHttpResult>> CancelPendingChange(
        string? environment, HttpContext http, ClaimsPrincipal user, EntitlementsDbContext db, PlanCatalog catalog, DunningPolicy dunning, OutboxSignal signal, TimeProvider time, CancellationToken ct)
    {
        environment ??= Identifiers.DefaultEnvironment;
        if (InvalidEnvironment(environment) is { } invalid)
        {
            return invalid;
        }

        var (_, row, problem) = await LoadAsync(db, user.TenantId()!, environment, ct);
        if (problem is not null)
        {
            return problem;
        }

        var pending = row!.PendingPlanId;
        var cleared = await UnderLockAsync(db, row, signal, locked =>
            PlanChanges.SetPending(db, locked, null, null, user.Actor(), "billing.pending_change_canceled", Cause(http, null), new { CanceledPlanId = locked.PendingPlanId }, time.GetUtcNow()), ct);
        return cleared
            ? TypedResults.Ok(await ViewAsync(db, catalog, dunning, row, time, ct))
            : TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No pending plan change", detail: $"There is no pending plan change in '{environment}'{(pending is null ? "" : " any more")}.");
    }

    public static Task<Results<Ok<EntitlementDto>, ProblemHttpResult>> Cancel(
        string? environment, HttpContext http, ClaimsPrincipal user, EntitlementsDbContext db, PlanCatalog catalog, DunningPolicy dunning, IStripeBilling stripe,
        SubscriptionSync sync, OutboxSignal signal, TimeProvider time, CancellationToken ct) =>
        SetCancelAsync(true, environment, http, user, db, catalog, dunning, stripe, sync, signal, time, ct);

    public static Task<Results<Ok<EntitlementDto>, ProblemHttpResult>> Resume(
        string? environment, HttpContext http, ClaimsPrincipal user, EntitlementsDbContext db, PlanCatalog catalog, DunningPolicy dunning, IStripeBilling stripe,
        SubscriptionSync sync, OutboxSignal signal, TimeProvider time, CancellationToken ct) =>
        SetCancelAsync(false, environment, http, user, db, catalog, dunning, stripe, sync, signal, time, ct);

    /// <summary>
    /// Cancel at period end (<paramref name="cancel"/>) or resume: Stripe <c>cancel_at_period_end</c>, then Stripe's returned subscription
    /// applied to the row. Cancel clears a pending change (the subscription ends instead). Already in the asked state: 200, no Stripe call.
    /// </summary>
    private static async Task<Results<Ok<EntitlementDto>, ProblemHttpResult>> SetCancelAsync(
        bool cancel, string? environment, HttpContext http, ClaimsPrincipal user, EntitlementsDbContext db, PlanCatalog catalog, DunningPolicy dunning, IStripeBilling stripe,
        SubscriptionSync sync, OutboxSignal signal, TimeProvider time, CancellationToken ct)
    {
        var key = RequestKey(http, out var keyProblem);
        if (keyProblem is not null)
        {
            return keyProblem;
        }

        environment ??= Identifiers.DefaultEnvironment;
        if (InvalidEnvironment(environment) is { } invalid)
        {
            return invalid;
        }

        var (_, row, problem) = await LoadAsync(db, user.TenantId()!, environment, ct);
        if (problem is not null)
        {
            return problem;
        }

        if (row!.StripeSubscriptionId is not { } subscriptionId || row.StripeStatus is not { } status || !LiveStatuses.Contains(status))
        {
            return Conflict(cancel ? "You have no live subscription to cancel." : "You have no live subscription to resume: subscribe with POST /billing/checkout.");
        }

        if (row.CancelAtPeriodEnd == cancel && (!cancel || row.PendingPlanId is null))
        {
            return TypedResults.Ok(await ViewAsync(db, catalog, dunning, row, time, ct));
        }

        var now = time.GetUtcNow();
        if (!cancel && row.CurrentPeriodEnd is { } end && end <= now)
        {
            return Conflict("The period already ended: the subscription cannot be resumed; subscribe again with POST /billing/checkout.");
        }

        var cause = Cause(http, key);
        Subscription updated;
        try
        {
            updated = await stripe.UpdateSubscriptionAsync(
                subscriptionId,
                new UpdateSubscriptionRequest(CancelAtPeriodEnd: cancel),
                OperationId($"{(cancel ? "cancel" : "resume")}:{row.TenantId}:{row.Environment}:{subscriptionId}", key, $"v{row.Version}"),
                ct);
        }
        catch (StripeException e)
        {
            return TypedResults.Problem(StripeProblemDetails.From(e));
        }

        var rejected = (string?)null;
        await UnderLockAsync(db, row, signal, locked =>
        {
            var before = BillingChangeAuditView.Of(locked);
            var applied = PlanChanges.ApplyFromStripe(sync, locked, updated, user.Actor(), cause, now);
            if (applied.IsRejected)
            {
                rejected = applied.Outcome;
            }

            if (cancel && locked.PendingPlanId is not null)
            {
                PlanChanges.SetPending(db, locked, null, null, user.Actor(), "billing.pending_change_canceled", cause, new { Reason = "subscription cancels at period end" }, now);
            }

            AuditLog.Add(db, locked.TenantId, locked.Environment, now, user.Actor(), cancel ? "billing.cancel_at_period_end" : "billing.cancel_resumed",
                before, new { State = BillingChangeAuditView.Of(locked), SubscriptionId = subscriptionId, StripeCancelAtPeriodEnd = updated.CancelAtPeriodEnd }, cause,
                cancel ? new PlanChangeMade(PlanChangeKind.CancelScheduled) : null);
            return true;
        }, ct);
        return rejected is null
            ? TypedResults.Ok(await ViewAsync(db, catalog, dunning, row, time, ct))
            : TypedResults.Problem(statusCode: StatusCodes.Status502BadGateway, title: "Unexpected subscription from Stripe", detail: rejected);
    }

    private static async Task<Results<Ok<PlanChangeDto>, ProblemHttpResult>> UpgradeAsync(
        Entitlement row, string subscriptionId, Plan target, CatalogPrice targetPrice, string? key, string cause, ClaimsPrincipal user,
        EntitlementsDbContext db, PlanCatalog catalog, DunningPolicy dunning, IStripeBilling stripe, SubscriptionSync sync, OutboxSignal signal, TimeProvider time, CancellationToken ct)
    {
        Subscription updated;
        try
        {
            var subscription = await stripe.GetSubscriptionAsync(subscriptionId, ct);
            if (subscription is null || PlanChanges.PlanItem(catalog, subscription) is not { } item)
            {
                return Conflict($"Stripe has no subscription {subscriptionId} with an item to change; an operator should reconcile this tenant.");
            }

            updated = await stripe.UpdateSubscriptionAsync(
                subscriptionId,
                new UpdateSubscriptionRequest(item.Id, targetPrice.Id, PlanChanges.UpgradeProration, Metadata: new Dictionary<string, string> { ["plan_id"] = target.Id }),
                OperationId($"upgrade:{row.TenantId}:{row.Environment}:{subscriptionId}:{target.Id}", key, $"v{row.Version}"),
                ct);
        }
        catch (StripeException e)
        {
            return TypedResults.Problem(StripeProblemDetails.From(e));
        }

        var now = time.GetUtcNow();
        string? rejected = null;
        await UnderLockAsync(db, row, signal, locked =>
        {
            var before = BillingChangeAuditView.Of(locked);
            var applied = PlanChanges.ApplyFromStripe(sync, locked, updated, user.Actor(), cause, now);
            if (applied.IsRejected)
            {
                rejected = applied.Outcome;
            }

            if (locked.PendingPlanId is not null)
            {
                PlanChanges.SetPending(db, locked, null, null, user.Actor(), "billing.pending_change_canceled", cause, new { Reason = $"upgraded to '{target.Id}'" }, now);
            }

            AuditLog.Add(db, locked.TenantId, locked.Environment, now, user.Actor(), "billing.plan_upgraded", before,
                new { State = BillingChangeAuditView.Of(locked), FromPlanId = row.PlanId, ToPlanId = target.Id, PriceId = targetPrice.Id, Proration = PlanChanges.UpgradeProration, SubscriptionId = subscriptionId },
                cause, new PlanChangeMade(PlanChangeKind.Upgrade));
            return true;
        }, ct);
        if (rejected is not null)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status502BadGateway, title: "Unexpected subscription from Stripe", detail: rejected);
        }

        return TypedResults.Ok(new PlanChangeDto("upgrade", target.Id, row.PlanId, now, false, [], await ViewAsync(db, catalog, dunning, row, time, ct)));
    }

    /// <summary>Runs <paramref name="change"/> on the row locked FOR UPDATE in a transaction; commits and wakes the outbox publisher. Returns what <paramref name="change"/> returned.</summary>
    private static async Task<bool> UnderLockAsync(EntitlementsDbContext db, Entitlement row, OutboxSignal signal, Func<Entitlement, bool> change, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var locked = await db.LockEntitlementAsync(row.TenantId, row.Environment, ct)
            ?? throw new InvalidOperationException($"entitlement {row.TenantId}/{row.Environment} disappeared");
        var result = change(locked);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        signal.Notify();
        return result;
    }

    /// <summary>The row as stored now, resolved (<see cref="EntitlementDto"/>).</summary>
    private static async Task<EntitlementDto> ViewAsync(EntitlementsDbContext db, PlanCatalog catalog, DunningPolicy policy, Entitlement row, TimeProvider time, CancellationToken ct)
    {
        var current = await db.Entitlements.AsNoTracking().SingleAsync(e => e.TenantId == row.TenantId && e.Environment == row.Environment, ct);
        var tenant = await db.Tenants.AsNoTracking().SingleAsync(t => t.TenantId == row.TenantId, ct);
        return EntitlementDto.From(catalog, current, Tenant.Blocks(tenant.Status), time.GetUtcNow(), policy);
    }
}
