using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.Engine.Catalog;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>One feature of a monthly statement: accepted units in the month (by usage day), events, how many of them arrived late /
/// too late, and the soft-limit overage: units beyond the limit as the usage script counted them, and the events that went past it.</summary>
internal sealed record StatementLine(string Feature, string Unit, long Quantity, long Events, long LateEvents, long TooLateEvents, long SoftOverageRecorded, long SoftOverageEvents);

/// <summary>
/// A tenant's monthly usage statement (one environment): <c>{ tenant_id, environment, month ("2026-11"), period_start, period_end
/// (exclusive, UTC), generated_at, lines: [StatementLine] }</c>. Source: <c>usage_ledger</c> rows whose usage day falls in the month
/// (late events in the day they occurred, too-late events in the day they arrived).
/// </summary>
internal sealed record UsageStatement(string TenantId, string Environment, string Month, DateTimeOffset PeriodStart, DateTimeOffset PeriodEnd, DateTimeOffset GeneratedAt, IReadOnlyList<StatementLine> Lines);

/// <summary>Units beyond the plan's limit: per window (day windows: summed over the days; month and billing-period windows: the calendar month).</summary>
internal sealed record OverageLine(string Feature, long? Limit, string ResetPeriod, string LimitMode, long Quantity, long OverageUnits, long SoftOverageRecorded, long SoftOverageEvents);

internal sealed record PlanInfo(string PlanId, string PlanSource);

internal sealed record CatalogInfo(string Version, string Sha256);

/// <summary>The chain head at generation time (seq and hash of the newest ledger row of this tenant and environment; seq 0 = none).</summary>
internal sealed record LedgerHeadInfo(long Seq, string Hash);

internal sealed record AuditExcerptLine(DateTimeOffset At, string Actor, string Action, string? Environment, string Cause);

/// <summary>
/// The statement pack: the statement plus the plan the tenant is on (as resolved at generation time), overages, the catalog version
/// and the SHA-256 of the catalog file, the ledger head, and the month's audit entries of the tenant.
/// </summary>
internal sealed record StatementPack(UsageStatement Statement, PlanInfo Plan, IReadOnlyList<OverageLine> Overages, CatalogInfo Catalog, LedgerHeadInfo LedgerHead, IReadOnlyList<AuditExcerptLine> Audit);

