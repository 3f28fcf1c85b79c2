using System.Text.Encodings.Web;
using EntitlementDecision.ControlPlane.Data;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Subscriptions;

/// <summary>
/// The pages Stripe sends the customer's browser back to (the defaults of ED_BILLING_SUCCESS_URL, ED_BILLING_CANCEL_URL and
/// ED_BILLING_PORTAL_RETURN_URL), anonymous, plain HTML without scripts. The success page shows the pending-sync state until
/// the <c>checkout.session.completed</c> webhook of that session is applied (it refreshes itself every 2 s meanwhile), then the
/// plan now in force. It shows only the plan and status: the session id in the URL is the customer's own.
/// </summary>
internal static class CheckoutPages
{
    public static void MapCheckoutPages(this IEndpointRouteBuilder app)
    {
        app.MapGet("/billing/checkout/success", Success).AllowAnonymous();
        app.MapGet("/billing/checkout/canceled", () => Page("Checkout canceled", "<p>No payment was taken and your plan is unchanged. You can start the checkout again from the product.</p>", refresh: false))
            .AllowAnonymous();
        app.MapGet("/billing/portal/returned", () => Page("Back from the billing portal", "<p>Changes you made in the portal (payment method, invoices, cancellation) reach your account within seconds.</p>", refresh: false))
            .AllowAnonymous();
    }

    /// <summary><c>GET /billing/checkout/success?session_id=cs_...</c>: pending until the session's webhook is applied, then the plan.</summary>
    public static async Task<IResult> Success([Microsoft.AspNetCore.Mvc.FromQuery(Name = "session_id")] string? sessionId, EntitlementsDbContext db, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(sessionId) || !sessionId.StartsWith("cs_", StringComparison.Ordinal) || sessionId.Length > 255)
        {
            return Page("Checkout", "<p>This page needs the <code>session_id</code> Stripe adds to the link.</p>", refresh: false, status: 400);
        }

        var stored = await db.StripeEvents.FromSql(
                $"SELECT * FROM stripe_events WHERE type = 'checkout.session.completed' AND payload->'data'->'object'->>'id' = {sessionId} ORDER BY received_at DESC LIMIT 1")
            .AsNoTracking().FirstOrDefaultAsync(ct);
        if (stored is not { Status: StripeEventRecord.Processed, TenantId: { } tenantId })
        {
            return Page("Payment received, activating your plan", "<p>Stripe confirmed the checkout; your subscription is being synced. This page refreshes itself until it is active.</p>"
                + "<p><strong>Status:</strong> pending sync</p>", refresh: true);
        }

        var row = await db.Entitlements.AsNoTracking().FirstOrDefaultAsync(e => e.TenantId == tenantId && e.Environment == (stored.Environment ?? Engine.Identifiers.DefaultEnvironment), ct);
        var plan = HtmlEncoder.Default.Encode(row?.PlanId ?? "-");
        var status = HtmlEncoder.Default.Encode(row?.StripeStatus ?? "-");
        return Page("Your plan is active", $"<p><strong>Plan:</strong> {plan}</p><p><strong>Subscription status:</strong> {status}</p><p>You can close this page.</p>", refresh: false);
    }

    private static IResult Page(string title, string body, bool refresh, int status = 200)
    {
        var head = refresh ? "<meta http-equiv=\"refresh\" content=\"2\">" : "";
        var html = $"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">{head}<title>{HtmlEncoder.Default.Encode(title)}</title></head>"
            + $"<body><h1>{HtmlEncoder.Default.Encode(title)}</h1>{body}</body></html>";
        return TypedResults.Content(html, "text/html; charset=utf-8", statusCode: status);
    }
}
