using System.Security.Claims;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Approvals;

/// <summary>
/// The approvals queue (operators only): <c>GET /approvals?status=pending&amp;tenant_id=</c>, <c>GET /approvals/{id}</c>,
/// <c>POST /approvals/{id}/approve</c> and <c>POST /approvals/{id}/reject</c> (by an operator other than the requester: 403 otherwise).
/// </summary>
internal static class ApprovalEndpoints
{
    public static void MapApprovals(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/approvals").RequireAuthorization(Policies.Staff);
        group.MapGet("/", List);
        group.MapGet("/{id}", Get);
        group.MapPost("/{id}/approve", (string id, ClaimsPrincipal user, EntitlementsDbContext db, ApprovalService approvals, Snapshots.OutboxSignal signal, CancellationToken ct) =>
            NotifyAfter(approvals.ApproveAsync(db, id, user, ct), signal)).RequireAuthorization(Policies.Operator);
        group.MapPost("/{id}/reject", (string id, ClaimsPrincipal user, EntitlementsDbContext db, ApprovalService approvals, CancellationToken ct) =>
            approvals.RejectAsync(db, id, user, ct)).RequireAuthorization(Policies.Operator);
    }

    /// <summary>Approvals newest first (at most 500). <c>status</c>: pending (default), executed, rejected, expired or all. Pending
    /// approvals past their expiry are marked expired first (audited), so the queue never offers one that can no longer run.</summary>
    public static async Task<Results<Ok<List<ApprovalDto>>, ProblemHttpResult>> List(
        string? status, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "tenant_id")] string? tenantId, EntitlementsDbContext db, TimeProvider time, CancellationToken ct)
    {
        status ??= Approval.Pending;
        if (status is not (Approval.Pending or Approval.Executed or Approval.Rejected or Approval.Expired or "all"))
        {
            return TypedResults.Problem(statusCode: 400, title: "Bad status", detail: "status must be pending, executed, rejected, expired or all.");
        }

        await ExpireDueAsync(db, time.GetUtcNow(), ct);
        var query = db.Approvals.AsNoTracking();
        if (status != "all")
        {
            query = query.Where(a => a.Status == status);
        }

        if (tenantId is not null)
        {
            query = query.Where(a => a.TenantId == tenantId);
        }

        var rows = await query.OrderByDescending(a => a.RequestedAt).Take(500).ToListAsync(ct);
        return TypedResults.Ok(rows.Select(ApprovalDto.From).ToList());
    }

    /// <summary>One approval; a pending one past its expiry is marked expired first (audited), as in the queue.</summary>
    public static async Task<Results<Ok<ApprovalDto>, ProblemHttpResult>> Get(string id, EntitlementsDbContext db, TimeProvider time, CancellationToken ct)
    {
        await ExpireDueAsync(db, time.GetUtcNow(), ct, id);
        return await db.Approvals.AsNoTracking().FirstOrDefaultAsync(a => a.Id == id, ct) is { } a
            ? TypedResults.Ok(ApprovalDto.From(a))
            : TypedResults.Problem(statusCode: 404, title: "Approval not found", detail: $"No approval '{id}'.");
    }

    /// <summary>Marks the due pending approvals (or only <paramref name="id"/>) expired, each audited <c>approval.expired</c>.</summary>
    private static async Task ExpireDueAsync(EntitlementsDbContext db, DateTimeOffset now, CancellationToken ct, string? id = null)
    {
        // Row locks: PostgreSQL re-checks the condition after a concurrent approve commits, so an approval it executed stays executed.
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var due = await (id is null
            ? db.Approvals.FromSql($"SELECT * FROM approvals WHERE status = {Approval.Pending} AND expires_at <= {now} FOR UPDATE")
            : db.Approvals.FromSql($"SELECT * FROM approvals WHERE id = {id} AND status = {Approval.Pending} AND expires_at <= {now} FOR UPDATE"))
            .ToListAsync(ct);
        foreach (var a in due)
        {
            a.Status = Approval.Expired;
            a.DecidedAt = now;
            AuditLog.Add(db, a.TenantId, a.Environment, now, "system:approvals", "approval.expired", null, new { a.Id, a.Action }, $"approval:{a.Id}");
        }

        if (due.Count > 0)
        {
            await db.SaveChangesAsync(ct);
        }

        await tx.CommitAsync(ct);
    }

    // An executed action may have queued snapshots: wake the publisher after the approval's commit, not before.
    private static async Task<IResult> NotifyAfter(Task<IResult> decision, Snapshots.OutboxSignal signal)
    {
        var result = await decision;
        signal.Notify();
        return result;
    }
}
