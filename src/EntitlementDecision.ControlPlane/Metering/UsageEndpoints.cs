using System.Globalization;
using System.Security.Claims;
using System.Text;
using CsvHelper;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Http;
using EntitlementDecision.Engine.Catalog;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using EntitlementDecision.Engine;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>A rollup row: <c>{ day (yyyy-MM-dd), feature, quantity, events, overage }</c>.</summary>
internal sealed record DailyUsageDto(DateOnly Day, string Feature, long Quantity, long Events, long Overage);

/// <summary>An integrity row: what arrived on the stream for one usage day and what became of it (<c>overage_events</c>: accepted
/// events that went past a soft limit).</summary>
internal sealed record DailyIntegrityDto(DateOnly Day, long Received, long Accepted, long Duplicate, long Late, long TooLate, long LimitExceeded, long RejectedUndeclared, long Undeclared, long Invalid, long OverageEvents);

/// <summary><c>GET /tenants/{id}/usage/daily</c> (JSON): the rollups and the integrity report of [from, to].</summary>
internal sealed record DailyReportDto(string TenantId, string Environment, DateOnly From, DateOnly To, IReadOnlyList<DailyUsageDto> Usage, IReadOnlyList<DailyIntegrityDto> Integrity);

/// <summary>
/// Usage read APIs (operator, or owner/admin of the tenant; members and other tenants get 403):
/// <c>GET /tenants/{id}/usage/daily?environment=&amp;from=&amp;to=&amp;format=json|csv</c> (rollups + integrity report; CSV = the usage rows),
/// <c>GET /tenants/{id}/usage/integrity?...&amp;format=json|csv</c>, <c>GET /tenants/{id}/usage/statements/{yyyy-MM}?environment=&amp;format=json|csv</c>,
/// <c>GET /tenants/{id}/usage/statements/{yyyy-MM}/pack?environment=&amp;format=json|csv</c>; and
/// <c>POST /tenants/{id}/usage/daily/recompute?from=&amp;to=</c> (operator). Dates are UTC days; a range is at most 366 days.
/// </summary>
internal static class UsageEndpoints
{
    public const int MaxRangeDays = 366;

