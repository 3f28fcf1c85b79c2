using System.Security.Claims;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Webhooks;

/// <summary>
/// <c>GET /billing/webhooks/stats</c>: <c>since_start</c> = in-process counters (received, verified, rejected_signature,
/// rejected_parse, rejected_too_large, rate_limited, stored, duplicate, processed, retried, failed) and <c>stored</c> = durable
/// counts from <c>stripe_events</c>: events by status, by outcome, deliveries and duplicate deliveries.
/// </summary>
internal sealed record WebhookStatsDto(IReadOnlyDictionary<string, long> SinceStart, StoredWebhookStats Stored);

/// <summary>Durable counts: <c>events</c> stored, <c>pending</c>, <c>processed</c>, <c>failed</c>, <c>deliveries</c> (all deliveries
/// of stored events), <c>duplicates</c> (deliveries beyond the first), <c>by_outcome</c> (processed events by outcome).</summary>
internal sealed record StoredWebhookStats(long Events, long Pending, long Processed, long Failed, long Deliveries, long Duplicates, IReadOnlyDictionary<string, long> ByOutcome);

/// <summary>A stored event without its payload: id, type, Stripe's created, received_at, status, outcome, tenant, attempts, next_attempt_at, last_error, processed_at, deliveries.</summary>
internal sealed record StripeEventDto(
    string EventId, string Type, DateTimeOffset StripeCreated, DateTimeOffset ReceivedAt, string Status, string? Outcome, string? TenantId, string? Environment,
    int Attempts, DateTimeOffset NextAttemptAt, string? LastError, DateTimeOffset? ProcessedAt, int Deliveries)
{
    public static StripeEventDto From(StripeEventRecord r) =>
        new(r.EventId, r.Type, r.StripeCreated, r.ReceivedAt, r.Status, r.Outcome, r.TenantId, r.Environment, r.Attempts, r.NextAttemptAt, r.LastError, r.ProcessedAt, r.Deliveries);
}

/// <summary><c>GET /billing/webhooks/events</c> page: events newest received first; <c>next_cursor</c> = pass as <c>before</c> for the next page (null at the end).</summary>
internal sealed record StripeEventPage(IReadOnlyList<StripeEventDto> Events, string? NextCursor);

