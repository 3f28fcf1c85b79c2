using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Approvals;

/// <summary>
/// What an action answered, as a closed set: <see cref="Done"/> with its result, <see cref="Refused"/> with why (no HTTP status:
/// <see cref="ActionResults"/> maps both to HTTP in the endpoint layer), or <see cref="StripeFailed"/> with Stripe's error.
/// </summary>
internal abstract record ActionOutcome
{
    private ActionOutcome()
    {
    }

    public bool Succeeded => this is Done;

    public static ActionOutcome Ok(object body) => new Done(body);

    public static ActionOutcome Problem(ActionRefusal reason, string title, string detail) => new Refused(reason, title, detail);

    /// <summary>Executed; <paramref name="Body"/> is the result DTO.</summary>
    public sealed record Done(object Body) : ActionOutcome;

    /// <summary>Not executed, and why.</summary>
    public sealed record Refused(ActionRefusal Reason, string Title, string Detail) : ActionOutcome;

    /// <summary>Stripe refused or failed (<see cref="Stripe.Api.StripeProblemDetails.From"/>); nothing was applied.</summary>
    public sealed record StripeFailed(ProblemDetails Details) : ActionOutcome;
}

/// <summary>Why an action was refused.</summary>
internal enum ActionRefusal
{
    /// <summary>The tenant, row or event it names does not exist.</summary>
    NotFound,

    /// <summary>Its state does not allow it now (e.g. already deleted, a live subscription).</summary>
    Conflict,

    /// <summary>What it would apply is unusable (e.g. Stripe's object cannot be mapped).</summary>
    Unprocessable,
}

/// <summary>An action to execute: the tenant (and environment), its validated request, who asked and why (the audit actor and cause).</summary>
internal sealed record ActionRequest(string TenantId, string? Environment, JsonElement Payload, string Actor, string Cause);

/// <summary>
/// An action that may need a second operator. Implementations live with their feature (Tenants) and are registered in DI, so this
/// folder knows no feature. <see cref="ExecuteAsync"/> runs inside the caller's transaction when there is one
/// (<see cref="RowLocks.BeginOrJoinTransactionAsync"/>), so an approval and its action commit together.
/// </summary>
internal interface IApprovableAction
{
    /// <summary>One of <see cref="ApprovalActions"/>.</summary>
    string Name { get; }

    Task<ActionOutcome> ExecuteAsync(EntitlementsDbContext db, ActionRequest request, CancellationToken ct);
}

/// <summary>
/// An approval as the API shows it: <c>{ id, action, tenant, environment, payload, requested_by, requested_at, expires_at, status
/// (pending|executed|rejected|expired), decided_by, decided_at, result_status }</c>.
/// </summary>
internal sealed record ApprovalDto(
    string Id, string Action, string Tenant, string? Environment, JsonElement Payload, string RequestedBy, DateTimeOffset RequestedAt,
    DateTimeOffset ExpiresAt, string Status, string? DecidedBy, DateTimeOffset? DecidedAt, int? ResultStatus)
{
    public static ApprovalDto From(Approval a) => new(
        a.Id, a.Action, a.TenantId, a.Environment, JsonDocument.Parse(a.Payload).RootElement.Clone(), a.RequestedBy, a.RequestedAt, a.ExpiresAt,
        a.Status, a.DecidedBy, a.DecidedAt, a.ResultStatus);
}

/// <summary>The answer to a request that needs approval (202): the approval, what approving it will do, and which of its effects
/// cannot be undone (empty when none).</summary>
internal sealed record ApprovalRequestedDto(ApprovalDto Approval, string Message, IReadOnlyList<string> Irreversible);

/// <summary>The answer to approve: the approval and the executed action's answer (<c>result</c>; replayed on a repeated approve).</summary>
internal sealed record ApprovalDecisionDto(ApprovalDto Approval, JsonElement? Result);

/// <summary>
/// Approval-first execution (the one place for the rule): <see cref="RunAsync"/> files an approval when the policy lists the action,
/// else executes it at once; <see cref="ApproveAsync"/> executes a pending approval exactly once. Every request, decision and
/// expiry is audited on the tenant (<c>approval.requested</c>, <c>approval.approved</c>, <c>approval.rejected</c>, <c>approval.expired</c>).
/// </summary>
internal sealed class ApprovalService(GovernanceOptions policy, IEnumerable<IApprovableAction> actions, TimeProvider time, Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json)
{
    private readonly Dictionary<string, IApprovableAction> _actions = actions.ToDictionary(a => a.Name, StringComparer.Ordinal);

    private JsonSerializerOptions Json => json.Value.SerializerOptions;

    /// <summary>
    /// Executes <paramref name="action"/> for <paramref name="user"/>, or, when the policy needs a second operator, stores a pending
    /// approval and answers 202 with it. <paramref name="payload"/>: the validated request (serialized as the approval's payload).
    /// </summary>
    public async Task<IResult> RunAsync(
        EntitlementsDbContext db, string action, string tenantId, string? environment, object payload, ClaimsPrincipal user, string cause, CancellationToken ct,
        string? effect = null, IReadOnlyList<string>? irreversible = null)
    {
        var element = JsonSerializer.SerializeToElement(payload, Json);
        if (!policy.RequiresApproval(action))
        {
            return (await _actions[action].ExecuteAsync(db, new ActionRequest(tenantId, environment, element, user.Actor(), cause), ct)).ToResult();
        }

        var approval = File(db, action, tenantId, environment, element, user.Actor(), cause);
        await db.SaveChangesAsync(ct);
        var dto = ApprovalDto.From(approval);
        return TypedResults.Json(
            new ApprovalRequestedDto(dto, $"{action} needs a second operator: POST /approvals/{approval.Id}/approve (not by {approval.RequestedBy}) before {approval.ExpiresAt:O}.{(effect is null ? "" : " " + effect)}", irreversible ?? []),
            Json, statusCode: StatusCodes.Status202Accepted);
    }