    public static void MapUsageEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/tenants/{tenantId}/usage").RequireAuthorization(Policies.AnyRole);
        group.MapGet("/daily", GetDaily);
        group.MapGet("/integrity", GetIntegrity);
        group.MapGet("/statements/{month}", GetStatement);
        group.MapGet("/statements/{month}/pack", GetPack);
        group.MapPost("/daily/recompute", Recompute).RequireAuthorization(Policies.Operator);
    }

    /// <summary>Platform staff, or the tenant's owner/admin (usage figures are billing data: members do not see them).</summary>
    internal static bool MayReadUsage(this ClaimsPrincipal user, string tenantId) =>
        user.IsStaff() || (user.MayReadTenant(tenantId) && user.FindFirst("role")?.Value is Roles.Owner or Roles.Admin);

    public static async Task<Results<Ok<DailyReportDto>, FileContentHttpResult, ProblemHttpResult>> GetDaily(string tenantId, string? environment, string? from, string? to, string? format, ClaimsPrincipal user, MeteringDbContext db, CancellationToken ct)
    {
        if (Check(tenantId, environment, from, to, format, user, out var env, out var range, out var csv) is { } problem)
        {
            return problem;
        }

        var usage = await db.DailyUsage.AsNoTracking()
            .Where(d => d.TenantId == tenantId && d.Environment == env && d.Day >= range.From && d.Day <= range.To)
            .OrderBy(d => d.Day).ThenBy(d => d.Feature)
            .Select(d => new DailyUsageDto(d.Day, d.Feature, d.Quantity, d.Events, d.Overage)).ToListAsync(ct);
        if (csv)
        {
            return Csv($"usage-daily-{tenantId}-{env}-{range.From:yyyyMMdd}-{range.To:yyyyMMdd}.csv",
                ["tenant_id", "environment", "day", "feature", "quantity", "events", "overage"],
                usage.Select(u => new object[] { tenantId, env, Day(u.Day), u.Feature, u.Quantity, u.Events, u.Overage }));
        }

        return TypedResults.Ok(new DailyReportDto(tenantId, env, range.From, range.To, usage, await UsageReports.IntegrityAsync(db, tenantId, env, range, ct)));
    }

    public static async Task<Results<Ok<List<DailyIntegrityDto>>, FileContentHttpResult, ProblemHttpResult>> GetIntegrity(string tenantId, string? environment, string? from, string? to, string? format, ClaimsPrincipal user, MeteringDbContext db, CancellationToken ct)
    {
        if (Check(tenantId, environment, from, to, format, user, out var env, out var range, out var csv) is { } problem)
        {
            return problem;
        }

        var rows = await UsageReports.IntegrityAsync(db, tenantId, env, range, ct);
        if (csv)
        {
            return Csv($"usage-integrity-{tenantId}-{env}-{range.From:yyyyMMdd}-{range.To:yyyyMMdd}.csv",
                ["tenant_id", "environment", "day", "received", "accepted", "duplicate", "late", "too_late", "limit_exceeded", "rejected_undeclared", "undeclared", "invalid", "overage_events"],
                rows.Select(r => new object[] { tenantId, env, Day(r.Day), r.Received, r.Accepted, r.Duplicate, r.Late, r.TooLate, r.LimitExceeded, r.RejectedUndeclared, r.Undeclared, r.Invalid, r.OverageEvents }));
        }

        return TypedResults.Ok(rows);
    }

    public static async Task<Results<Ok<UsageStatement>, FileContentHttpResult, ProblemHttpResult>> GetStatement(string tenantId, string month, string? environment, string? format, ClaimsPrincipal user, MeteringDbContext db, PlanCatalog catalog, TimeProvider time, CancellationToken ct)
    {
        if (CheckMonth(tenantId, month, environment, format, user, out var env, out var first, out var csv) is { } problem)
        {
            return problem;
        }

        var statement = await Statements.BuildAsync(db, catalog, tenantId, env, first, time.GetUtcNow(), ct);
        return csv ? Csv($"usage-statement-{tenantId}-{env}-{statement.Month}.csv", StatementHeader, StatementRows(statement)) : TypedResults.Ok(statement);
    }

    public static async Task<Results<Ok<StatementPack>, FileContentHttpResult, ProblemHttpResult>> GetPack(string tenantId, string month, string? environment, string? format, ClaimsPrincipal user, MeteringDbContext db, EntitlementsDbContext entitlements, PlanCatalog catalog, TimeProvider time, CancellationToken ct)
    {
        if (CheckMonth(tenantId, month, environment, format, user, out var env, out var first, out var csv) is { } problem)
        {
            return problem;
        }

        var pack = await Statements.BuildPackAsync(db, entitlements, catalog, tenantId, env, first, time.GetUtcNow(), ct);
        if (pack is null)
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Entitlement not found", detail: $"No entitlement for tenant '{tenantId}' in environment '{env}'.");
        }

        if (!csv)
        {
            return TypedResults.Ok(pack);
        }

        // One CSV, one row per fact: section, name, feature, value.
        var s = pack.Statement;
        var rows = new List<object?[]>
        {
            new object?[] { "statement", "tenant_id", "", s.TenantId },
            new object?[] { "statement", "environment", "", s.Environment },
            new object?[] { "statement", "month", "", s.Month },
            new object?[] { "statement", "generated_at", "", s.GeneratedAt.ToString("O", CultureInfo.InvariantCulture) },
            new object?[] { "plan", "plan_id", "", pack.Plan.PlanId },
            new object?[] { "plan", "plan_source", "", pack.Plan.PlanSource },
            new object?[] { "catalog", "version", "", pack.Catalog.Version },
            new object?[] { "catalog", "sha256", "", pack.Catalog.Sha256 },
            new object?[] { "ledger_head", "seq", "", pack.LedgerHead.Seq },
            new object?[] { "ledger_head", "hash", "", pack.LedgerHead.Hash },
        };
        foreach (var l in s.Lines)
        {
            rows.Add(["usage", "quantity", l.Feature, l.Quantity]);
            rows.Add(["usage", "unit", l.Feature, l.Unit]);
            rows.Add(["usage", "events", l.Feature, l.Events]);
            rows.Add(["usage", "late_events", l.Feature, l.LateEvents]);
            rows.Add(["usage", "too_late_events", l.Feature, l.TooLateEvents]);
        }

        foreach (var o in pack.Overages)
        {
            rows.Add(["overage", "limit", o.Feature, o.Limit?.ToString(CultureInfo.InvariantCulture) ?? "unlimited"]);
            rows.Add(["overage", "overage_units", o.Feature, o.OverageUnits]);
            rows.Add(["overage", "soft_overage_recorded", o.Feature, o.SoftOverageRecorded]);
            rows.Add(["overage", "soft_overage_events", o.Feature, o.SoftOverageEvents]);
        }

        foreach (var a in pack.Audit)
        {
            rows.Add(["audit", a.Action, a.Environment ?? "", $"{a.At.ToString("O", CultureInfo.InvariantCulture)} {a.Actor} ({a.Cause})"]);
        }

        return Csv($"usage-statement-pack-{tenantId}-{env}-{s.Month}.csv", ["section", "name", "feature", "value"], rows);
    }

    public static async Task<Results<Ok<RecomputeDto>, ProblemHttpResult>> Recompute(string tenantId, string? from, string? to, MeteringDbContext db, TimeProvider time, CancellationToken ct)
    {
        if (!TryRange(from, to, out var range, out var error))
        {
            return Invalid(new Dictionary<string, string[]> { ["range"] = [error!] });
        }

        await Rollups.RecomputeRangeAsync(db, tenantId, range.From, range.To, time.GetUtcNow(), ct);
        return TypedResults.Ok(new RecomputeDto(tenantId, range.From, range.To));
    }

    internal static readonly string[] StatementHeader = ["tenant_id", "environment", "month", "feature", "unit", "quantity", "events", "late_events", "too_late_events", "soft_overage_recorded", "soft_overage_events"];

    internal static IEnumerable<object[]> StatementRows(UsageStatement s) =>
        s.Lines.Select(l => new object[] { s.TenantId, s.Environment, s.Month, l.Feature, l.Unit, l.Quantity, l.Events, l.LateEvents, l.TooLateEvents, l.SoftOverageRecorded, l.SoftOverageEvents });

    // A 400 validation ProblemDetails (errors by field) as a ProblemHttpResult, so every handler's result type stays one union.
    private static ProblemHttpResult Invalid(Dictionary<string, string[]> errors) =>
        TypedResults.Problem(new HttpValidationProblemDetails(errors) { Status = StatusCodes.Status400BadRequest, Title = "One or more validation errors occurred." });

    private static string Day(DateOnly d) => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static FileContentHttpResult Csv(string fileName, string[] header, IEnumerable<object?[]> rows)
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        // Fields that a spreadsheet would run as formulas (=, +, -, @ first) are escaped: feature names and audit text come from outside.
        using (var csv = CsvWriter.Create(writer, new CsvWriterOptions { Injection = CsvInjection.Escape, FormatProvider = CultureInfo.InvariantCulture }, leaveOpen: true))
        {
            foreach (var h in header)
            {
                csv.WriteField(h);
            }

            csv.EndRecord();
            foreach (var row in rows)
            {
                foreach (var field in row)
                {
                    csv.WriteField(field is IFormattable f ? f.ToString(null, CultureInfo.InvariantCulture) : field?.ToString() ?? "");
                }

                csv.EndRecord();
            }
        }

        return TypedResults.File(Encoding.UTF8.GetBytes(writer.ToString()), "text/csv; charset=utf-8", fileName);
    }

    private static ProblemHttpResult? Access(string tenantId, string? environment, string? format, ClaimsPrincipal user, out string env, out bool csv)
    {
        env = string.IsNullOrEmpty(environment) ? Identifiers.DefaultEnvironment : environment;
        csv = string.Equals(format, "csv", StringComparison.OrdinalIgnoreCase);
        if (!user.MayReadUsage(tenantId))
        {
            return Problems.Forbidden();
        }

        var errors = new Dictionary<string, string[]>();
        if (format is { Length: > 0 } && !csv && !string.Equals(format, "json", StringComparison.OrdinalIgnoreCase))
        {
            errors["format"] = ["format must be 'json' or 'csv'."];
        }

        if (!Identifiers.IsEnvironment(env))
        {
            errors["environment"] = ["environment must match ^[a-z0-9][a-z0-9-]{0,31}$."];
        }

        return errors.Count > 0 ? Invalid(errors) : null;
    }

    private static ProblemHttpResult? Check(string tenantId, string? environment, string? from, string? to, string? format, ClaimsPrincipal user, out string env, out (DateOnly From, DateOnly To) range, out bool csv)
    {
        range = default;
        if (Access(tenantId, environment, format, user, out env, out csv) is { } problem)
        {
            return problem;
        }

        return TryRange(from, to, out range, out var error) ? null : Invalid(new Dictionary<string, string[]> { ["range"] = [error!] });
    }

    private static ProblemHttpResult? CheckMonth(string tenantId, string month, string? environment, string? format, ClaimsPrincipal user, out string env, out DateOnly first, out bool csv)
    {
        first = default;
        if (Access(tenantId, environment, format, user, out env, out csv) is { } problem)
        {
            return problem;
        }

        return DateOnly.TryParseExact(month + "-01", "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out first)
            ? null
            : Invalid(new Dictionary<string, string[]> { ["month"] = [$"month '{month}' must be yyyy-MM, e.g. 2026-11."] });
    }

    internal static bool TryRange(string? from, string? to, out (DateOnly From, DateOnly To) range, out string? error)
    {
        range = default;
        error = null;
        if (!DateOnly.TryParseExact(from, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var f)
            || !DateOnly.TryParseExact(to, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var t))
        {
            error = "from and to are required UTC days (yyyy-MM-dd), both inclusive.";
            return false;
        }

        if (t < f || t.DayNumber - f.DayNumber >= MaxRangeDays)
        {
            error = $"to must not be before from, and the range is at most {MaxRangeDays} days.";
            return false;
        }

        range = (f, t);
        return true;
    }
}

/// <summary>Answer of <c>POST /tenants/{id}/usage/daily/recompute</c>: the tenant and the days recomputed.</summary>
internal sealed record RecomputeDto(string TenantId, DateOnly From, DateOnly To);