/// <summary>Operator endpoints of the webhook pipeline: counters, stored events, retry of failed events.</summary>
internal static class WebhookOperatorEndpoints
{
    public static void MapWebhookOperatorEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/billing/webhooks").RequireAuthorization(Policies.Staff);
        group.MapGet("/stats", Stats);
        group.MapGet("/events", List);
        group.MapGet("/events/{eventId}", Get);
        group.MapPost("/events/{eventId}/retry", Retry).RequireAuthorization(Policies.Operator);
    }

    /// <summary>200 <see cref="WebhookStatsDto"/>.</summary>
    public static async Task<Ok<WebhookStatsDto>> Stats(EntitlementsDbContext db, WebhookMetrics metrics, CancellationToken ct)
    {
        var byStatus = await db.StripeEvents.GroupBy(e => e.Status)
            .Select(g => new { Status = g.Key, Count = g.LongCount(), Deliveries = g.Sum(e => (long)e.Deliveries) }).ToListAsync(ct);
        var byOutcome = await db.StripeEvents.Where(e => e.Status == StripeEventRecord.Processed)
            .GroupBy(e => e.Outcome!).Select(g => new { Outcome = g.Key, Count = g.LongCount() }).ToListAsync(ct);
        long Count(string status) => byStatus.Where(s => s.Status == status).Sum(s => s.Count);
        var events = byStatus.Sum(s => s.Count);
        var deliveries = byStatus.Sum(s => s.Deliveries);
        return TypedResults.Ok(new WebhookStatsDto(
            metrics.Snapshot(),
            new StoredWebhookStats(events, Count(StripeEventRecord.Pending), Count(StripeEventRecord.Processed), Count(StripeEventRecord.Failed),
                deliveries, deliveries - events, byOutcome.ToDictionary(o => o.Outcome ?? "", o => o.Count))));
    }

    /// <summary>
    /// Stored events, newest received first. Filters: <c>status</c> (pending | processed | failed), <c>tenant_id</c>, <c>type</c>;
    /// <c>limit</c> 1-500 (default 100); <c>before</c> = the previous page's <c>next_cursor</c>. 400 for a bad filter.
    /// </summary>
    public static async Task<Results<Ok<StripeEventPage>, ProblemHttpResult>> List(
        string? status, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "tenant_id")] string? tenantId, string? type, int? limit, string? before,
        EntitlementsDbContext db, CancellationToken ct)
    {
        if (status is not null and not (StripeEventRecord.Pending or StripeEventRecord.Processed or StripeEventRecord.Failed))
        {
            return TypedResults.Problem(statusCode: 400, title: "Bad filter", detail: "status must be pending, processed or failed.");
        }

        if (limit is < 1 or > 500)
        {
            return TypedResults.Problem(statusCode: 400, title: "Bad limit", detail: "limit must be between 1 and 500.");
        }

        var query = db.StripeEvents.AsNoTracking();
        if (status is not null)
        {
            query = query.Where(e => e.Status == status);
        }

        if (tenantId is not null)
        {
            query = query.Where(e => e.TenantId == tenantId);
        }

        if (type is not null)
        {
            query = query.Where(e => e.Type == type);
        }

        if (before is not null)
        {
            if (!TryDecodeCursor(before, out var at, out var id))
            {
                return TypedResults.Problem(statusCode: 400, title: "Bad cursor", detail: "before must be a next_cursor of a previous page.");
            }

            query = query.Where(e => e.ReceivedAt < at || (e.ReceivedAt == at && string.Compare(e.EventId, id) < 0));
        }

        var take = limit ?? 100;
        var rows = await query.OrderByDescending(e => e.ReceivedAt).ThenByDescending(e => e.EventId).Take(take + 1).ToListAsync(ct);
        var page = rows.Take(take).Select(StripeEventDto.From).ToList();
        var next = rows.Count > take ? EncodeCursor(rows[take - 1].ReceivedAt, rows[take - 1].EventId) : null;
        return TypedResults.Ok(new StripeEventPage(page, next));
    }

    /// <summary>200 the stored event (without payload); 404 when unknown.</summary>
    public static async Task<Results<Ok<StripeEventDto>, ProblemHttpResult>> Get(string eventId, EntitlementsDbContext db, CancellationToken ct)
    {
        var row = await db.StripeEvents.AsNoTracking().FirstOrDefaultAsync(e => e.EventId == eventId, ct);
        return row is null ? NotFound(eventId) : TypedResults.Ok(StripeEventDto.From(row));
    }

    /// <summary>
    /// Puts a <c>failed</c> event back to <c>pending</c> with its attempts reset (it is processed at once, re-reading Stripe);
    /// 200 with the event; 404 unknown; 409 when the event is not failed. Audited (action <c>webhook.retry</c>) when its tenant is known.
    /// </summary>
    /// <summary>
    /// Puts a failed event back to pending (attempts reset), approval-first by default (<c>webhook.retry</c>): 202 with the approval,
    /// the event once approved. 404 unknown, 409 unless failed (checked again when the approval executes).
    /// </summary>
    public static async Task<IResult> Retry(
        string eventId, HttpContext http, ClaimsPrincipal user, EntitlementsDbContext db, Approvals.ApprovalService approvals, StripeEventSignal signal, CancellationToken ct)
    {
        var row = await db.StripeEvents.AsNoTracking().FirstOrDefaultAsync(e => e.EventId == eventId, ct);
        if (row is null)
        {
            return NotFound(eventId);
        }

        if (row.Status != StripeEventRecord.Failed)
        {
            return NotFailed(row);
        }

        var result = await approvals.RunAsync(db, Approvals.ApprovalActions.WebhookRetry, row.TenantId ?? AuditLog.SystemTenant, row.Environment,
            new Dictionary<string, string> { ["event_id"] = eventId }, user, $"request:{http.TraceIdentifier}", ct);
        signal.Notify();
        return result;
    }

    /// <summary>The retry itself, under the event's row lock (joining an approval's transaction): pending again, attempts reset, audited.</summary>
    internal static async Task<Approvals.ActionOutcome> RetryAsync(EntitlementsDbContext db, Approvals.ActionRequest request, TimeProvider time, CancellationToken ct)
    {
        var eventId = request.Payload.GetProperty("event_id").GetString()!;
        await using var tx = await db.BeginOrJoinTransactionAsync(ct);
        var row = (await db.StripeEvents.FromSql($"SELECT * FROM stripe_events WHERE event_id = {eventId} FOR UPDATE").ToListAsync(ct)).FirstOrDefault();
        if (row is null)
        {
            return Approvals.ActionOutcome.Problem(Approvals.ActionRefusal.NotFound, "Event not found", $"No stored Stripe event '{eventId}'.");
        }

        if (row.Status != StripeEventRecord.Failed)
        {
            return Approvals.ActionOutcome.Problem(Approvals.ActionRefusal.Conflict, "Event not failed", $"Event {eventId} is {row.Status}; only failed events can be retried.");
        }

        var now = time.GetUtcNow();
        var before = new { row.Status, row.Attempts, row.LastError };
        row.Status = StripeEventRecord.Pending;
        row.Attempts = 0;
        row.NextAttemptAt = now;
        // Cause: the event id, as for every webhook change; an approved retry names its approval (the event id is in after).
        var cause = request.Cause.StartsWith("approval:", StringComparison.Ordinal) ? request.Cause : eventId;
        AuditLog.Add(db, row.TenantId ?? AuditLog.SystemTenant, row.Environment, now, request.Actor, "webhook.retry", before, new { row.EventId, row.Status, row.Attempts }, cause);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return Approvals.ActionOutcome.Ok(StripeEventDto.From(row));
    }

    private static ProblemHttpResult NotFailed(StripeEventRecord row) =>
        TypedResults.Problem(statusCode: 409, title: "Event not failed", detail: $"Event {row.EventId} is {row.Status}; only failed events can be retried.");

    private static ProblemHttpResult NotFound(string eventId) =>
        TypedResults.Problem(statusCode: 404, title: "Event not found", detail: $"No stored Stripe event '{eventId}'.");

    private static string EncodeCursor(DateTimeOffset at, string id) =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{at.UtcTicks}|{id}"));

    private static bool TryDecodeCursor(string cursor, out DateTimeOffset at, out string id)
    {
        at = default;
        id = "";
        try
        {
            var parts = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(cursor)).Split('|', 2);
            if (parts.Length == 2 && long.TryParse(parts[0], out var ticks) && ticks >= 0 && ticks <= DateTimeOffset.MaxValue.UtcTicks)
            {
                at = new DateTimeOffset(ticks, TimeSpan.Zero);
                id = parts[1];
                return true;
            }
        }
        catch (FormatException)
        {
        }

        return false;
    }
}

/// <summary><c>webhook.retry</c> as an approvable action (payload <c>{ event_id }</c>).</summary>
internal sealed class WebhookRetryAction(TimeProvider time) : Approvals.IApprovableAction
{
    public string Name => Approvals.ApprovalActions.WebhookRetry;

    public Task<Approvals.ActionOutcome> ExecuteAsync(EntitlementsDbContext db, Approvals.ActionRequest request, CancellationToken ct) =>
        WebhookOperatorEndpoints.RetryAsync(db, request, time, ct);
}
