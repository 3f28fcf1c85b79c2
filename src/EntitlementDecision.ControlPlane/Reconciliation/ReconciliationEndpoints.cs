using System.Security.Claims;
using System.Text;
using System.Text.Json;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Reconciliation;

/// <summary><c>POST /billing/reconciliation/runs</c> body: <c>{ "tenant_id": "acme" }</c> for one tenant, <c>{}</c> or no body for all.</summary>
internal sealed record ReconcileRequest(string? TenantId);

/// <summary>A run: id, trigger, tenant_id (null = all), status (running | completed | failed), started_at, finished_at, checked,
/// mismatches, repaired, drift_counts (by field), error.</summary>
internal sealed record ReconciliationRunDto(
    long Id, string Trigger, string? TenantId, string Status, DateTimeOffset StartedAt, DateTimeOffset? FinishedAt,
    int Checked, int Mismatches, int Repaired, IReadOnlyDictionary<string, int> DriftCounts, string? Error)
{
    public static ReconciliationRunDto From(ReconciliationRun r) => new(
        r.Id, r.Trigger, r.TenantId, r.Status, r.StartedAt, r.FinishedAt, r.Checked, r.MismatchCount, r.Repaired,
        JsonSerializer.Deserialize<Dictionary<string, int>>(r.DriftCounts) ?? [], r.Error);
}

/// <summary>One mismatch of a report: tenant_id, environment, subscription_id, field, ours, stripe, action (repaired | reported).</summary>
internal sealed record MismatchDto(string TenantId, string Environment, string? SubscriptionId, string Field, string? Ours, string? Stripe, string Action);

/// <summary>The JSON report of a run: <c>{ run, mismatches: [...] }</c>.</summary>
internal sealed record ReconciliationReport(ReconciliationRunDto Run, IReadOnlyList<MismatchDto> Mismatches);

/// <summary>Operator endpoints of reconciliation with Stripe.</summary>
internal static class ReconciliationEndpoints
{
    /// <summary>CSV header of <c>report.csv</c>.</summary>
    public const string CsvHeader = "run_id,tenant_id,environment,subscription_id,field,ours,stripe,action";

