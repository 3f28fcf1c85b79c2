using StripeException = Stripe.StripeException;
using System.Security.Claims;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.ControlPlane.Tenants;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Stripe;
using EntitlementDecision.Stripe.Api;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.Engine;
using static EntitlementDecision.ControlPlane.Http.Problems;
using static EntitlementDecision.ControlPlane.Http.RequestKeys;
using static EntitlementDecision.ControlPlane.Subscriptions.SelfServiceBilling;

namespace EntitlementDecision.ControlPlane.Subscriptions;

/// <summary><c>POST /billing/checkout</c> body: the plan to buy and the environment (default <c>production</c>).</summary>
internal sealed record CheckoutRequest(string? PlanId, string? Environment);

/// <summary><c>POST /billing/portal</c> body (optional): the environment (default <c>production</c>).</summary>
internal sealed record PortalRequest(string? Environment);

/// <summary>A Stripe-hosted session to send the customer to: Stripe's id (<c>cs_...</c> or <c>bps_...</c>) and its <c>url</c>.</summary>
internal sealed record SessionDto(string Id, string? Url);

/// <summary>
/// Self-service billing for the owner or an admin of the token's tenant (members: 403; no token: 401; the tenant always comes
/// from the token, never from the body): <c>POST /billing/checkout</c> and <c>POST /billing/portal</c> here, the plan changes in
/// <see cref="PlanChangeEndpoints"/>. Every call is audited (actor <c>role:sub</c>, cause <c>request:&lt;Idempotency-Key or
/// request id&gt;</c>). Stripe's errors are answered with <see cref="StripeProblemDetails.From"/>.
/// <para>Retries never create a second Stripe object (<see cref="Http.RequestKeys.OperationId"/>): an <c>Idempotency-Key</c> request header (1-200
/// printable ASCII characters) derives the Stripe idempotency key; without one, it derives from the state the request acts on.</para>
/// </summary>
internal static class CheckoutEndpoints
{
    public static void MapSelfServiceBillingEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/billing/checkout", Checkout).RequireAuthorization(OwnerOrAdminPolicy);
        app.MapPost("/billing/portal", Portal).RequireAuthorization(OwnerOrAdminPolicy);
    }

    /// <summary>
    /// <c>POST /billing/checkout</c> <c>{ "plan_id": "pro", "environment": "production" }</c> → 200 <c>{ id, url }</c> of a Stripe
    /// Checkout Session (mode subscription, the plan's price, the tenant's Stripe customer, client_reference_id = tenant id,
    /// metadata tenant_id/environment/plan_id on the session and the subscription, the configured success/cancel URLs, the plan's
    /// trial when the tenant never had one).
    /// <list type="bullet">
    /// <item>400: plan_id missing or unknown, plan not active, not purchasable or without a Stripe price; bad environment or Idempotency-Key.</item>
    /// <item>404: no tenant or no entitlement row in the environment. 409: tenant suspended; a live subscription exists (active,
    /// trialing, past_due, unpaid, paused: change plans with <c>POST /billing/subscription/change</c> instead).</item>
    /// <item>Stripe errors: <see cref="StripeProblemDetails.From"/> (502/503/4xx).</item>
    /// </list>
    /// The Stripe customer is created once per (tenant, environment) (operation id <c>customer:{tenant}:{environment}</c>, stored on
    /// the entitlement row, audited <c>billing.customer_created</c>); the session is audited <c>billing.checkout_session_created</c>.
    /// </summary>
    public static async Task<Results<Ok<SessionDto>, ProblemHttpResult>> Checkout(
        CheckoutRequest? body, HttpContext http, ClaimsPrincipal user, EntitlementsDbContext db, PlanCatalog catalog, IStripeBilling stripe,
        IOptions<SelfServiceBillingOptions> options, OutboxSignal signal, TimeProvider time, CancellationToken ct)
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

        if (PurchasablePrice(catalog, body.PlanId, out var plan) is not { } price)
        {
            return BadRequest(plan is null
                ? $"Plan '{body.PlanId}' is not in the catalog."
                : $"Plan '{plan.Id}' cannot be bought: it is {(plan.Active ? "" : "not active, ")}{(plan.Purchasable ? "" : "not purchasable, ")}{(plan.Prices.Count == 0 ? "without a Stripe price" : "")}".TrimEnd(',', ' ') + ".");
        }

        var tenantId = user.TenantId()!;
        var (tenant, row, problem) = await LoadAsync(db, tenantId, environment, ct);
        if (problem is not null)
        {
            return problem;
        }

        if (row!.StripeStatus is { } status && LiveStatuses.Contains(status))
        {
            return Conflict(row.PlanId == plan!.Id
                ? $"Your subscription is already on plan '{plan.Id}' (status {status})."
                : $"You already have a subscription (plan '{row.PlanId}', status {status}): change plans with POST /billing/subscription/change.");
        }

        try
        {
            var customerId = row.StripeCustomerId ?? await CreateCustomerAsync(db, stripe, tenant!, row, user, Cause(http, key), time, ct);
            signal.Notify();
            var trialDays = plan!.TrialDays > 0 && !await HadTrialAsync(stripe, row, customerId, ct) ? plan.TrialDays : 0;
            var o = options.Value;
            var request = new CreateCheckoutSessionRequest(
                tenantId, environment, price.Id, o.SuccessUrl, o.CancelUrl, CustomerId: customerId,
                TrialPeriodDays: trialDays > 0 ? trialDays : null,
                Metadata: new Dictionary<string, string> { ["plan_id"] = plan.Id });
            // Without a key, one session per plan and subscription cycle: the row's subscription id changes with each new subscription.
            var operation = OperationId($"checkout:{tenantId}:{environment}:{plan.Id}", key, row.StripeSubscriptionId ?? "none");
            var session = await stripe.CreateCheckoutSessionAsync(request, operation, ct);
            if (session.Status == "expired")
            {
                // Stripe replayed a session that expired since: the next one, derived from it, so its retries converge too.
                session = await stripe.CreateCheckoutSessionAsync(request, $"{operation}:after:{session.Id}", ct);
            }

            AuditLog.Add(db, tenantId, environment, time.GetUtcNow(), user.Actor(), Replayed(session) ? "billing.checkout_session_returned" : "billing.checkout_session_created", null,
                new { SessionId = session.Id, PlanId = plan.Id, PriceId = price.Id, CustomerId = customerId, TrialDays = trialDays },
                Cause(http, key), Replayed(session) ? null : new CheckoutSessionCreated(session.Id, plan.Id));
            await db.SaveChangesAsync(ct);
            return TypedResults.Ok(new SessionDto(session.Id, session.Url));
        }
        catch (StripeException e)
        {
            return TypedResults.Problem(StripeProblemDetails.From(e));
        }
    }

    /// <summary>
    /// <c>POST /billing/portal</c> (body optional: <c>{ "environment": "production" }</c>) → 200 <c>{ id, url }</c> of a Stripe customer
    /// portal session for the tenant's Stripe customer, returning to <c>ED_BILLING_PORTAL_RETURN_URL</c>. 409 when the tenant has no
    /// Stripe customer yet (start with <c>POST /billing/checkout</c>) or is suspended; 404 without tenant or entitlement row; Stripe
    /// errors via <see cref="StripeProblemDetails.From"/>. Audited <c>billing.portal_session_created</c>.
    /// </summary>
    public static async Task<Results<Ok<SessionDto>, ProblemHttpResult>> Portal(
        PortalRequest? body, HttpContext http, ClaimsPrincipal user, EntitlementsDbContext db, IStripeBilling stripe,
        IOptions<SelfServiceBillingOptions> options, TimeProvider time, CancellationToken ct)
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

        var tenantId = user.TenantId()!;
        var (_, row, problem) = await LoadAsync(db, tenantId, environment, ct);
        if (problem is not null)
        {
            return problem;
        }

        if (row!.StripeCustomerId is not { } customerId)
        {
            return Conflict($"Your tenant has no Stripe customer in '{environment}' yet: subscribe with POST /billing/checkout first.");
        }

        try
        {
            // Without a key, one portal session per customer and 5 minutes (a portal session is short-lived; Stripe answers a retry with the same one).
            var window = time.GetUtcNow().ToUnixTimeSeconds() / 300;
            var session = await stripe.CreatePortalSessionAsync(
                new CreatePortalSessionRequest(customerId, options.Value.PortalReturnUrl),
                OperationId($"portal:{tenantId}:{environment}", key, $"{customerId}:{window}"),
                ct);
            AuditLog.Add(db, tenantId, environment, time.GetUtcNow(), user.Actor(), Replayed(session) ? "billing.portal_session_returned" : "billing.portal_session_created", null,
                new { SessionId = session.Id, CustomerId = customerId }, Cause(http, key));
            await db.SaveChangesAsync(ct);
            return TypedResults.Ok(new SessionDto(session.Id, session.Url));
        }
        catch (StripeException e)
        {
            return TypedResults.Problem(StripeProblemDetails.From(e));
        }
    }

    /// <summary>True when Stripe answered with the saved result of an earlier request of the same idempotency key (<c>Idempotent-Replayed: true</c>).</summary>
    internal static bool Replayed(global::Stripe.IStripeEntity entity) =>
        entity is global::Stripe.StripeEntity { StripeResponse: { } r } && r.Headers is { } h && h.TryGetValues("Idempotent-Replayed", out var v) && v.Contains("true");

    /// <summary>
    /// Creates the Stripe customer of (tenant, environment) with operation id <c>customer:{tenant}:{environment}</c> (so retries and
    /// concurrent checkouts get the same customer from Stripe), then stores it on the row under its lock unless another request
    /// stored one first (that one is kept and returned). Audited <c>billing.customer_created</c>; the version is bumped (outbox).
    /// </summary>
    private static async Task<string> CreateCustomerAsync(
        EntitlementsDbContext db, IStripeBilling stripe, Tenant tenant, Entitlement row, ClaimsPrincipal user, string cause, TimeProvider time, CancellationToken ct)
    {
        var customer = await stripe.CreateCustomerAsync(
            new CreateCustomerRequest(Name: tenant.Name, Metadata: new Dictionary<string, string> { ["tenant_id"] = row.TenantId, ["environment"] = row.Environment }),
            $"customer:{row.TenantId}:{row.Environment}",
            ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var locked = await db.LockEntitlementAsync(row.TenantId, row.Environment, ct)
            ?? throw new InvalidOperationException($"entitlement {row.TenantId}/{row.Environment} disappeared");
        if (locked.StripeCustomerId is { } existing)
        {
            return existing;
        }

        var before = AuditLog.View(locked);
        var now = time.GetUtcNow();
        locked.StripeCustomerId = customer.Id;
        EntitlementChanges.Bump(db, locked, now);
        AuditLog.EntitlementChange(db, locked, before, now, user.Actor(), "billing.customer_created", cause);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return customer.Id;
    }

    /// <summary>
    /// True when the tenant had a trial in this environment: its row is trialing, or any subscription of its Stripe customer (any
    /// status, canceled included) has a <c>trial_start</c>. A tenant gets a plan's trial days only once.
    /// </summary>
    private static async Task<bool> HadTrialAsync(IStripeBilling stripe, Entitlement row, string customerId, CancellationToken ct)
    {
        if (row.StripeStatus == "trialing")
        {
            return true;
        }

        await foreach (var subscription in stripe.ListSubscriptionsAsync(customerId, "all", null, ct))
        {
            if (StripeSubscriptionMapper.Utc(subscription.TrialStart) is not null)
            {
                return true;
            }
        }

        return false;
    }
}
