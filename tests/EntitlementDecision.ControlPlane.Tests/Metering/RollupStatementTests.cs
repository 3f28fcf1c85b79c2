using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Metering;
using Microsoft.EntityFrameworkCore;
using EntitlementDecision.ControlPlane.Data;

namespace EntitlementDecision.ControlPlane.Tests.Metering;

public sealed class RollupStatementFixture() : MeteringFixture(12);

/// <summary>Daily rollups with the integrity report, monthly statements and packs (JSON and CSV), and who may read them.</summary>
public sealed class RollupStatementTests(RollupStatementFixture fx) : IClassFixture<RollupStatementFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed record Generated(string Tenant, string Feature, long Quantity, DateTimeOffset OccurredAt, DateTimeOffset ReceivedAt);

    [Fact]
    public async Task TwoTenants_SevenDays_RollupTotalsEqualAcceptedEvents_IntegrityCountsLateAndDuplicates()
    {
        var start = new DateTimeOffset(2026, 10, 5, 0, 0, 0, TimeSpan.Zero);
        var tenants = new[] { TestServices.NewTenantId("rol"), TestServices.NewTenantId("rol") };
        var random = new Random(20261121);
        var accepted = new List<Generated>();
        var expectedDuplicates = new Dictionary<(string, DateOnly), int>();
        var expectedLimitExceeded = new Dictionary<(string, DateOnly), int>();
        var n = 0;
        foreach (var tenant in tenants)
        {
            for (var day = 0; day < 7; day++)
            {
                for (var i = 0; i < 12; i++)
                {
                    var eventId = $"e{n++}";
                    var feature = random.Next(2) == 0 ? "api_calls" : "exports";
                    var quantity = random.Next(1, 20);
                    var occurred = start.AddDays(day).AddMinutes(random.Next(0, 23 * 60));
                    var kind = random.Next(100);
                    var received = kind switch
                    {
                        < 20 => occurred.Date.AddDays(1).AddHours(random.Next(1, 20)).ToUniversalTime(), // late: next day, within 48 h
                        < 30 => occurred.AddHours(random.Next(49, 80)), // too late: beyond the 48 h window
                        _ => occurred.AddSeconds(random.Next(1, 30)),
                    };
                    received = new DateTimeOffset(received.UtcDateTime, TimeSpan.Zero);
                    await fx.XAddAsync(MeteringFixture.Entry(tenant, eventId, feature, quantity, occurred, received));
                    accepted.Add(new Generated(tenant, feature, quantity, occurred, received));
                    var day_ = ExpectedDay(occurred, received);
                    if (random.Next(100) < 15)
                    {
                        // the producer retried: Redis answered duplicate
                        await fx.XAddAsync(MeteringFixture.Entry(tenant, eventId, feature, quantity, occurred, received.AddSeconds(1), outcome: "duplicate"));
                        Bump(expectedDuplicates, (tenant, ExpectedDay(occurred, received.AddSeconds(1))));
                    }

                    if (random.Next(100) < 5)
                    {
                        // Redis lost the marker and accepted it again: the ledger receipts it as a duplicate
                        await fx.XAddAsync(MeteringFixture.Entry(tenant, eventId, feature, quantity, occurred, received.AddSeconds(2)));
                        Bump(expectedDuplicates, (tenant, ExpectedDay(occurred, received.AddSeconds(2))));
                    }

                    if (random.Next(100) < 10)
                    {
                        await fx.XAddAsync(MeteringFixture.Entry(tenant, eventId + "-over", feature, 1000, occurred, occurred.AddSeconds(1), outcome: "limit_exceeded", limit: 10));
                        Bump(expectedLimitExceeded, (tenant, day_ == ExpectedDay(occurred, occurred.AddSeconds(1)) ? day_ : ExpectedDay(occurred, occurred.AddSeconds(1))));
                    }
                }
            }
        }

        await fx.PumpAsync();
        await fx.RollupAsync();

        foreach (var tenant in tenants)
        {
            var (response, json) = await fx.Host.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/usage/daily?from=2026-10-01&to=2026-10-31", fx.Host.OperatorToken());
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);

            var expectedUsage = accepted.Where(a => a.Tenant == tenant)
                .GroupBy(a => (Day: ExpectedDay(a.OccurredAt, a.ReceivedAt), a.Feature))
                .ToDictionary(g => $"{g.Key.Day:yyyy-MM-dd}|{g.Key.Feature}", g => g.Sum(a => a.Quantity));
            var actualUsage = json!["usage"]!.AsArray().ToDictionary(u => $"{u!["day"]}|{u["feature"]}", u => (long)u!["quantity"]!);
            Assert.Equal(expectedUsage.OrderBy(x => x.Key), actualUsage.OrderBy(x => x.Key));
            var ledgerSum = await fx.MeteringAsync(db => db.Ledger.Where(r => r.TenantId == tenant).SumAsync(r => r.Quantity, Ct));
            Assert.Equal(ledgerSum, actualUsage.Values.Sum());
            Assert.Equal(accepted.Where(a => a.Tenant == tenant).Sum(a => a.Quantity), ledgerSum);

            var integrity = json["integrity"]!.AsArray().ToDictionary(r => DateOnly.Parse((string)r!["day"]!, CultureInfo.InvariantCulture), r => r!);
            var mine = accepted.Where(a => a.Tenant == tenant).ToList();
            var days = mine.Select(a => ExpectedDay(a.OccurredAt, a.ReceivedAt)).Concat(expectedDuplicates.Keys.Where(k => k.Item1 == tenant).Select(k => k.Item2)).Distinct();
            foreach (var day in days)
            {
                var row = integrity[day];
                var onDay = mine.Where(a => ExpectedDay(a.OccurredAt, a.ReceivedAt) == day).ToList();
                Assert.Equal(onDay.Count, (long)row["accepted"]!);
                Assert.Equal(onDay.Count(a => IsLate(a.OccurredAt, a.ReceivedAt)), (long)row["late"]!);
                Assert.Equal(onDay.Count(a => a.ReceivedAt - a.OccurredAt > TimeSpan.FromHours(48)), (long)row["too_late"]!);
                Assert.Equal(expectedDuplicates.GetValueOrDefault((tenant, day)), (long)row["duplicate"]!);
                Assert.Equal(expectedLimitExceeded.GetValueOrDefault((tenant, day)), (long)row["limit_exceeded"]!);
                Assert.Equal((long)row["accepted"]! + (long)row["duplicate"]! + (long)row["limit_exceeded"]!, (long)row["received"]!);
            }

            Assert.True(integrity.Values.Sum(r => (long)r["late"]!) > 0, "the generated data holds late events");
            Assert.True(integrity.Values.Sum(r => (long)r["duplicate"]!) > 0, "the generated data holds duplicates");
        }

        // CSV export of the same rollups
        var csvResponse = await fx.Host.Client.SendAsync(fx.Host.Request(HttpMethod.Get, $"/tenants/{tenants[0]}/usage/daily?from=2026-10-01&to=2026-10-31&format=csv", fx.Host.OperatorToken()), Ct);
        Assert.Equal("text/csv", csvResponse.Content.Headers.ContentType?.MediaType);
        var lines = (await csvResponse.Content.ReadAsStringAsync(Ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal("tenant_id,environment,day,feature,quantity,events,overage", lines[0]);
        Assert.Equal(accepted.Where(a => a.Tenant == tenants[0]).Sum(a => a.Quantity), lines.Skip(1).Sum(l => long.Parse(l.Split(',')[4], CultureInfo.InvariantCulture)));

        // recomputing a range gives the same figures
        var before = await fx.MeteringAsync(db => db.DailyUsage.AsNoTracking().Where(d => d.TenantId == tenants[1]).OrderBy(d => d.Day).ThenBy(d => d.Feature).Select(d => d.Quantity).ToListAsync(Ct));
        var (recompute, _) = await fx.Host.SendAsync(HttpMethod.Post, $"/tenants/{tenants[1]}/usage/daily/recompute?from=2026-10-01&to=2026-10-31", fx.Host.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, recompute.StatusCode);
        var after = await fx.MeteringAsync(db => db.DailyUsage.AsNoTracking().Where(d => d.TenantId == tenants[1]).OrderBy(d => d.Day).ThenBy(d => d.Feature).Select(d => d.Quantity).ToListAsync(Ct));
        Assert.Equal(before, after);
    }

    [Fact]
    public async Task MonthlyStatement_JsonAndCsv_MatchTheLedger_PackCarriesPlanOveragesCatalogHeadAndAudit()
    {
        var tenant = await fx.Host.CreateTenantAsync(); // free plan: api_calls 1000 / month, exports 3 / day; audited now
        var now = DateTimeOffset.UtcNow;
        var monthStart = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
        var month = $"{now:yyyy-MM}";
        for (var i = 0; i < 12; i++)
        {
            await fx.XAddAsync(MeteringFixture.Entry(tenant, $"api-{i}", "api_calls", 100, monthStart.AddHours(i), limit: 1000, limitMode: "soft"));
        }

        for (var i = 0; i < 5; i++)
        {
            await fx.XAddAsync(MeteringFixture.Entry(tenant, $"exp-{i}", "exports", 1, monthStart.AddHours(1).AddMinutes(i), limit: 3, limitMode: "report_only"));
        }

        await fx.XAddAsync(MeteringFixture.Entry(tenant, "prev-month", "api_calls", 77, monthStart.AddHours(-1)));
        await fx.PumpAsync();

        var ledger = await fx.MeteringAsync(db => db.Ledger.Where(r => r.TenantId == tenant && r.UsageDay >= DateOnly.FromDateTime(monthStart.UtcDateTime) && r.UsageDay < DateOnly.FromDateTime(monthStart.AddMonths(1).UtcDateTime))
            .GroupBy(r => r.Feature).Select(g => new { g.Key, Sum = g.Sum(r => r.Quantity), Count = g.Count() }).ToDictionaryAsync(x => x.Key, x => (x.Sum, x.Count), Ct));
        Assert.Equal((1200L, 12), ledger["api_calls"]);

        var (response, json) = await fx.Host.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/usage/statements/{month}", fx.Host.Token(Roles.Owner, tenant));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(month, (string)json!["month"]!);
        var lines = json["lines"]!.AsArray().ToDictionary(l => (string)l!["feature"]!, l => ((long)l!["quantity"]!, (int)l["events"]!));
        Assert.Equal(ledger.OrderBy(x => x.Key), lines.OrderBy(x => x.Key));

        var csv = await fx.Host.Client.SendAsync(fx.Host.Request(HttpMethod.Get, $"/tenants/{tenant}/usage/statements/{month}?format=csv", fx.Host.Token(Roles.Admin, tenant)), Ct);
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        var rows = (await csv.Content.ReadAsStringAsync(Ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(string.Join(",", UsageEndpoints.StatementHeader), rows[0]);
        var csvLines = rows.Skip(1).Select(r => r.Split(',')).ToDictionary(c => c[3], c => (long.Parse(c[5], CultureInfo.InvariantCulture), int.Parse(c[6], CultureInfo.InvariantCulture)));
        Assert.Equal(ledger.OrderBy(x => x.Key), csvLines.OrderBy(x => x.Key));

        var (packResponse, pack) = await fx.Host.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/usage/statements/{month}/pack", fx.Host.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, packResponse.StatusCode);
        Assert.Equal("free", (string)pack!["plan"]!["plan_id"]!);
        var catalogHash = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(RepoPaths.Root, "catalog", "plans.json"), Ct)));
        Assert.Equal(catalogHash, (string)pack["catalog"]!["sha256"]!);
        var head = await fx.MeteringAsync(db => db.LedgerHeads.SingleAsync(h => h.TenantId == tenant, Ct));
        Assert.Equal((head.LastSeq, head.LastHash), ((long)pack["ledger_head"]!["seq"]!, (string)pack["ledger_head"]!["hash"]!));
        var overages = pack["overages"]!.AsArray().ToDictionary(o => (string)o!["feature"]!, o => o!);
        Assert.Equal(200, (long)overages["api_calls"]["overage_units"]!); // 1200 in the month against 1000
        Assert.Equal(2, (long)overages["exports"]["overage_units"]!); // 5 on one day against 3 a day
        Assert.Contains(pack["audit"]!.AsArray(), a => (string)a!["action"]! == "tenant.created");

        var packCsv = await fx.Host.Client.SendAsync(fx.Host.Request(HttpMethod.Get, $"/tenants/{tenant}/usage/statements/{month}/pack?format=csv", fx.Host.OperatorToken()), Ct);
        var packText = await packCsv.Content.ReadAsStringAsync(Ct);
        Assert.Contains($"catalog,sha256,,{catalogHash}", packText, StringComparison.Ordinal);
        Assert.Contains($"ledger_head,hash,,{head.LastHash}", packText, StringComparison.Ordinal);
        Assert.Contains("overage,overage_units,api_calls,200", packText, StringComparison.Ordinal);
        Assert.Contains("usage,quantity,api_calls,1200", packText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SoftLimitOverages_InTheStatementAndTheIntegrityReport_EachEventOnce()
    {
        // Entries as the usage script writes them under a soft limit of 10 calls a month: the overage is the entry's own field.
        var tenant = TestServices.NewTenantId("ovr");
        var day1 = new DateTimeOffset(2026, 9, 14, 10, 0, 0, TimeSpan.Zero);
        var day2 = day1.AddDays(1);
        await fx.XAddAsync(MeteringFixture.Entry(tenant, "o-1", "api_calls", 6, day1, limit: 10, limitMode: "soft", usedAfter: 6));
        await fx.XAddAsync(MeteringFixture.Entry(tenant, "o-2", "api_calls", 6, day1.AddMinutes(1), limit: 10, limitMode: "soft", usedAfter: 12, overage: 2));
        await fx.XAddAsync(MeteringFixture.Entry(tenant, "o-3", "api_calls", 3, day1.AddMinutes(2), limit: 10, limitMode: "soft", usedAfter: 15, overage: 3));
        await fx.XAddAsync(MeteringFixture.Entry(tenant, "o-4", "api_calls", 1, day2, limit: 10, limitMode: "soft", usedAfter: 16, overage: 1));
        // The producer retried o-2 (Redis: duplicate, no overage), and Redis lost o-3's marker and counted it again (the ledger: duplicate).
        await fx.XAddAsync(MeteringFixture.Entry(tenant, "o-2", "api_calls", 6, day1.AddMinutes(3), limit: 10, limitMode: "soft", outcome: "duplicate", usedAfter: 15));
        await fx.XAddAsync(MeteringFixture.Entry(tenant, "o-3", "api_calls", 3, day1.AddMinutes(4), limit: 10, limitMode: "soft", usedAfter: 18, overage: 3));
        // Over a report-only limit: over the limit, but no soft overage.
        await fx.XAddAsync(MeteringFixture.Entry(tenant, "r-1", "exports", 5, day1, limit: 3, limitMode: "report_only", usedAfter: 5));
        await fx.PumpAsync();
        await fx.RollupAsync();

        var (response, integrity) = await fx.Host.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/usage/integrity?from=2026-09-14&to=2026-09-15", fx.Host.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var byDay = integrity!.AsArray().ToDictionary(r => (string)r!["day"]!, r => ((long)r!["accepted"]!, (long)r["duplicate"]!, (long)r["overage_events"]!));
        Assert.Equal((4L, 2L, 2L), byDay["2026-09-14"]); // o-2 and o-3 went past the limit; their second entries are duplicates
        Assert.Equal((1L, 0L, 1L), byDay["2026-09-15"]);

        var csv = await fx.Host.Client.SendAsync(fx.Host.Request(HttpMethod.Get, $"/tenants/{tenant}/usage/integrity?from=2026-09-14&to=2026-09-15&format=csv", fx.Host.OperatorToken()), Ct);
        var csvRows = (await csv.Content.ReadAsStringAsync(Ct)).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.EndsWith(",invalid,overage_events", csvRows[0], StringComparison.Ordinal);
        Assert.Equal(["2", "1"], csvRows.Skip(1).Select(r => r.Split(',')[^1]));

        var (_, statement) = await fx.Host.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/usage/statements/2026-09", fx.Host.OperatorToken());
        var lines = statement!["lines"]!.AsArray().ToDictionary(l => (string)l!["feature"]!, l => ((long)l!["quantity"]!, (long)l["soft_overage_recorded"]!, (long)l["soft_overage_events"]!));
        Assert.Equal((16L, 6L, 3L), lines["api_calls"]); // o-3 counted once: 2 + 3 + 1 units beyond the limit, in 3 events
        Assert.Equal((5L, 0L, 0L), lines["exports"]);
        var statementCsv = await fx.Host.Client.SendAsync(fx.Host.Request(HttpMethod.Get, $"/tenants/{tenant}/usage/statements/2026-09?format=csv", fx.Host.OperatorToken()), Ct);
        var apiRow = (await statementCsv.Content.ReadAsStringAsync(Ct)).Split('\n', StringSplitOptions.TrimEntries).Single(r => r.Contains(",api_calls,", StringComparison.Ordinal)).Split(',');
        Assert.Equal(("6", "3"), (apiRow[Array.IndexOf(UsageEndpoints.StatementHeader, "soft_overage_recorded")], apiRow[Array.IndexOf(UsageEndpoints.StatementHeader, "soft_overage_events")]));

        // A recompute of the days gives the same overage counts.
        await fx.Host.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/usage/daily/recompute?from=2026-09-14&to=2026-09-15", fx.Host.OperatorToken());
        Assert.Equal([2L, 1L], await fx.MeteringAsync(db => db.DailyIntegrity.Where(d => d.TenantId == tenant).OrderBy(d => d.Day).Select(d => d.OverageEvents).ToListAsync(Ct)));
    }

    [Fact]
    public async Task UsageReads_AreLimitedToOperatorsAndTheTenantsOwnersAndAdmins()
    {
        var tenant = TestServices.NewTenantId("iso");
        var other = TestServices.NewTenantId("iso");
        string[] urls = [$"/tenants/{tenant}/usage/daily?from=2026-10-01&to=2026-10-02", $"/tenants/{tenant}/usage/statements/2026-10", $"/tenants/{tenant}/usage/integrity?from=2026-10-01&to=2026-10-02"];
        foreach (var url in urls)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await fx.Host.SendAsync(HttpMethod.Get, url, null)).Response.StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await fx.Host.SendAsync(HttpMethod.Get, url, fx.Host.Token(Roles.Owner, other))).Response.StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await fx.Host.SendAsync(HttpMethod.Get, url, fx.Host.Token(Roles.Member, tenant))).Response.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await fx.Host.SendAsync(HttpMethod.Get, url, fx.Host.Token(Roles.Admin, tenant))).Response.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await fx.Host.SendAsync(HttpMethod.Get, url, fx.Host.OperatorToken())).Response.StatusCode);
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await fx.Host.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/usage/daily/recompute?from=2026-10-01&to=2026-10-02", fx.Host.Token(Roles.Owner, tenant))).Response.StatusCode);
        var (bad, problem) = await fx.Host.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/usage/statements/2026-13?format=xml", fx.Host.OperatorToken());
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.NotNull(problem!["errors"]!["format"]);
    }

    private static DateOnly ExpectedDay(DateTimeOffset occurred, DateTimeOffset received) =>
        DateOnly.FromDateTime((received - occurred > TimeSpan.FromHours(48) ? received : occurred).UtcDateTime);

    private static bool IsLate(DateTimeOffset occurred, DateTimeOffset received) =>
        received.UtcDateTime.Date > occurred.UtcDateTime.Date && received - occurred <= TimeSpan.FromHours(48);

    private static void Bump(Dictionary<(string, DateOnly), int> counts, (string, DateOnly) key) => counts[key] = counts.GetValueOrDefault(key) + 1;
}
