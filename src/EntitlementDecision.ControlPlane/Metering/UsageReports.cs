using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>Usage read models other features need too (the disclosure pack of Tenants), kept out of the endpoint class.</summary>
internal static class UsageReports
{
    /// <summary>The ingestion counters of (tenant, environment) per day in [From, To] (inclusive), oldest first.</summary>
    internal static Task<List<DailyIntegrityDto>> IntegrityAsync(MeteringDbContext db, string tenantId, string env, (DateOnly From, DateOnly To) range, CancellationToken ct) =>
        db.DailyIntegrity.AsNoTracking()
            .Where(d => d.TenantId == tenantId && d.Environment == env && d.Day >= range.From && d.Day <= range.To)
            .OrderBy(d => d.Day)
            .Select(d => new DailyIntegrityDto(d.Day, d.Received, d.Accepted, d.Duplicate, d.Late, d.TooLate, d.LimitExceeded, d.RejectedUndeclared, d.Undeclared, d.Invalid, d.OverageEvents))
            .ToListAsync(ct);
}
