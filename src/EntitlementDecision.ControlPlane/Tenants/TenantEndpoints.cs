using EntitlementDecision.ControlPlane.Approvals;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Configuration;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Http;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Resolution;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using System.Security.Claims;
using EntitlementDecision.ControlPlane.Entitlements;
using EntitlementDecision.Engine;

namespace EntitlementDecision.ControlPlane.Tenants;

/// <summary><c>POST /tenants</c> body: <c>{ "tenant_id": slug, "name": string, "environment": string (default "production"),
/// "region": region id (default ED_REGION), "allowed_regions": [region id] (1-16; default [region]; must hold region) }</c>.</summary>
internal sealed record CreateTenantRequest(string? TenantId, string? Name, string? Environment, string? Region = null, IReadOnlyList<string>? AllowedRegions = null);

/// <summary>
/// A tenant: <c>{ tenant_id, name, status ("provisioning"|"active"|"suspended"|"deleting"|"deleted"), created_at, environments: [string],
/// snapshot_versions: { environment: version }, region, allowed_regions: [region] }</c>. snapshot_versions: each environment's current
/// snapshot version (after a suspend or resume, the version that carries it), for the sidecar's min_snapshot_version. region: the home
/// region; allowed_regions: where its data may be stored or processed (data residency).
/// </summary>
internal sealed record TenantDto(
    string TenantId, string Name, string Status, DateTimeOffset CreatedAt, IReadOnlyList<string> Environments, IReadOnlyDictionary<string, long> SnapshotVersions,
    string Region, IReadOnlyList<string> AllowedRegions);

/// <summary>A row of <c>GET /tenants</c>: the <see cref="TenantDto"/> fields plus, for the listed environment (default production),
/// <c>plan_id</c>, <c>plan_source</c> and <c>access_mode</c> as <see cref="EntitlementDto"/> resolves them (null without that environment).</summary>
internal sealed record TenantListItem(
    string TenantId, string Name, string Status, DateTimeOffset CreatedAt, IReadOnlyList<string> Environments, IReadOnlyDictionary<string, long> SnapshotVersions,
    string Region, IReadOnlyList<string> AllowedRegions, string? PlanId, string? PlanSource, string? AccessMode);

/// <summary><c>PUT .../override</c> body: <c>{ "plan_id": "business" }</c> or <c>{ "plan_id": null }</c> to clear the override.</summary>
internal sealed record OverrideRequest(string? PlanId);

/// <summary><c>PUT .../comp</c> body: <c>{ "plan_id": "pro", "comped": true }</c>; <c>comped: false</c> ends the comp (plan_id optional then).</summary>
internal sealed record CompRequest(string? PlanId, bool? Comped);

