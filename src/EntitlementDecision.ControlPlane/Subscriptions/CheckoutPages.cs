using System.Text.Encodings.Web;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.Stripe.Api;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Subscriptions;

/// <summary>
/// The pages Stripe sends the customer's browser back to (the defaults of ED_BILLING_SUCCESS_URL, ED_BILLING_CANCEL_URL and
/// ED_BILLING_PORTAL_RETURN_URL), anonymous, plain HTML without scripts. The success page says what Stripe and our own records
/// say of that session (see <see cref="Success"/>), never more. It shows only the plan and status: the session id in the URL is
/// the customer's own.
/// </summary>
internal static class CheckoutPages
{
    public static void MapCheckoutPages(this IEndpointRouteBuilder app)
    {
        app.MapGet("/billing/checkout/success", Success).AllowAnonymous();
        app.MapGet("/billing/checkout/canceled", () => Page("Checkout canceled", "<p>No payment was taken and your plan is unchanged. You can start the checkout again from the product.</p>", refresh: null))
            .AllowAnonymous();
        app.MapGet("/billing/portal/returned", () => Page("Back from the billing portal", "<p>Changes you made in the portal (payment method, invoices, cancellation) reach your account within seconds.</p>", refresh: null))
            .AllowAnonymous();
    }

    /// <summary>How many times the success page refreshes itself (every <see cref="RefreshSeconds"/> s) before it stops and says so.</summary>
    internal const int MaxRefreshes = 30;

    internal const int RefreshSeconds = 2;

    /// <summary>
    /// <c>GET /billing/checkout/success?session_id=cs_...[&amp;n=refreshes so far]</c>: says only what is true. Applied (our stored
    /// <c>checkout.session.completed</c> of that session, processed) -> the plan and status now in force. Otherwise Stripe's session
    /// (<c>GET /v1/checkout/sessions/{id}</c>, a customer call of the request budget, at most 3 s): complete -> pending sync (paid, our
    /// webhook not applied yet; refreshes itself up to <see cref="MaxRefreshes"/> times, then stops and says so); open -> not paid;
    /// expired -> not paid, start again; unknown id -> 404 "unknown"; Stripe unreachable -> "cannot tell yet" (refreshes, bounded).
    /// 400 without a <c>cs_</c> id. Lookups use the partial index <c>ix_stripe_events_checkout_session</c>.
    /// </summary>
    public static async Task<IResult> Success(
        [Microsoft.AspNetCore.Mvc.FromQuery(Name = "session_id")] string? sessionId, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "n")] int? refreshes,
        EntitlementsDbContext db, IStripeBilling stripe, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(sessionId) || !sessionId.StartsWith("cs_", StringComparison.Ordinal) || sessionId.Length > 255)
        {
            return Page("Checkout", "<p>This page needs the <code>session_id</code> Stripe adds to the link.</p>", refresh: null, status: 400);
        }

        var stored = await db.StripeEvents.FromSql(
                $"SELECT * FROM stripe_events WHERE type = 'checkout.session.completed' AND (payload->'data'->'object'->>'id') = {sessionId} ORDER BY received_at DESC LIMIT 1")
            .AsNoTracking().FirstOrDefaultAsync(ct);
        if (stored is { Status: StripeEventRecord.Processed, TenantId: { } tenantId })
        {
            var row = await db.Entitlements.AsNoTracking().FirstOrDefaultAsync(e => e.TenantId == tenantId && e.Environment == (stored.Environment ?? Engine.Identifiers.DefaultEnvironment), ct);
            var plan = HtmlEncoder.Default.Encode(row?.PlanId ?? "-");
            var status = HtmlEncoder.Default.Encode(row?.StripeStatus ?? "-");
            return Page("Your plan is active", $"<p><strong>Plan:</strong> {plan}</p><p><strong>Subscription status:</strong> {status}</p><p>You can close this page.</p>", refresh: null);
        }

        var n = Math.Clamp(refreshes ?? 0, 0, MaxRefreshes);
        var again = n < MaxRefreshes ? $"/billing/checkout/success?session_id={Uri.EscapeDataString(sessionId)}&n={n + 1}" : null;
        global::Stripe.Checkout.Session? session;
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(TimeSpan.FromSeconds(3));
            session = await stripe.GetCheckoutSessionAsync(sessionId, deadline.Token);
        }
        catch (Exception e) when (e is global::Stripe.StripeException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return Waiting("Checking your payment", "<p>We cannot reach Stripe to confirm this checkout right now. Nothing is lost: if you paid, your plan is activated when Stripe tells us.</p>"
                + "<p><strong>Status:</strong> unknown for now</p>", again);
        }

        return session switch
        {
            null => Page("Checkout not found", "<p>Stripe knows no checkout with this id. If you paid, use the link in Stripe's receipt or contact support.</p>"
                + "<p><strong>Status:</strong> unknown</p>", refresh: null, status: 404),
            { Status: "complete" } => Waiting("Payment received, activating your plan", "<p>Stripe confirmed the checkout; your subscription is being synced.</p>"
                + "<p><strong>Status:</strong> pending sync</p>", again),
            { Status: "expired" } => Page("Checkout expired", "<p>This checkout expired before it was paid; nothing was charged. Start the checkout again from the product.</p>"
                + "<p><strong>Status:</strong> expired, not paid</p>", refresh: null),
            _ => Page("Checkout not finished", "<p>This checkout has not been paid; nothing was charged. Go back to Stripe's page to finish it, or start again from the product.</p>"
                + "<p><strong>Status:</strong> open, not paid</p>", refresh: null),
        };
    }

    // A page that refreshes itself while there are refreshes left, else says it stopped.
    private static IResult Waiting(string title, string body, string? again) => again is null
        ? Page(title, body + $"<p>This page stopped refreshing after {MaxRefreshes * RefreshSeconds} s; reload it later to see the plan.</p>", refresh: null)
        : Page(title, body + "<p>This page refreshes itself until it is active.</p>", refresh: again);

    private static IResult Page(string title, string body, string? refresh, int status = 200)
    {
        var head = refresh is null ? "" : $"<meta http-equiv=\"refresh\" content=\"{RefreshSeconds};url={HtmlEncoder.Default.Encode(refresh)}\">";
        var html = $"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{head}<title>{HtmlEncoder.Default.Encode(title)}</title></head>"
            + $"<body><h1>{HtmlEncoder.Default.Encode(title)}</h1>{body}</body></html>";
        return TypedResults.Content(html, "text/html; charset=utf-8", statusCode: status);
    }
}