    public static void MapReconciliationEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/billing/reconciliation").RequireAuthorization(Policies.Staff);
        group.MapPost("/runs", Run).RequireAuthorization(Policies.Operator);
        group.MapGet("/runs", List);
        group.MapGet("/runs/{runId:long}", Report);
        group.MapGet("/runs/{runId:long}/report.json", Report);
        group.MapGet("/runs/{runId:long}/report.csv", Csv);
        app.MapPost("/tenants/{tenantId}/reconcile", RunForTenant).RequireAuthorization(Policies.Operator);
    }

    /// <summary>
    /// Runs a reconciliation now (synchronously) for all tenants, or for <c>tenant_id</c>; 200 <see cref="ReconciliationReport"/>;
    /// 404 for an unknown tenant.
    /// </summary>
    public static async Task<Results<Ok<ReconciliationReport>, ProblemHttpResult>> Run(
        ReconcileRequest? request, ClaimsPrincipal user, EntitlementsDbContext db, Reconciler reconciler, CancellationToken ct)
    {
        var tenantId = string.IsNullOrEmpty(request?.TenantId) ? null : request.TenantId;
        if (tenantId is not null && !await db.Tenants.AnyAsync(t => t.TenantId == tenantId, ct))
        {
            return TypedResults.Problem(statusCode: 404, title: "Tenant not found", detail: $"No tenant '{tenantId}'.");
        }

        var run = await reconciler.RunAsync(user.Actor(), tenantId, ct);
        return TypedResults.Ok(await ReportOfAsync(db, run, ct));
    }

    /// <summary><c>POST /tenants/{id}/reconcile</c>: <see cref="Run"/> for one tenant.</summary>
    public static Task<Results<Ok<ReconciliationReport>, ProblemHttpResult>> RunForTenant(
        string tenantId, ClaimsPrincipal user, EntitlementsDbContext db, Reconciler reconciler, CancellationToken ct) =>
        Run(new ReconcileRequest(tenantId), user, db, reconciler, ct);

    /// <summary>The latest runs (newest first), at most <c>limit</c> (1-200, default 50).</summary>
    public static async Task<Results<Ok<IReadOnlyList<ReconciliationRunDto>>, ProblemHttpResult>> List(int? limit, EntitlementsDbContext db, CancellationToken ct)
    {
        if (limit is < 1 or > 200)
        {
            return TypedResults.Problem(statusCode: 400, title: "Bad limit", detail: "limit must be between 1 and 200.");
        }

        var runs = await db.ReconciliationRuns.AsNoTracking().OrderByDescending(r => r.Id).Take(limit ?? 50).ToListAsync(ct);
        return TypedResults.Ok<IReadOnlyList<ReconciliationRunDto>>(runs.Select(ReconciliationRunDto.From).ToList());
    }

    /// <summary>200 the run's JSON report; 404 when unknown.</summary>
    public static async Task<Results<Ok<ReconciliationReport>, ProblemHttpResult>> Report(long runId, EntitlementsDbContext db, CancellationToken ct)
    {
        var run = await db.ReconciliationRuns.AsNoTracking().FirstOrDefaultAsync(r => r.Id == runId, ct);
        return run is null ? RunNotFound(runId) : TypedResults.Ok(await ReportOfAsync(db, run, ct));
    }

    /// <summary>200 <c>text/csv</c> (RFC 4180, header <see cref="CsvHeader"/>), one line per mismatch; 404 when unknown.</summary>
    public static async Task<Results<FileContentHttpResult, ProblemHttpResult>> Csv(long runId, EntitlementsDbContext db, CancellationToken ct)
    {
        var run = await db.ReconciliationRuns.AsNoTracking().FirstOrDefaultAsync(r => r.Id == runId, ct);
        if (run is null)
        {
            return RunNotFound(runId);
        }

        var csv = new StringBuilder(CsvHeader).Append("\r\n");
        foreach (var m in await MismatchesAsync(db, runId, ct))
        {
            csv.AppendJoin(',', new[] { runId.ToString(System.Globalization.CultureInfo.InvariantCulture), m.TenantId, m.Environment, m.SubscriptionId, m.Field, m.Ours, m.Stripe, m.Action }.Select(Cell)).Append("\r\n");
        }

        return TypedResults.File(Encoding.UTF8.GetBytes(csv.ToString()), "text/csv; charset=utf-8", $"reconciliation-{runId}.csv");
    }

    /// <summary>One CSV cell: quoted when it holds a comma, quote or line break; a leading = + - @ is prefixed with ' (spreadsheet formula injection).</summary>
    internal static string Cell(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }

        if (value[0] is '=' or '+' or '-' or '@')
        {
            value = "'" + value;
        }

        return value.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }

    private static async Task<ReconciliationReport> ReportOfAsync(EntitlementsDbContext db, ReconciliationRun run, CancellationToken ct) =>
        new(ReconciliationRunDto.From(run), await MismatchesAsync(db, run.Id, ct));

    private static async Task<List<MismatchDto>> MismatchesAsync(EntitlementsDbContext db, long runId, CancellationToken ct) =>
        await db.ReconciliationMismatches.AsNoTracking().Where(m => m.RunId == runId).OrderBy(m => m.Id)
            .Select(m => new MismatchDto(m.TenantId, m.Environment, m.SubscriptionId, m.Field, m.OurValue, m.StripeValue, m.Action)).ToListAsync(ct);

    private static ProblemHttpResult RunNotFound(long runId) =>
        TypedResults.Problem(statusCode: 404, title: "Run not found", detail: $"No reconciliation run {runId}.");
}
