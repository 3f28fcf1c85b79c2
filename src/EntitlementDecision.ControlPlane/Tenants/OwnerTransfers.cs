using System.Security.Claims;
using System.Security.Cryptography;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tenants;

/// <summary><c>POST /billing/owner/transfer</c> body: <c>{ "to_subject": "&lt;the admin's token subject&gt;" }</c>.</summary>
internal sealed record OwnerTransferRequest(string? ToSubject);

/// <summary>A transfer: <c>{ id, from_subject, to_subject, requested_at, expires_at, status (pending|accepted|canceled) }</c>.</summary>
internal sealed record OwnerTransferDto(string Id, string FromSubject, string ToSubject, DateTimeOffset RequestedAt, DateTimeOffset ExpiresAt, string Status)
{
    public static OwnerTransferDto From(OwnerTransfer t) => new(t.Id, t.FromSubject, t.ToSubject, t.RequestedAt, t.ExpiresAt, t.Status);
}

/// <summary><c>GET /billing/owner</c>: the recorded billing owner (null: any owner-role token) and the pending transfer, if any.</summary>
internal sealed record BillingOwnerDto(string? OwnerSubject, OwnerTransferDto? Pending);

/// <summary>
/// Billing-owner transfer (Phase 16 12.5): the owner names an admin of the same tenant (their token subject), the admin accepts with
/// their own token (both confirm), and from then on that subject is the tenant's owner at the control plane (the old owner's token
/// acts as admin; see <see cref="TenantStatusGate"/>). Stripe's customer and the portal are unchanged: the portal opens for the
/// new owner as for any owner or admin. Every step audited.
/// </summary>
internal static class OwnerTransfers
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromDays(1);

    public static void MapOwnerTransfers(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/billing/owner").RequireAuthorization(Policies.TenantMember);
        group.MapGet("/", Get);
        group.MapPost("/transfer", Request);
        group.MapPost("/transfer/{id}/accept", Accept);
        group.MapPost("/transfer/{id}/cancel", Cancel);
    }

    public static async Task<Ok<BillingOwnerDto>> Get(ClaimsPrincipal user, EntitlementsDbContext db, TimeProvider time, CancellationToken ct)
    {
        var tenantId = user.TenantId()!;
        var owner = await db.Tenants.AsNoTracking().Where(t => t.TenantId == tenantId).Select(t => t.OwnerSubject).FirstOrDefaultAsync(ct);
        var pending = await PendingAsync(db, tenantId, time.GetUtcNow(), ct);
        return TypedResults.Ok(new BillingOwnerDto(owner, pending is null ? null : OwnerTransferDto.From(pending)));
    }

    /// <summary>The owner starts a transfer (replacing a pending one). 403 unless owner; 400 for an empty or own subject.</summary>
    public static async Task<Results<Ok<OwnerTransferDto>, ProblemHttpResult>> Request(
        OwnerTransferRequest? request, ClaimsPrincipal user, EntitlementsDbContext db, TimeProvider time, CancellationToken ct)
    {
        if (user.FindFirst("role")?.Value != Roles.Owner)
        {
            return Problem(403, "Forbidden", "Only the tenant's billing owner can hand over ownership.");
        }

        var to = request?.ToSubject?.Trim();
        if (string.IsNullOrEmpty(to) || to.Length > 256 || to == user.Subject())
        {
            return Problem(400, "Invalid transfer", "to_subject must name another user of the tenant (their token subject), at most 256 characters.");
        }

        var tenantId = user.TenantId()!;
        var now = time.GetUtcNow();
        foreach (var old in await db.OwnerTransfers.Where(t => t.TenantId == tenantId && t.Status == OwnerTransfer.Pending).ToListAsync(ct))
        {
            old.Status = OwnerTransfer.Canceled;
            old.DecidedAt = now;
        }

        var transfer = new OwnerTransfer
        {
            Id = "otr_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)),
            TenantId = tenantId,
            FromSubject = user.Subject(),
            ToSubject = to,
            RequestedAt = now,
            ExpiresAt = now + Lifetime,
        };
        db.OwnerTransfers.Add(transfer);
        AuditLog.Add(db, tenantId, null, now, user.Actor(), "billing.owner_transfer_requested", null, new { transfer.Id, transfer.ToSubject }, "request");
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(OwnerTransferDto.From(transfer));
    }

    /// <summary>The named admin accepts: ownership moves to them. 403 for anyone else (or a non-admin); 404/409 unknown or no longer pending.</summary>
    public static async Task<Results<Ok<OwnerTransferDto>, ProblemHttpResult>> Accept(string id, ClaimsPrincipal user, EntitlementsDbContext db, TimeProvider time, CancellationToken ct)
    {
        if (user.FindFirst("role")?.Value != Roles.Admin)
        {
            return Problem(403, "Forbidden", "Only the admin a transfer names can accept it.");
        }

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var now = time.GetUtcNow();
        var transfer = await db.OwnerTransfers.FromSql($"SELECT * FROM owner_transfers WHERE id = {id} FOR UPDATE").FirstOrDefaultAsync(ct);
        if (transfer is null || transfer.TenantId != user.TenantId())
        {
            return Problem(404, "Transfer not found", $"No ownership transfer '{id}' for this tenant.");
        }

        if (transfer.Status != OwnerTransfer.Pending || now >= transfer.ExpiresAt)
        {
            return Problem(409, "Transfer not pending", $"Transfer {id} is {(transfer.Status == OwnerTransfer.Pending ? "expired" : transfer.Status)}; the owner can start a new one.");
        }

        if (user.Subject() != transfer.ToSubject)
        {
            return Problem(403, "Forbidden", $"Only {transfer.ToSubject}, an admin of the tenant, can accept this transfer.");
        }

        var tenant = (await db.LockTenantAsync(transfer.TenantId, ct))!;
        var before = new { Owner = tenant.OwnerSubject ?? transfer.FromSubject };
        tenant.OwnerSubject = transfer.ToSubject;
        transfer.Status = OwnerTransfer.Accepted;
        transfer.DecidedAt = now;
        AuditLog.Add(db, tenant.TenantId, null, now, user.Actor(), "billing.owner_transferred", before, new { Owner = transfer.ToSubject, Transfer = transfer.Id }, $"transfer:{transfer.Id}");
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return TypedResults.Ok(OwnerTransferDto.From(transfer));
    }

    /// <summary>The requesting owner withdraws a pending transfer.</summary>
    public static async Task<Results<Ok<OwnerTransferDto>, ProblemHttpResult>> Cancel(string id, ClaimsPrincipal user, EntitlementsDbContext db, TimeProvider time, CancellationToken ct)
    {
        if (user.FindFirst("role")?.Value != Roles.Owner)
        {
            return Problem(403, "Forbidden", "Only the owner who started the transfer can cancel it.");
        }

        var transfer = await db.OwnerTransfers.FirstOrDefaultAsync(t => t.Id == id && t.TenantId == user.TenantId(), ct);
        if (transfer is null)
        {
            return Problem(404, "Transfer not found", $"No ownership transfer '{id}' for this tenant.");
        }

        if (transfer.FromSubject != user.Subject())
        {
            return Problem(403, "Forbidden", "Only the owner who started the transfer can cancel it.");
        }

        if (transfer.Status == OwnerTransfer.Pending)
        {
            var now = time.GetUtcNow();
            transfer.Status = OwnerTransfer.Canceled;
            transfer.DecidedAt = now;
            AuditLog.Add(db, transfer.TenantId, null, now, user.Actor(), "billing.owner_transfer_canceled", null, new { transfer.Id }, "request");
            await db.SaveChangesAsync(ct);
        }

        return TypedResults.Ok(OwnerTransferDto.From(transfer));
    }

    private static Task<OwnerTransfer?> PendingAsync(EntitlementsDbContext db, string tenantId, DateTimeOffset now, CancellationToken ct) =>
        db.OwnerTransfers.AsNoTracking().Where(t => t.TenantId == tenantId && t.Status == OwnerTransfer.Pending && t.ExpiresAt > now).FirstOrDefaultAsync(ct);

    private static ProblemHttpResult Problem(int status, string title, string detail) => TypedResults.Problem(statusCode: status, title: title, detail: detail);
}