    /// <summary>Adds a pending approval of <paramref name="action"/> and its audit entry (not saved), e.g. a repair the reconciler files
    /// (requester <c>system:reconciliation</c>: then any operator may approve).</summary>
    public Approval File(EntitlementsDbContext db, string action, string tenantId, string? environment, JsonElement payload, string requestedBy, string cause)
    {
        var now = time.GetUtcNow();
        var approval = new Approval
        {
            Id = "apr_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)),
            Action = action,
            TenantId = tenantId,
            Environment = environment,
            Payload = payload.GetRawText(),
            RequestedBy = requestedBy,
            RequestedAt = now,
            ExpiresAt = now + policy.ApprovalTtl,
        };
        db.Approvals.Add(approval);
        AuditLog.Add(db, tenantId, environment, now, requestedBy, "approval.requested", null, new { approval.Id, approval.Action, Payload = payload }, cause);
        return approval;
    }

    /// <summary>
    /// Approves and executes, in one transaction with the approval row locked: a pending approval runs its action once and keeps its
    /// answer; an executed one replays that answer (idempotent on the approval id). 403 for the requester, 404 unknown, 409 when
    /// rejected or expired (an expired pending approval is marked expired).
    /// </summary>
    public async Task<IResult> ApproveAsync(EntitlementsDbContext db, string id, ClaimsPrincipal user, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var approval = (await db.Approvals.FromSql($"SELECT * FROM approvals WHERE id = {id} FOR UPDATE").ToListAsync(ct)).FirstOrDefault();
        if (approval is null)
        {
            return NotFound(id);
        }

        if (approval.Status == Approval.Executed)
        {
            return Decision(approval);
        }

        if (await RefuseAsync(db, approval, user, ct) is { } refused)
        {
            await tx.CommitAsync(ct);
            return refused;
        }

        var request = new ActionRequest(
            approval.TenantId, approval.Environment, JsonDocument.Parse(approval.Payload).RootElement.Clone(), approval.RequestedBy,
            $"approval:{approval.Id} approved by {user.Actor()}");
        var outcome = await _actions[approval.Action].ExecuteAsync(db, request, ct);
        var now = time.GetUtcNow();
        approval.Status = Approval.Executed;
        approval.DecidedBy = user.Actor();
        approval.DecidedAt = now;
        approval.ResultStatus = ActionResults.Status(outcome);
        var body = ActionResults.Body(outcome);
        approval.Result = JsonSerializer.Serialize(body, body.GetType(), Json);
        AuditLog.Add(db, approval.TenantId, approval.Environment, now, user.Actor(), "approval.approved", null,
            new { approval.Id, approval.Action, approval.ResultStatus }, $"approval:{approval.Id}");
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return Decision(approval);
    }

    /// <summary>Rejects a pending approval (not by its requester); nothing is executed. Rejecting twice answers the rejection again.</summary>
    public async Task<IResult> RejectAsync(EntitlementsDbContext db, string id, ClaimsPrincipal user, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var approval = (await db.Approvals.FromSql($"SELECT * FROM approvals WHERE id = {id} FOR UPDATE").ToListAsync(ct)).FirstOrDefault();
        if (approval is null)
        {
            return NotFound(id);
        }

        if (approval.Status == Approval.Rejected)
        {
            return Decision(approval);
        }

        if (await RefuseAsync(db, approval, user, ct) is { } refused)
        {
            await tx.CommitAsync(ct);
            return refused;
        }

        var now = time.GetUtcNow();
        approval.Status = Approval.Rejected;
        approval.DecidedBy = user.Actor();
        approval.DecidedAt = now;
        AuditLog.Add(db, approval.TenantId, approval.Environment, now, user.Actor(), "approval.rejected", null, new { approval.Id, approval.Action }, $"approval:{approval.Id}");
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return Decision(approval);
    }

    /// <summary>Why <paramref name="user"/> may not decide <paramref name="approval"/> now, or null when they may.</summary>
    private async Task<IResult?> RefuseAsync(EntitlementsDbContext db, Approval approval, ClaimsPrincipal user, CancellationToken ct)
    {
        if (approval.Status != Approval.Pending)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Approval decided",
                detail: $"Approval {approval.Id} is {approval.Status}; nothing was executed.");
        }

        var now = time.GetUtcNow();
        if (now >= approval.ExpiresAt)
        {
            approval.Status = Approval.Expired;
            approval.DecidedAt = now;
            AuditLog.Add(db, approval.TenantId, approval.Environment, now, "system:approvals", "approval.expired", null, new { approval.Id, approval.Action }, $"approval:{approval.Id}");
            await db.SaveChangesAsync(ct);
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Approval expired",
                detail: $"Approval {approval.Id} expired at {approval.ExpiresAt:O}; nothing was executed. Request the action again.");
        }

        return string.Equals(approval.RequestedBy, user.Actor(), StringComparison.Ordinal)
            ? TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Second operator required",
                detail: $"{approval.RequestedBy} requested approval {approval.Id}; another operator must decide it.")
            : null;
    }

    private IResult Decision(Approval approval) => TypedResults.Json(
        new ApprovalDecisionDto(ApprovalDto.From(approval), approval.Result is null ? null : JsonDocument.Parse(approval.Result).RootElement.Clone()), Json);

    private static IResult NotFound(string id) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Approval not found", detail: $"No approval '{id}'.");
}