/// <summary>Builds statements and packs from the ledger (never from the rollups, so they cannot lag behind it).</summary>
internal static class Statements
{
    public static async Task<UsageStatement> BuildAsync(MeteringDbContext db, PlanCatalog catalog, string tenantId, string environment, DateOnly month, DateTimeOffset now, CancellationToken ct)
    {
        var (start, end) = Bounds(month);
        var perDay = await PerDayAsync(db, tenantId, environment, month, ct);
        var lines = perDay.GroupBy(d => d.Feature, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new StatementLine(
                g.Key,
                g.Select(x => x.Unit).FirstOrDefault(u => u.Length > 0) ?? (catalog.Features.TryGetValue(g.Key, out var f) ? f.Unit ?? "" : ""),
                g.Sum(x => x.Quantity), g.Sum(x => x.Events), g.Sum(x => x.Late), g.Sum(x => x.TooLate), g.Sum(x => x.Overage), g.Sum(x => x.OverageEvents)))
            .ToList();
        return new UsageStatement(tenantId, environment, month.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture), start, end, now, lines);
    }

    public static async Task<StatementPack?> BuildPackAsync(
        MeteringDbContext db, EntitlementsDbContext entitlements, PlanCatalog catalog, string tenantId, string environment, DateOnly month, DateTimeOffset now, CancellationToken ct)
    {
        var row = await entitlements.Entitlements.AsNoTracking().FirstOrDefaultAsync(e => e.TenantId == tenantId && e.Environment == environment, ct);
        var tenant = await entitlements.Tenants.AsNoTracking().FirstOrDefaultAsync(t => t.TenantId == tenantId, ct);
        if (row is null || tenant is null)
        {
            return null;
        }

        var snapshot = EntitlementChanges.Resolve(catalog, row, Tenant.Blocks(tenant.Status), now);
        var statement = await BuildAsync(db, catalog, tenantId, environment, month, now, ct);
        var perDay = await PerDayAsync(db, tenantId, environment, month, ct);
        var overages = new List<OverageLine>();
        foreach (var line in statement.Lines)
        {
            snapshot.Features.TryGetValue(line.Feature, out var grant);
            var limit = grant is { Limit: >= 0 } ? grant.Limit : (long?)null;
            var period = grant?.ResetPeriod ?? (catalog.Features.TryGetValue(line.Feature, out var def) ? def.ResetPeriod : ResetPeriod.None);
            long overage = 0;
            if (limit is { } l)
            {
                overage = period == ResetPeriod.Day
                    ? perDay.Where(d => d.Feature == line.Feature).Sum(d => Math.Max(0, d.Quantity - l))
                    : Math.Max(0, line.Quantity - l);
            }

            var mode = await db.Ledger.AsNoTracking()
                .Where(r => r.TenantId == tenantId && r.Environment == environment && r.Feature == line.Feature)
                .OrderByDescending(r => r.Seq).Select(r => r.LimitMode).FirstOrDefaultAsync(ct) ?? "hard";
            overages.Add(new OverageLine(line.Feature, limit, period.ToString().ToLowerInvariant(), mode, line.Quantity, overage, line.SoftOverageRecorded, line.SoftOverageEvents));
        }

        var head = await db.LedgerHeads.AsNoTracking().FirstOrDefaultAsync(h => h.TenantId == tenantId && h.Environment == environment, ct);
        var audit = await entitlements.AuditEntries.AsNoTracking()
            .Where(a => a.TenantId == tenantId && a.At >= statement.PeriodStart && a.At < statement.PeriodEnd)
            .OrderBy(a => a.At).ThenBy(a => a.Id)
            .Select(a => new AuditExcerptLine(a.At, a.Actor, a.Action, a.Environment, a.Cause)).ToListAsync(ct);
        return new StatementPack(
            statement,
            new PlanInfo(snapshot.PlanId, snapshot.PlanSource.ToString().ToLowerInvariant()),
            overages,
            new CatalogInfo(catalog.Version, catalog.ContentHash),
            new LedgerHeadInfo(head?.LastSeq ?? 0, head?.LastHash ?? LedgerChain.Genesis),
            audit);
    }

    public static (DateTimeOffset Start, DateTimeOffset End) Bounds(DateOnly month)
    {
        var start = new DateTimeOffset(month.Year, month.Month, 1, 0, 0, 0, TimeSpan.Zero);
        return (start, start.AddMonths(1));
    }

    private sealed record DayTotal(string Feature, string Unit, DateOnly Day, long Quantity, long Events, long Late, long TooLate, long Overage, long OverageEvents);

    private static async Task<List<DayTotal>> PerDayAsync(MeteringDbContext db, string tenantId, string environment, DateOnly month, CancellationToken ct)
    {
        var first = new DateOnly(month.Year, month.Month, 1);
        var next = first.AddMonths(1);
        return await db.Ledger.AsNoTracking()
            .Where(r => r.TenantId == tenantId && r.Environment == environment && r.UsageDay >= first && r.UsageDay < next)
            .GroupBy(r => new { r.Feature, r.UsageDay })
            .Select(g => new DayTotal(
                g.Key.Feature, g.Max(r => r.Unit)!, g.Key.UsageDay, g.Sum(r => r.Quantity), g.LongCount(),
                g.LongCount(r => r.Lateness == Lateness.Late), g.LongCount(r => r.Lateness == Lateness.TooLate), g.Sum(r => r.Overage), g.LongCount(r => r.Overage > 0)))
            .ToListAsync(ct);
    }
}