/// <summary>Tenant administration: create/list/read (operators; tenant roles see their own), suspend/resume, override and comp (operators, audited).</summary>
internal static class TenantEndpoints
{
    public static void MapTenantEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/tenants");
        group.MapPost("/", Create).RequireAuthorization(Policies.Operator);
        group.MapGet("/", List).RequireAuthorization(Policies.AnyRole);
        group.MapGet("/{tenantId}", Get).RequireAuthorization(Policies.AnyRole);
        group.MapPost("/{tenantId}/suspend", Suspend).RequireAuthorization(Policies.Operator);
        group.MapPost("/{tenantId}/resume", Resume).RequireAuthorization(Policies.Operator);
        group.MapGet("/{tenantId}/entitlements", GetEntitlements).RequireAuthorization(Policies.Staff);
        group.MapPut("/{tenantId}/entitlements/{environment}/override", PutOverride).RequireAuthorization(Policies.Operator);
        group.MapPut("/{tenantId}/entitlements/{environment}/comp", PutComp).RequireAuthorization(Policies.Operator);
        group.MapDelete("/{tenantId}", TenantLifecycle.Delete).RequireAuthorization(Policies.Operator);
        group.MapPost("/{tenantId}/purge", TenantLifecycle.PurgeNow).RequireAuthorization(Policies.Operator);
        group.MapGet("/{tenantId}/dossier", TenantDossier.Get).RequireAuthorization(Policies.Staff);
        group.MapGet("/{tenantId}/disclosure-pack", DisclosurePack.Get).RequireAuthorization(Policies.Operator);
    }

    /// <summary>201 with the tenant; 400 ValidationProblem; 409 when the tenant exists.</summary>
    public static async Task<Results<Created<TenantDto>, ValidationProblem, ProblemHttpResult>> Create(
        CreateTenantRequest? request, ClaimsPrincipal user, EntitlementsDbContext db, OutboxSignal signal, TimeProvider time,
        Microsoft.Extensions.Options.IOptions<ControlPlaneOptions> options, CancellationToken ct)
    {
        var environment = string.IsNullOrEmpty(request?.Environment) ? Identifiers.DefaultEnvironment : request.Environment;
        var errors = new Dictionary<string, string[]>();
        if (!Identifiers.IsTenantId(request?.TenantId))
        {
            errors["tenant_id"] = ["tenant_id is required and must match ^[a-z0-9][a-z0-9-]{1,62}$."];
        }

        if (string.IsNullOrWhiteSpace(request?.Name) || request.Name.Length > 200)
        {
            errors["name"] = ["name is required (at most 200 characters)."];
        }

        if (!Identifiers.IsEnvironment(environment))
        {
            errors["environment"] = ["environment must match ^[a-z0-9][a-z0-9-]{0,31}$."];
        }

        var region = string.IsNullOrEmpty(request?.Region) ? options.Value.Region : request.Region;
        var allowed = request?.AllowedRegions is { Count: > 0 } list ? list.Distinct(StringComparer.Ordinal).ToList() : [region];
        if (!Identifiers.IsEnvironment(region))
        {
            errors["region"] = ["region must be a region id matching ^[a-z0-9][a-z0-9-]{0,31}$."];
        }
        else if (allowed.Count > 16 || allowed.Any(r => !Identifiers.IsEnvironment(r)))
        {
            errors["allowed_regions"] = ["allowed_regions must hold 1 to 16 region ids matching ^[a-z0-9][a-z0-9-]{0,31}$."];
        }
        else if (!allowed.Contains(region, StringComparer.Ordinal))
        {
            errors["allowed_regions"] = [$"allowed_regions must include the home region '{region}'."];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var now = time.GetUtcNow();
        // Provisioning: tenant, baseline entitlement, outbox row and audit in one transaction; it commits as active.
        var tenant = new Tenant { TenantId = request!.TenantId!, Name = request.Name!.Trim(), Status = Tenant.Active, CreatedAt = now, Region = region, AllowedRegions = allowed };
        var entitlement = new Entitlement { TenantId = tenant.TenantId, Environment = environment, Version = 1, UpdatedAt = now };
        db.Tenants.Add(tenant);
        db.Entitlements.Add(entitlement);
        EntitlementChanges.Enqueue(db, entitlement, now);
        AuditLog.Add(db, tenant.TenantId, environment, now, user.Actor(), "tenant.created", new { Status = Tenant.Provisioning },
            new { Tenant = AuditLog.View(tenant), Entitlement = AuditLog.View(entitlement), ProvisioningMs = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds }, "operator");
        try
        {
            await db.SaveChangesAsync(ct); // one implicit transaction: tenant, entitlement, outbox, audit
        }
        catch (DbUpdateException e) when (e.IsUniqueViolation())
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Tenant exists", detail: $"Tenant '{tenant.TenantId}' already exists.");
        }

        signal.Notify();
        return TypedResults.Created($"/tenants/{tenant.TenantId}", ToDto(tenant, [(environment, entitlement.Version)]));
    }

    /// <summary>
    /// Staff (operator, support): every tenant; tenant roles: only their own. Filters (all optional, combined): <c>q</c> (substring of
    /// tenant_id or name, case-insensitive), <c>status</c>, <c>region</c> (home region), and for <c>environment</c> (default production)
    /// <c>plan</c> (effective plan id) and <c>access_mode</c> (full|grace|read_only|suspended); <c>limit</c> 1-1000 (default 200), by
    /// tenant_id. 400 ProblemDetails for a bad filter.
    /// </summary>
    public static async Task<Results<Ok<List<TenantListItem>>, ProblemHttpResult>> List(
        string? q, string? status, string? region, string? plan, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "access_mode")] string? accessMode,
        string? environment, int? limit, ClaimsPrincipal user, EntitlementsDbContext db, PlanCatalog catalog, DunningPolicy dunning, TimeProvider time, CancellationToken ct)
    {
        environment = string.IsNullOrEmpty(environment) ? Identifiers.DefaultEnvironment : environment;
        if (status is { Length: > 0 } && status is not (Tenant.Provisioning or Tenant.Active or Tenant.Suspended or Tenant.Deleting or Tenant.Deleted))
        {
            return TypedResults.Problem(statusCode: 400, title: "Bad status", detail: "status must be provisioning, active, suspended, deleting or deleted.");
        }

        if (accessMode is { Length: > 0 } && accessMode is not ("full" or "grace" or "read_only" or "suspended"))
        {
            return TypedResults.Problem(statusCode: 400, title: "Bad access_mode", detail: "access_mode must be full, grace, read_only or suspended.");
        }

        if (limit is < 1 or > 1000)
        {
            return TypedResults.Problem(statusCode: 400, title: "Bad limit", detail: "limit must be between 1 and 1000.");
        }

        var query = db.Tenants.AsNoTracking();
        if (!user.IsStaff())
        {
            var own = user.TenantId() ?? "";
            query = query.Where(t => t.TenantId == own);
        }

        if (q is { Length: > 0 })
        {
            var pattern = "%" + q.Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_") + "%";
            query = query.Where(t => EF.Functions.ILike(t.TenantId, pattern) || EF.Functions.ILike(t.Name, pattern));
        }

        if (status is { Length: > 0 })
        {
            query = query.Where(t => t.Status == status);
        }

        if (region is { Length: > 0 })
        {
            query = query.Where(t => t.Region == region);
        }

        // plan and access_mode are resolved, not stored: filter after resolving, page by tenant_id in batches.
        var max = limit ?? 200;
        var now = time.GetUtcNow();
        var items = new List<TenantListItem>();
        string? after = null;
        while (items.Count < max)
        {
            var page = await query.Where(t => after == null || string.Compare(t.TenantId, after) > 0).OrderBy(t => t.TenantId).Take(500).ToListAsync(ct);
            if (page.Count == 0)
            {
                break;
            }

            var ids = page.Select(t => t.TenantId).ToList();
            var rows = await db.Entitlements.AsNoTracking().Where(e => ids.Contains(e.TenantId)).ToListAsync(ct);
            var byTenant = rows.ToLookup(e => e.TenantId);
            foreach (var t in page)
            {
                var row = byTenant[t.TenantId].FirstOrDefault(e => e.Environment == environment);
                var resolved = row is null ? null : EntitlementDto.From(catalog, row, Tenant.Blocks(t.Status), now, dunning);
                if ((plan is { Length: > 0 } && resolved?.PlanId != plan) || (accessMode is { Length: > 0 } && resolved?.AccessMode != accessMode))
                {
                    continue;
                }

                var dto = ToDto(t, byTenant[t.TenantId].Select(e => (e.Environment, e.Version)));
                items.Add(new TenantListItem(dto.TenantId, dto.Name, dto.Status, dto.CreatedAt, dto.Environments, dto.SnapshotVersions, dto.Region, dto.AllowedRegions,
                    resolved?.PlanId, resolved?.PlanSource, resolved?.AccessMode));
                if (items.Count == max)
                {
                    break;
                }
            }

            after = page[^1].TenantId;
        }

        return TypedResults.Ok(items);
    }

    /// <summary>Operator or a role of the same tenant: 200; another tenant: 403; absent: 404.</summary>
    public static async Task<Results<Ok<TenantDto>, ProblemHttpResult>> Get(string tenantId, ClaimsPrincipal user, EntitlementsDbContext db, CancellationToken ct)
    {
        if (!user.MayReadTenant(tenantId))
        {
            return Problems.Forbidden();
        }

        var tenant = await db.Tenants.AsNoTracking().FirstOrDefaultAsync(t => t.TenantId == tenantId, ct);
        if (tenant is null)
        {
            return TenantNotFound(tenantId);
        }

        var envs = await db.Entitlements.AsNoTracking().Where(e => e.TenantId == tenantId).Select(e => new { e.Environment, e.Version }).ToListAsync(ct);
        return TypedResults.Ok(ToDto(tenant, envs.Select(e => (e.Environment, e.Version))));
    }

    public static Task<Results<Ok<TenantDto>, ProblemHttpResult>> Suspend(
        string tenantId, ClaimsPrincipal user, EntitlementsDbContext db, CollectionPause collection, OutboxSignal signal, TimeProvider time, CancellationToken ct) =>
        SetStatus(tenantId, Tenant.Suspended, user, db, collection, signal, time, ct);

    public static Task<Results<Ok<TenantDto>, ProblemHttpResult>> Resume(
        string tenantId, ClaimsPrincipal user, EntitlementsDbContext db, CollectionPause collection, OutboxSignal signal, TimeProvider time, CancellationToken ct) =>
        SetStatus(tenantId, Tenant.Active, user, db, collection, signal, time, ct);

    /// <summary>
    /// Sets the status; when it changes, bumps every entitlement row of the tenant (outbox + audit) and records the Stripe collection
    /// pause or resume it needs, in one transaction. Then, committed (access is blocked or restored whatever Stripe does), asks Stripe
    /// to pause or resume collection (<see cref="CollectionPause"/>; a failure is audited and retried by <see cref="CollectionPauseJob"/>).
    /// Idempotent: a repeat sends only a change Stripe has not confirmed, under the same idempotency key.
    /// </summary>
    private static async Task<Results<Ok<TenantDto>, ProblemHttpResult>> SetStatus(
        string tenantId, string status, ClaimsPrincipal user, EntitlementsDbContext db, CollectionPause collection, OutboxSignal signal, TimeProvider time, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var tenant = await db.LockTenantAsync(tenantId, ct);
        if (tenant is null)
        {
            return TenantNotFound(tenantId);
        }

        var entitlements = await db.Entitlements.FromSql($"SELECT * FROM entitlements WHERE tenant_id = {tenantId} ORDER BY environment FOR UPDATE").ToListAsync(ct);
        if (tenant.Status != status)
        {
            var now = time.GetUtcNow();
            var before = AuditLog.View(tenant);
            tenant.Status = status;
            foreach (var e in entitlements)
            {
                EntitlementChanges.Bump(db, e, now);
                CollectionPause.Request(tenant, e, now);
            }

            AuditLog.Add(db, tenantId, null, now, user.Actor(), status == Tenant.Suspended ? "tenant.suspended" : "tenant.resumed", before, AuditLog.View(tenant), "operator",
                status == Tenant.Suspended ? new TenantSuspended() : new TenantResumed());
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            signal.Notify();
        }
        else
        {
            await tx.CommitAsync(ct);
        }

        var dto = ToDto(tenant, entitlements.Select(e => (e.Environment, e.Version)));
        // An operator waits: customer priority in the Stripe request budget.
        await collection.SyncAsync(db, tenantId, user.Actor(), "operator", EntitlementDecision.Stripe.Api.StripeCallPriority.Customer, auditFailure: true, ct);
        return TypedResults.Ok(dto);
    }

    /// <summary>The resolved entitlements of any tenant (operators). 404 when the tenant or environment is unknown.</summary>
    public static async Task<Results<Ok<EntitlementDto>, ProblemHttpResult>> GetEntitlements(
        string tenantId, string? environment, EntitlementsDbContext db, PlanCatalog catalog, DunningPolicy dunning, TimeProvider time, CancellationToken ct)
    {
        environment ??= Identifiers.DefaultEnvironment;
        var row = await db.Entitlements.AsNoTracking().FirstOrDefaultAsync(e => e.TenantId == tenantId && e.Environment == environment, ct);
        var tenant = await db.Tenants.AsNoTracking().FirstOrDefaultAsync(t => t.TenantId == tenantId, ct);
        if (row is null || tenant is null)
        {
            return EntitlementNotFound(tenantId, environment);
        }

        return TypedResults.Ok(EntitlementDto.From(catalog, row, Tenant.Blocks(tenant.Status), time.GetUtcNow(), dunning));
    }

    /// <summary>Sets (plan id) or clears (null) the operator override. 400 when the plan is not in the catalog; 404 when the row is absent;
    /// 202 with a pending approval when the policy needs a second operator (default), else 200 with the entitlement.</summary>
    public static async Task<IResult> PutOverride(
        string tenantId, string environment, OverrideRequest? request, HttpContext http, ClaimsPrincipal user, EntitlementsDbContext db, PlanCatalog catalog,
        ApprovalService approvals, OutboxSignal signal, CancellationToken ct)
    {
        if (request is null)
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["plan_id"] = ["a JSON body { \"plan_id\": string|null } is required."] });
        }

        if (request.PlanId is not null && !catalog.TryGetPlan(request.PlanId, out _))
        {
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["plan_id"] = [$"plan '{request.PlanId}' is not in the catalog."] });
        }

        if (await db.Entitlements.AsNoTracking().AnyAsync(e => e.TenantId == tenantId && e.Environment == environment, ct) is false)
        {
            return EntitlementNotFound(tenantId, environment);
        }

        var result = await approvals.RunAsync(db, ApprovalActions.Override, tenantId, environment, request, user, $"request:{http.TraceIdentifier}", ct);
        signal.Notify();
        return result;
    }

    /// <summary>Comps a plan (<c>comped: true</c> with a catalog plan id) or ends the comp. 400 for a missing/unknown plan; 404 when the row is absent.</summary>
    public static async Task<IResult> PutComp(
        string tenantId, string environment, CompRequest? request, HttpContext http, ClaimsPrincipal user, EntitlementsDbContext db, PlanCatalog catalog,
        ApprovalService approvals, OutboxSignal signal, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (request?.Comped is null)
        {
            errors["comped"] = ["comped (boolean) is required."];
        }

        if (request?.Comped == true && request.PlanId is null)
        {
            errors["plan_id"] = ["plan_id is required when comped is true."];
        }
        else if (request?.PlanId is { } planId && !catalog.TryGetPlan(planId, out _))
        {
            errors["plan_id"] = [$"plan '{planId}' is not in the catalog."];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors);
        }

        if (await db.Entitlements.AsNoTracking().AnyAsync(e => e.TenantId == tenantId && e.Environment == environment, ct) is false)
        {
            return EntitlementNotFound(tenantId, environment);
        }

        var result = await approvals.RunAsync(db, ApprovalActions.Comp, tenantId, environment, request!, user, $"request:{http.TraceIdentifier}", ct);
        signal.Notify();
        return result;
    }

    /// <summary>
    /// Applies an operator change to (tenant, environment) under the row lock (joining the approval's transaction when there is one):
    /// bumps the snapshot version and audits <paramref name="action"/> when anything observable changed. 404 when the row is absent.
    /// </summary>
    internal static async Task<ActionOutcome> ChangeEntitlementAsync(
        EntitlementsDbContext db, ActionRequest request, PlanCatalog catalog, DunningPolicy dunning, TimeProvider time, string action,
        Action<Entitlement> change, CancellationToken ct)
    {
        var environment = request.Environment ?? Identifiers.DefaultEnvironment;
        await using var tx = await db.BeginOrJoinTransactionAsync(ct);
        var row = await db.LockEntitlementAsync(request.TenantId, environment, ct);
        var tenant = row is null ? null : await db.Tenants.FirstOrDefaultAsync(t => t.TenantId == request.TenantId, ct);
        if (row is null || tenant is null)
        {
            return ActionOutcome.Problem(ActionRefusal.NotFound, "Entitlement not found", $"No entitlement for tenant '{request.TenantId}' in environment '{environment}'.");
        }

        var now = time.GetUtcNow();
        var before = AuditLog.View(row);
        change(row);
        if (!AuditLog.View(row).SameStateAs(before))
        {
            EntitlementChanges.Bump(db, row, now);
            AuditLog.EntitlementChange(db, row, before, now, request.Actor, action, request.Cause);
            await db.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
        }

        return ActionOutcome.Ok(EntitlementDto.From(catalog, row, Tenant.Blocks(tenant.Status), now, dunning));
    }

    internal static TenantDto ToDto(Tenant t, IEnumerable<(string Environment, long Version)> environments)
    {
        var versions = environments.ToDictionary(e => e.Environment, e => e.Version, StringComparer.Ordinal);
        return new(t.TenantId, t.Name, t.Status, t.CreatedAt, versions.Keys.Order(StringComparer.Ordinal).ToList(), versions, t.Region, t.AllowedRegions);
    }

    private static ProblemHttpResult TenantNotFound(string tenantId) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Tenant not found", detail: $"No tenant '{tenantId}'.");

    private static ProblemHttpResult EntitlementNotFound(string tenantId, string environment) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Entitlement not found", detail: $"No entitlement for tenant '{tenantId}' in environment '{environment}'.");
}

