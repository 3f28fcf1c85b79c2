using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using EntitlementDecision.ControlPlane.Approvals;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Metering;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Resolution;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tenants;

/// <summary>One file of the pack as the manifest lists it: path in the ZIP, SHA-256 (lower-case hex) and size in bytes.</summary>
internal sealed record ManifestFile(string Path, string Sha256, long Bytes);

/// <summary><c>manifest.json</c>: what the pack covers and the hash of every other file in it.</summary>
internal sealed record PackManifest(string TenantId, DateOnly From, DateOnly To, DateTimeOffset GeneratedAt, IReadOnlyList<ManifestFile> Files);

/// <summary>
/// <c>GET /tenants/{id}/disclosure-pack?from=YYYY-MM-DD&amp;to=YYYY-MM-DD</c> (operators; both days inclusive, default: the tenant's
/// creation day to today, at most 400 days): a ZIP with <c>dossier.json</c>, <c>audit.json</c> (entries in range),
/// <c>lifecycle.json</c> (lifecycle transitions and approvals in range), <c>statements/{environment}/{yyyy-MM}.json</c> (the statement
/// pack of every month touching the range), <c>integrity/{environment}.json</c> (daily integrity reports in range),
/// <c>reconciliation.json</c> (the tenant's reconciliation findings in range) and <c>manifest.json</c> with the SHA-256 of each.
/// </summary>
internal static class DisclosurePack
{
    public static async Task<IResult> Get(
        string tenantId, string? from, string? to, EntitlementsDbContext db, MeteringDbContext metering, PlanCatalog catalog, DunningPolicy dunning,
        GovernanceOptions governance, TimeProvider time, Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json, CancellationToken ct)
    {
        var dossier = await TenantDossier.BuildAsync(tenantId, db, catalog, dunning, governance, time, ct);
        if (dossier is null)
        {
            return TypedResults.Problem(statusCode: 404, title: "Tenant not found", detail: $"No tenant '{tenantId}'.");
        }

        var now = time.GetUtcNow();
        if (!TryDay(from, DateOnly.FromDateTime(dossier.Tenant.CreatedAt.UtcDateTime), out var first) || !TryDay(to, DateOnly.FromDateTime(now.UtcDateTime), out var last))
        {
            return BadRange("from and to must be days as YYYY-MM-DD.");
        }

        if (last < first || last.DayNumber - first.DayNumber > 400)
        {
            return BadRange($"the range {first:yyyy-MM-dd}..{last:yyyy-MM-dd} must run forwards and span at most 400 days.");
        }

        var start = new DateTimeOffset(first.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var end = new DateTimeOffset(last.AddDays(1).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var options = json.Value.SerializerOptions;
        var files = new List<(string Path, byte[] Bytes)> { ("dossier.json", Serialize(dossier, options)) };

        var audit = await db.AuditEntries.AsNoTracking().Where(a => a.TenantId == tenantId && a.At >= start && a.At < end).OrderBy(a => a.Id).ToListAsync(ct);
        files.Add(("audit.json", Serialize(audit.Select(AuditEntryDto.From).ToList(), options)));
        var approvals = await db.Approvals.AsNoTracking().Where(a => a.TenantId == tenantId && a.RequestedAt >= start && a.RequestedAt < end).OrderBy(a => a.RequestedAt).ToListAsync(ct);
        files.Add(("lifecycle.json", Serialize(new
        {
            Transitions = audit.Where(a => a.Action.StartsWith("tenant.", StringComparison.Ordinal)).Select(AuditEntryDto.From).ToList(),
            Approvals = approvals.Select(ApprovalDto.From).ToList(),
        }, options)));

        foreach (var environment in dossier.Environments.Select(e => e.Environment))
        {
            for (var month = new DateOnly(first.Year, first.Month, 1); month <= last; month = month.AddMonths(1))
            {
                var pack = await Statements.BuildPackAsync(metering, db, catalog, tenantId, environment, month, now, ct);
                files.Add(($"statements/{environment}/{month:yyyy-MM}.json", Serialize(pack, options)));
            }

            files.Add(($"integrity/{environment}.json", Serialize(await UsageReports.IntegrityAsync(metering, tenantId, environment, (first, last), ct), options)));
        }

        var findings = await (from m in db.ReconciliationMismatches.AsNoTracking()
                              join r in db.ReconciliationRuns.AsNoTracking() on m.RunId equals r.Id
                              where m.TenantId == tenantId && r.StartedAt >= start && r.StartedAt < end
                              orderby m.Id
                              select new { m.RunId, r.StartedAt, m.Environment, m.SubscriptionId, m.Field, Ours = m.OurValue, Stripe = m.StripeValue, m.Action }).ToListAsync(ct);
        files.Add(("reconciliation.json", Serialize(findings, options)));

        var manifest = new PackManifest(tenantId, first, last, now,
            files.Select(f => new ManifestFile(f.Path, Convert.ToHexStringLower(SHA256.HashData(f.Bytes)), f.Bytes.Length)).ToList());
        files.Add(("manifest.json", Serialize(manifest, options)));

        using var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (path, bytes) in files)
            {
                var entry = archive.CreateEntry(path, CompressionLevel.Optimal);
                entry.LastWriteTime = now;
                await using var stream = entry.Open();
                await stream.WriteAsync(bytes, ct);
            }
        }

        return TypedResults.File(zip.ToArray(), "application/zip", $"disclosure-{tenantId}-{first:yyyyMMdd}-{last:yyyyMMdd}.zip");
    }

    private static byte[] Serialize<T>(T value, JsonSerializerOptions options) =>
        JsonSerializer.SerializeToUtf8Bytes(value, new JsonSerializerOptions(options) { WriteIndented = true });

    private static bool TryDay(string? text, DateOnly fallback, out DateOnly day)
    {
        day = fallback;
        return string.IsNullOrEmpty(text) || DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out day);
    }

    private static IResult BadRange(string detail) => TypedResults.Problem(statusCode: 400, title: "Bad range", detail: detail);
}
