using System.Security.Claims;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Invoices;

/// <summary>
/// An invoice as the API shows it: <c>{ invoice_id, environment, subscription_id, number, status, currency, total, amount_due,
/// amount_paid, amount_remaining (minor units), period_start, period_end, due_date, hosted_invoice_url, invoice_pdf, created }</c>.
/// </summary>
internal sealed record InvoiceDto(
    string InvoiceId, string Environment, string? SubscriptionId, string? Number, string Status, string Currency, long Total, long AmountDue,
    long AmountPaid, long AmountRemaining, DateTimeOffset? PeriodStart, DateTimeOffset? PeriodEnd, DateTimeOffset? DueDate,
    string? HostedInvoiceUrl, string? InvoicePdf, DateTimeOffset Created)
{
    public static InvoiceDto From(InvoiceRecord i) => new(
        i.InvoiceId, i.Environment, i.SubscriptionId, i.Number, i.Status, i.Currency, i.Total, i.AmountDue, i.AmountPaid, i.AmountRemaining,
        i.PeriodStart, i.PeriodEnd, i.DueDate, i.HostedInvoiceUrl, i.InvoicePdf, i.StripeCreated);
}

/// <summary>
/// Stripe invoices kept in our store: <see cref="TrackAsync"/> records the invoice of every applied <c>invoice.*</c> event (newest event
/// wins); <c>GET /billing/invoices</c> (owner, admin: the token's tenant) and <c>GET /tenants/{id}/invoices</c> (operators) list
/// them newest first (<c>?environment=</c>, default production).
/// </summary>
internal static class InvoiceStore
{
    public static void MapInvoices(this IEndpointRouteBuilder app)
    {
        app.MapGet("/billing/invoices", Own).RequireAuthorization(Policies.TenantMember);
        app.MapGet("/tenants/{tenantId}/invoices", (string tenantId, string? environment, EntitlementsDbContext db, CancellationToken ct) => ListAsync(db, tenantId, environment, ct))
            .RequireAuthorization(Policies.Staff);
    }

    /// <summary>
    /// Adds or updates (tracked, not saved) the invoice of an <c>invoice.*</c> event, unless a newer event already set it: an older
    /// event never applies, and one of the same second (Stripe's resolution) only when its status is not earlier in the lifecycle.
    /// </summary>
    public static async Task TrackAsync(EntitlementsDbContext db, global::Stripe.Invoice invoice, string tenantId, string environment, string? subscriptionId, DateTimeOffset eventCreated, DateTimeOffset now, CancellationToken ct)
    {
        var row = await db.Invoices.FirstOrDefaultAsync(i => i.InvoiceId == invoice.Id, ct);
        if (row is not null && (row.LastEventCreated > eventCreated
            || (row.LastEventCreated == eventCreated && Stage(invoice.Status) < Stage(row.Status))))
        {
            return;
        }

        if (row is null)
        {
            row = new InvoiceRecord { InvoiceId = invoice.Id, TenantId = tenantId, Environment = environment, Status = "", Currency = "" };
            db.Invoices.Add(row);
        }

        row.SubscriptionId = subscriptionId ?? row.SubscriptionId;
        row.Number = invoice.Number;
        row.Status = invoice.Status ?? "";
        row.Currency = invoice.Currency ?? "";
        row.Total = invoice.Total;
        row.AmountDue = invoice.AmountDue;
        row.AmountPaid = invoice.AmountPaid;
        row.AmountRemaining = invoice.AmountRemaining;
        row.PeriodStart = Utc(invoice.PeriodStart);
        row.PeriodEnd = Utc(invoice.PeriodEnd);
        row.DueDate = invoice.DueDate is { } due ? Utc(due) : null;
        row.HostedInvoiceUrl = invoice.HostedInvoiceUrl;
        row.InvoicePdf = invoice.InvoicePdf;
        row.StripeCreated = Utc(invoice.Created) ?? eventCreated;
        row.LastEventCreated = eventCreated;
        row.UpdatedAt = now;
    }

    /// <summary>Owner or admin of the token's tenant (members: 403; invoices are billing data).</summary>
    public static async Task<Results<Ok<List<InvoiceDto>>, ProblemHttpResult>> Own(string? environment, ClaimsPrincipal user, EntitlementsDbContext db, CancellationToken ct)
    {
        if (user.FindFirst("role")?.Value is not (Roles.Owner or Roles.Admin))
        {
            return TypedResults.Problem(statusCode: 403, title: "Forbidden", detail: "Invoices are for the tenant's owner and admins.");
        }

        return await ListAsync(db, user.TenantId()!, environment, ct);
    }

    private static async Task<Results<Ok<List<InvoiceDto>>, ProblemHttpResult>> ListAsync(EntitlementsDbContext db, string tenantId, string? environment, CancellationToken ct)
    {
        environment ??= Engine.Identifiers.DefaultEnvironment;
        var rows = await db.Invoices.AsNoTracking().Where(i => i.TenantId == tenantId && i.Environment == environment)
            .OrderByDescending(i => i.StripeCreated).Take(100).ToListAsync(ct);
        return TypedResults.Ok(rows.Select(InvoiceDto.From).ToList());
    }

    // Stripe's invoice lifecycle: draft, open, uncollectible, then paid or void (final): a same-second payment_failed never reopens a paid invoice.
    private static int Stage(string? status) => status switch { "open" => 1, "uncollectible" => 2, "paid" or "void" => 3, _ => 0 };

    // Stripe.net leaves unset timestamps as DateTime.MinValue or the epoch.
    private static DateTimeOffset? Utc(DateTime value) =>
        value <= DateTime.UnixEpoch ? null : new DateTimeOffset(DateTime.SpecifyKind(value, DateTimeKind.Utc));
}