/// <summary><c>entitlement.override</c> as an approvable action (payload: <see cref="OverrideRequest"/>, validated by the endpoint).</summary>
internal sealed class OverrideAction(PlanCatalog catalog, DunningPolicy dunning, TimeProvider time) : IApprovableAction
{
    public string Name => ApprovalActions.Override;

    public Task<ActionOutcome> ExecuteAsync(EntitlementsDbContext db, ActionRequest request, CancellationToken ct)
    {
        var planId = request.Payload.TryGetProperty("plan_id", out var p) && p.ValueKind == System.Text.Json.JsonValueKind.String ? p.GetString() : null;
        return TenantEndpoints.ChangeEntitlementAsync(db, request, catalog, dunning, time, "entitlement.override_set", e => e.OverridePlanId = planId, ct);
    }
}

/// <summary><c>entitlement.comp</c> as an approvable action (payload: <see cref="CompRequest"/>, validated by the endpoint).</summary>
internal sealed class CompAction(PlanCatalog catalog, DunningPolicy dunning, TimeProvider time) : IApprovableAction
{
    public string Name => ApprovalActions.Comp;

    public Task<ActionOutcome> ExecuteAsync(EntitlementsDbContext db, ActionRequest request, CancellationToken ct)
    {
        var comped = request.Payload.GetProperty("comped").GetBoolean();
        var planId = request.Payload.TryGetProperty("plan_id", out var p) && p.ValueKind == System.Text.Json.JsonValueKind.String ? p.GetString() : null;
        return TenantEndpoints.ChangeEntitlementAsync(db, request, catalog, dunning, time, "entitlement.comp_set", e =>
        {
            e.Comped = comped;
            if (planId is not null)
            {
                e.PlanId = planId;
            }
        }, ct);
    }
}
