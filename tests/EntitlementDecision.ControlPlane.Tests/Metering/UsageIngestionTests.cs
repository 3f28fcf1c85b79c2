using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Metering;
using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;
using EntitlementDecision.Redis;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tests.Metering;

/// <summary>A control plane whose catalog rejects undeclared usage (a copy of catalog/plans.json with "undeclared_usage": "reject").</summary>
public sealed class UsageIngestionFixture() : MeteringFixture(14)
{
    private string _catalog = "";

    protected override void Configure(Dictionary<string, string?> settings)
    {
        var text = File.ReadAllText(Path.Combine(RepoPaths.Root, "catalog", "plans.json"));
        Assert.Contains("\"undeclared_usage\": \"warn\"", text, StringComparison.Ordinal);
        _catalog = Path.Combine(Path.GetTempPath(), $"plans-reject-{Guid.NewGuid():N}.json");
        File.WriteAllText(_catalog, text.Replace("\"undeclared_usage\": \"warn\"", "\"undeclared_usage\": \"reject\"", StringComparison.Ordinal));
        settings["ED_CATALOG_PATH"] = _catalog;
    }

    /// <summary>Publishes a snapshot granting api_calls (hard limit <paramref name="apiCallsLimit"/> a month, unit call), exports (soft, 3 a
    /// day, unit export) and advanced_reports (boolean) through the control plane's own store, as the outbox would.</summary>
    public async Task PublishSnapshotAsync(string tenant, long apiCallsLimit, long version = 1)
    {
        var now = DateTimeOffset.UtcNow;
        Assert.True(await new RedisSnapshotStore(Redis).PublishAsync(SnapshotBuilder.For(tenant)
            .WithVersion(version)
            .WithPeriod(now.AddDays(-10), now.AddDays(20))
            .WithGeneratedAt(now)
            .WithCatalogVersion("test")
            .WithMetered("api_calls", apiCallsLimit, ResetPeriod.Month, unit: "call")
            .WithMetered("exports", 3, ResetPeriod.Day, LimitMode.Soft, "export")
            .WithBoolean("advanced_reports")
            .Build()));
    }

    /// <summary>POST /usage/events with a raw body.</summary>
    public async Task<(HttpResponseMessage Response, JsonNode? Json)> PostAsync(string body, string? token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/usage/events") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        var response = await Host.Client.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        File.Delete(_catalog);
    }
}

/// <summary>
/// POST /usage/events on the real host, PostgreSQL and Redis: per-event outcomes through the shared recorder and Lua script (origin http),
/// authorization per event, bad bodies, a Redis failure mid-batch; then the ledger consumer writes exactly the accepted events and the
/// integrity report counts the rest. And the ledger half of "200 parallel RecordUsage calls against a hard limit of 50 accept exactly 50;
/// the same event_id sent again is counted once, in Redis and in the ledger".
/// </summary>
public sealed class UsageIngestionTests(UsageIngestionFixture fx) : IClassFixture<UsageIngestionFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static JsonObject Event(string tenant, string eventId, long quantity = 1, string feature = "api_calls", string service = "api-gateway", string? unit = null)
    {
        var e = new JsonObject
        {
            ["tenant_id"] = tenant,
            ["environment"] = "production",
            ["service"] = service,
            ["feature"] = feature,
            ["quantity"] = quantity,
            ["timestamp"] = DateTimeOffset.UtcNow.AddSeconds(-5).ToString("O", CultureInfo.InvariantCulture),
            ["event_id"] = eventId,
            ["request_id"] = "req-" + eventId,
            ["trace_id"] = "4bf92f3577b34da6a3ce929d0e0e4736",
            ["source_digest"] = "sha256:" + new string('a', 64),
        };
        if (unit is not null)
        {
            e["unit"] = unit;
        }

        return e;
    }

    private static string Body(params JsonNode[] events) => new JsonArray(events.Select(e => e.DeepClone()).ToArray()).ToJsonString();

    private static string Outcome(JsonNode? json, int index) => (string)json!["results"]![index]!["outcome"]!;

    private async Task CoverageReadyAsync()
    {
        // The host writes ed:coverage at start-up in the background; writing it again here (the same replace) makes the test independent of that timing.
        await fx.Service<CoveragePublisher>().PublishAsync();
        Assert.Equal("reject", (string?)await fx.RedisDb.HashGetAsync(UsageStreamKeys.Default.Coverage(RedisKeys.Shards - 1), UsageStreamKeys.CoverageModeField));
    }

    private async Task<Dictionary<string, int>> ReceiptOutcomesAsync(string tenant) =>
        await fx.MeteringAsync(db => db.Receipts.Where(r => r.TenantId == tenant).GroupBy(r => r.Outcome)
            .Select(g => new { g.Key, Count = g.Count() }).ToDictionaryAsync(g => g.Key, g => g.Count, Ct));

    [Fact]
    public async Task BackDatedEvents_OlderThan35DaysInvalid_WithinHeldToTheLimitOfTheirWindow()
    {
        // The defect this pins: 10 events stamped 60 days ago were all accepted against a hard limit of 3 (their counter expired at once).
        await CoverageReadyAsync();
        var old = TestServices.NewTenantId("ing");
        var recent = TestServices.NewTenantId("ing");
        await fx.PublishSnapshotAsync(old, apiCallsLimit: 3);
        await fx.PublishSnapshotAsync(recent, apiCallsLimit: 3);
        JsonNode Stamped(string tenant, int i, TimeSpan ago)
        {
            var e = Event(tenant, $"bd-{i}");
            e["timestamp"] = (DateTimeOffset.UtcNow - ago).ToString("O", CultureInfo.InvariantCulture);
            return e;
        }

        var (oldResponse, oldJson) = await fx.PostAsync(Body([.. Enumerable.Range(0, 10).Select(i => Stamped(old, i, TimeSpan.FromDays(60)))]), fx.Host.OperatorToken());
        var (recentResponse, recentJson) = await fx.PostAsync(Body([.. Enumerable.Range(0, 10).Select(i => Stamped(recent, i, TimeSpan.FromDays(20)))]), fx.Host.OperatorToken());

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (oldResponse.StatusCode, recentResponse.StatusCode));
        Assert.All(oldJson!["results"]!.AsArray(), r => Assert.Equal(("invalid", "timestamp"), ((string?)r!["outcome"], (string?)r["field"])));
        Assert.Contains("35 days in the past", (string?)oldJson["results"]![0]!["reason"], StringComparison.Ordinal);
        var outcomes = recentJson!["results"]!.AsArray().Select(r => (string)r!["outcome"]!).ToList();
        Assert.Equal((3, 7), (outcomes.Count(o => o == "accepted"), outcomes.Count(o => o == "limit_exceeded")));
    }

    [Fact]
    public async Task MixedBatch_PerEventOutcomes_LedgerHoldsExactlyTheAccepted_IntegrityCountsTheRest()
    {
        await CoverageReadyAsync();
        var tenant = TestServices.NewTenantId("ing");
        var other = TestServices.NewTenantId("ing");
        await fx.PublishSnapshotAsync(tenant, apiCallsLimit: 5);
        await fx.PublishSnapshotAsync(other, apiCallsLimit: 5);
        var badQuantity = Event(tenant, "e-bad-q");
        badQuantity["quantity"] = "lots";

        var (response, json) = await fx.PostAsync(Body(
            Event(tenant, "e-1", 2),                                  // 0 accepted (2 of 5)
            Event(tenant, "e-1", 2),                                  // 1 duplicate
            Event(tenant, "e-2", 4),                                  // 2 2 + 4 > 5 under a hard limit
            Event(tenant, "e-zero", 0),                               // 3 quantity must be > 0
            badQuantity,                                              // 4 quantity not a number
            Event(tenant, "e-unit", 1, unit: "byte"),                 // 5 not the feature's unit
            Event(tenant, "e-undeclared", 1, service: "billing-worker"), // 6 undeclared (service, feature) under reject
            Event(other, "e-other", 1),                               // 7 another tenant's event
            Event(tenant, "e-3", 3, unit: "call"),                    // 8 accepted (5 of 5)
            Event(tenant, "e-soft", 4, feature: "exports", service: "exporter")), // 9 accepted over a soft limit
            fx.Host.Token(Roles.Member, tenant));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(
            ["accepted", "duplicate", "limit_exceeded", "invalid", "invalid", "invalid", "rejected_undeclared", "forbidden", "accepted", "accepted"],
            json!["results"]!.AsArray().Select(r => (string)r!["outcome"]!));
        Assert.Equal(Enumerable.Range(0, 10), json["results"]!.AsArray().Select(r => (int)r!["index"]!));
        Assert.Equal((3, 1, 6), ((int)json["accepted"]!, (int)json["duplicate"]!, (int)json["rejected"]!));

        var r = json["results"]!.AsArray();
        Assert.Equal((2L, 5L, 3L, false), ((long)r[0]!["used"]!, (long)r[0]!["limit"]!, (long)r[0]!["remaining"]!, (bool)r[0]!["over_limit"]!));
        Assert.Null(r[0]!["reason"]);
        Assert.Equal("e-1", (string)r[1]!["event_id"]!);
        Assert.Equal((2L, 3L, true), ((long)r[2]!["used"]!, (long)r[2]!["remaining"]!, (bool)r[2]!["over_limit"]!));
        Assert.StartsWith("limit exceeded", (string)r[2]!["reason"]!, StringComparison.Ordinal);
        Assert.Equal(("quantity", "quantity must be > 0"), ((string)r[3]!["field"]!, (string)r[3]!["reason"]!));
        Assert.Equal("quantity", (string)r[4]!["field"]!);
        Assert.Equal("unit", (string)r[5]!["field"]!);
        Assert.Contains("'call'", (string)r[5]!["reason"]!, StringComparison.Ordinal);
        Assert.Contains("billing-worker", (string)r[6]!["reason"]!, StringComparison.Ordinal);
        Assert.StartsWith("forbidden tenant", (string)r[7]!["reason"]!, StringComparison.Ordinal);
        Assert.Equal((5L, 0L, false), ((long)r[8]!["used"]!, (long)r[8]!["remaining"]!, (bool)r[8]!["over_limit"]!));
        Assert.Equal((4L, 1L, true), ((long)r[9]!["used"]!, (long)r[9]!["overage"]!, (bool)r[9]!["over_limit"]!));

        // Redis: the counter holds the accepted units only; the other tenant's event was not counted.
        var window = $"m{DateTimeOffset.UtcNow:yyyyMM}";
        var admin = new UsageCounterAdmin(fx.Redis);
        Assert.Equal([5L, null], await admin.GetCountersAsync([
            new UsageCounterValue("production", tenant, "api_calls", window, 0),
            new UsageCounterValue("production", other, "api_calls", window, 0)]));

        await fx.PumpAsync();
        var rows = await fx.MeteringAsync(db => db.Ledger.Where(l => l.TenantId == tenant).OrderBy(l => l.Seq).ToListAsync(Ct));
        Assert.Equal(["e-1", "e-3", "e-soft"], rows.Select(l => l.EventId));
        Assert.Equal([2L, 3L, 4L], rows.Select(l => l.Quantity));
        Assert.All(rows, l => Assert.Equal("http", l.Origin));
        Assert.Equal((1L, "soft"), (rows[2].Overage, rows[2].LimitMode));
        Assert.Equal(("req-e-1", "4bf92f3577b34da6a3ce929d0e0e4736", "sha256:" + new string('a', 64)), (rows[0].RequestId, rows[0].TraceId, rows[0].SourceDigest));
        Assert.Equal(0, await fx.MeteringAsync(db => db.Ledger.CountAsync(l => l.TenantId == other, Ct)));
        Assert.Equal(0, await fx.MeteringAsync(db => db.Receipts.CountAsync(x => x.TenantId == other, Ct)));

        var outcomes = await ReceiptOutcomesAsync(tenant);
        Assert.Equal(
            new Dictionary<string, int> { ["accepted"] = 3, ["duplicate"] = 1, ["limit_exceeded"] = 1, ["invalid"] = 3, ["rejected_undeclared"] = 1 },
            outcomes);
        var invalidReasons = await fx.MeteringAsync(db => db.Receipts.Where(x => x.TenantId == tenant && x.Outcome == "invalid")
            .OrderBy(x => x.StreamId).Select(x => x.Reason).ToListAsync(Ct));
        Assert.Equal("rejected at ingestion: quantity must be > 0", invalidReasons[0]);
        Assert.StartsWith("rejected at ingestion: quantity must be a whole number", invalidReasons[1], StringComparison.Ordinal);
        Assert.StartsWith("rejected at ingestion: unit 'byte'", invalidReasons[2], StringComparison.Ordinal);

        // The integrity report (owner) over the days these events can fall in.
        await fx.RollupAsync();
        var today = DateOnly.FromDateTime(DateTime.UtcNow);
        var (integrityResponse, integrity) = await fx.Host.SendAsync(
            HttpMethod.Get, $"/tenants/{tenant}/usage/integrity?from={today.AddDays(-1):yyyy-MM-dd}&to={today.AddDays(1):yyyy-MM-dd}", fx.Host.Token(Roles.Owner, tenant));
        Assert.Equal(HttpStatusCode.OK, integrityResponse.StatusCode);
        long Sum(string column) => integrity!.AsArray().Sum(d => (long)d![column]!);
        Assert.Equal((9L, 3L, 1L, 1L, 1L, 3L), (Sum("received"), Sum("accepted"), Sum("duplicate"), Sum("limit_exceeded"), Sum("rejected_undeclared"), Sum("invalid")));
        Assert.Equal(1L, Sum("overage_events")); // e-soft, past the soft limit of exports

        // The statement of the month e-soft counts in carries its overage, read from the ledger (no overage stream).
        var (_, statement) = await fx.Host.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/usage/statements/{rows[2].UsageDay:yyyy-MM}", fx.Host.Token(Roles.Owner, tenant));
        var exports = statement!["lines"]!.AsArray().Single(l => (string)l!["feature"]! == "exports")!;
        Assert.Equal((1L, 1L), ((long)exports["soft_overage_recorded"]!, (long)exports["soft_overage_events"]!));
    }

    [Fact]
    public async Task Operator_AnyTenant_UnknownTenant_NotGranted_AndShapesOfBadEvents()
    {
        await CoverageReadyAsync();
        var tenant = TestServices.NewTenantId("ing");
        var unknown = TestServices.NewTenantId("ing");
        await fx.PublishSnapshotAsync(tenant, apiCallsLimit: 100);
        var proto3 = Event(tenant, "p-proto3");
        proto3["quantity"] = "7"; // proto3 JSON writes int64 as a string
        proto3.Remove("feature");
        proto3["feature_key"] = "api_calls";
        var noOffset = Event(tenant, "p-no-offset");
        // Five minutes ago, well inside the late-arrival window, so only the missing offset can make it invalid (no fixed date).
        noOffset["timestamp"] = DateTime.UtcNow.AddMinutes(-5).ToString("yyyy-MM-ddTHH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
        var noTimestamp = Event(tenant, "p-now");
        noTimestamp.Remove("timestamp");
        noTimestamp.Remove("environment");

        var (response, json) = await fx.PostAsync(Body(
            Event(unknown, "p-unknown"),                        // 0 no snapshot published
            Event(tenant, "p-bool", feature: "advanced_reports"), // 1 granted but not metered
            Event(tenant, "p-plan", feature: "sso"),            // 2 not in the plan
            proto3,                                             // 3 accepted (quantity "7", feature_key)
            noOffset,                                           // 4 invalid timestamp
            noTimestamp,                                        // 5 accepted at receive time, production
            JsonValue.Create(42)!,                              // 6 not an object
            Event(tenant, "p-future", 1)),                      // 7 accepted (5 s in the past)
            fx.Host.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(
            ["unknown_tenant", "invalid", "not_granted", "accepted", "invalid", "accepted", "invalid", "accepted"],
            json!["results"]!.AsArray().Select(r => (string)r!["outcome"]!));
        var r = json["results"]!.AsArray();
        Assert.StartsWith("unknown tenant", (string)r[0]!["reason"]!, StringComparison.Ordinal);
        Assert.Equal("feature", (string)r[1]!["field"]!);
        Assert.Contains("not metered", (string)r[1]!["reason"]!, StringComparison.Ordinal);
        Assert.StartsWith("not_in_plan", (string)r[2]!["reason"]!, StringComparison.Ordinal);
        Assert.Equal(7L, (long)r[3]!["used"]!);
        Assert.Equal("timestamp", (string)r[4]!["field"]!);
        Assert.Equal(8L, (long)r[5]!["used"]!);
        Assert.Equal("event", (string)r[6]!["field"]!);
        Assert.Null(r[6]!["event_id"]);

        var future = Event(tenant, "p-future-2");
        future["timestamp"] = DateTimeOffset.UtcNow.AddHours(1).ToString("O", CultureInfo.InvariantCulture);
        (_, json) = await fx.PostAsync(Body(future), fx.Host.OperatorToken());
        Assert.Equal(("invalid", "timestamp"), (Outcome(json, 0), (string)json!["results"]![0]!["field"]!));

        // The tenant's own admin may not send another tenant's events, even an unknown one; its own go through.
        (_, json) = await fx.PostAsync(Body(Event(unknown, "p-x"), Event(tenant, "p-own")), fx.Host.Token(Roles.Admin, tenant));
        Assert.Equal(("forbidden", "accepted"), (Outcome(json, 0), Outcome(json, 1)));

        await fx.PumpAsync();
        Assert.Equal(["p-future", "p-now", "p-own", "p-proto3"],
            await fx.MeteringAsync(db => db.Ledger.Where(l => l.TenantId == tenant).OrderBy(l => l.EventId).Select(l => l.EventId).ToListAsync(Ct)));
        Assert.Equal(0, await fx.MeteringAsync(db => db.Receipts.CountAsync(x => x.TenantId == unknown, Ct)));
        // invalid: not metered, no offset, future; the non-object element had no tenant and an operator token: receipted under "".
        Assert.Equal(3, (await ReceiptOutcomesAsync(tenant))["invalid"]);
    }

    [Theory]
    [InlineData("{\"tenant_id\": \"a\"}", "not a JSON object")]
    [InlineData("[]", "holds 0")]
    [InlineData("[{\"tenant_id\": ", "not valid JSON")]
    [InlineData("\"events\"", "not a JSON string")]
    public async Task BodyNotAnArrayOfEvents_400ProblemDetails_NothingRecorded(string body, string expected)
    {
        var length = await EventCountAsync();
        var (response, json) = await fx.PostAsync(body, fx.Host.OperatorToken());
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(expected, (string)json!["detail"]!, StringComparison.Ordinal);
        Assert.Equal(length, await EventCountAsync());
    }

    private async Task<long> EventCountAsync() =>
        (await Task.WhenAll(Enumerable.Range(0, RedisKeys.Shards).Select(s => fx.RedisDb.StreamLengthAsync(UsageStreamKeys.Default.Events(s))))).Sum();

    [Fact]
    public async Task MoreThan1000Events_400_NoToken_401()
    {
        var tenant = TestServices.NewTenantId("ing");
        await fx.PublishSnapshotAsync(tenant, apiCallsLimit: -1);
        var events = Enumerable.Range(0, UsageIngestion.MaxEvents + 1).Select(i => (JsonNode)Event(tenant, $"big-{i}")).ToArray();
        var (response, json) = await fx.PostAsync(Body(events), fx.Host.OperatorToken());
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("holds 1001", (string)json!["detail"]!, StringComparison.Ordinal);

        (response, json) = await fx.PostAsync(Body(events[..UsageIngestion.MaxEvents]), fx.Host.Token(Roles.Owner, tenant));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(UsageIngestion.MaxEvents, (int)json!["accepted"]!);

        (response, _) = await fx.PostAsync(Body(Event(tenant, "no-token")), token: null);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task RedisRefusesMidBatch_503NamesTheRecordedPrefix_RetryOfTheWholeBatchCountsEachEventOnce()
    {
        await CoverageReadyAsync();
        var tenant = TestServices.NewTenantId("ing");
        await fx.PublishSnapshotAsync(tenant, apiCallsLimit: 100);
        // The exports counter of today's window holds a hash: the usage script refuses before any write (as when Redis is out of reach).
        var exportsCounter = RedisKeys.UsageCounter(new TenantKey("production", tenant), "exports", $"d{DateTimeOffset.UtcNow:yyyyMMdd}");
        await fx.RedisDb.HashSetAsync(exportsCounter, "x", "1");
        var body = Body(
            Event(tenant, "r-1", 1),
            Event(tenant, "r-2", 2),
            Event(tenant, "r-3", 1, feature: "exports", service: "exporter"),
            Event(tenant, "r-4", 4));

        var (response, json) = await fx.PostAsync(body, fx.Host.Token(Roles.Owner, tenant));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(2, (int)json!["recorded"]!);
        Assert.Equal(["accepted", "accepted"], json["results"]!.AsArray().Select(x => (string)x!["outcome"]!));
        Assert.Contains("events 0..1 were processed", (string)json["detail"]!, StringComparison.Ordinal);

        await fx.RedisDb.KeyDeleteAsync(exportsCounter);
        (response, json) = await fx.PostAsync(body, fx.Host.Token(Roles.Owner, tenant));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["duplicate", "duplicate", "accepted", "accepted"], json!["results"]!.AsArray().Select(x => (string)x!["outcome"]!));
        Assert.Equal(7L, (long)json["results"]![3]!["used"]!);

        await fx.PumpAsync();
        Assert.Equal(8L, await fx.MeteringAsync(db => db.Ledger.Where(l => l.TenantId == tenant).SumAsync(l => l.Quantity, Ct)));
        Assert.Equal(4, await fx.MeteringAsync(db => db.Ledger.CountAsync(l => l.TenantId == tenant, Ct)));
    }

    [Fact]
    public async Task EightParallelBatchesOf25_HardLimit50_Exactly50Accepted_LedgerMatchesRedis()
    {
        await CoverageReadyAsync();
        var tenant = TestServices.NewTenantId("pb");
        await fx.PublishSnapshotAsync(tenant, apiCallsLimit: 50);
        var token = fx.Host.Token(Roles.Member, tenant);
        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(b => Task.Run(async () =>
            (await fx.PostAsync(Body(Enumerable.Range(0, 25).Select(i => (JsonNode)Event(tenant, $"pb-{b}-{i}")).ToArray()), token)).Json!)));
        Assert.Equal(50, answers.Sum(a => (int)a["accepted"]!));
        Assert.Equal(150, answers.Sum(a => a["results"]!.AsArray().Count(r => (string)r!["outcome"]! == "limit_exceeded")));

        await fx.PumpAsync();
        Assert.Equal(50, await fx.MeteringAsync(db => db.Ledger.CountAsync(l => l.TenantId == tenant && l.Origin == "http", Ct)));
        var output = new StringWriter();
        Assert.Equal(0, await fx.MeteringAsync(db => MeteringCommands.CheckAsync(db, new UsageCounterAdmin(fx.Redis), tenant, DateTimeOffset.UtcNow, output, Ct)));
    }

    [Fact]
    public async Task TwoHundredParallelRecordUsage_HardLimit50_Exactly50InRedisAndLedger_ResentEventIdCountedOnce()
    {
        await CoverageReadyAsync();
        var tenant = TestServices.NewTenantId("par");
        await fx.PublishSnapshotAsync(tenant, apiCallsLimit: 50);
        var snapshot = (await new RedisSnapshotStore(fx.Redis).GetAsync(new TenantKey("production", tenant), Ct))!;
        // The sidecar's RecordUsage is this call with origin grpc (the sidecar host cannot share this test process: both are
        // WebApplicationFactory Program types), on the same script and stream.
        var recorder = new UsageRecorder(fx.Redis);
        var now = DateTimeOffset.UtcNow;

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
            await recorder.RecordAsync(snapshot, new UsageEvent(tenant, "production", "api_calls", 1, $"par-{i}", now, "api-gateway", "call"), UsageOrigin.Grpc, now, Ct))));
        Assert.Equal(50, results.Count(x => x.Status == UsageRecordStatus.Accepted));
        Assert.Equal(150, results.Count(x => x.Status == UsageRecordStatus.LimitExceeded));
        var acceptedId = $"par-{Array.FindIndex(results, x => x.Status == UsageRecordStatus.Accepted)}";

        // The same event id again, through both doors: counted once.
        var again = await recorder.RecordAsync(snapshot, new UsageEvent(tenant, "production", "api_calls", 1, acceptedId, now, "api-gateway", "call"), UsageOrigin.Grpc, now, Ct);
        Assert.Equal(UsageRecordStatus.Duplicate, again.Status);
        var ev = Event(tenant, acceptedId);
        ev["timestamp"] = now.ToString("O", CultureInfo.InvariantCulture);
        var (_, json) = await fx.PostAsync(Body(ev), fx.Host.Token(Roles.Member, tenant));
        Assert.Equal("duplicate", Outcome(json, 0));

        var counter = new UsageCounterValue("production", tenant, "api_calls", $"m{now:yyyyMM}", 0);
        Assert.Equal([50L], await new UsageCounterAdmin(fx.Redis).GetCountersAsync([counter]));

        await fx.PumpAsync();
        var rows = await fx.MeteringAsync(db => db.Ledger.Where(l => l.TenantId == tenant).ToListAsync(Ct));
        Assert.Equal(50, rows.Count);
        Assert.Equal(50, rows.Select(l => l.EventId).Distinct().Count());
        Assert.Equal(50L, rows.Sum(l => l.Quantity));
        Assert.Single(rows, l => l.EventId == acceptedId);
        Assert.All(rows, l => Assert.Equal("grpc", l.Origin));
        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), rows.Select(l => l.Seq).Order());
        Assert.Equal(
            new Dictionary<string, int> { ["accepted"] = 50, ["limit_exceeded"] = 150, ["duplicate"] = 2 },
            await ReceiptOutcomesAsync(tenant));

        var output = new StringWriter();
        Assert.Equal(0, await fx.MeteringAsync(db => MeteringCommands.CheckAsync(db, new UsageCounterAdmin(fx.Redis), tenant, now, output, Ct)));
        Assert.Contains("1 counter(s) match the ledger", output.ToString(), StringComparison.Ordinal);
        var verify = new StringWriter();
        Assert.Equal(0, await fx.MeteringAsync(db => MeteringCommands.VerifyAsync(db, tenant, null, verify, Ct)));
    }
}

/// <summary>POST /usage/events with ED_REDIS pointing at a closed port: 503 ProblemDetails, nothing recorded.</summary>
public sealed class UsageIngestionRedisDownTests : IAsyncLifetime
{
    private string _database = "";
    private ControlPlaneFactory _factory = null!;
    private ControlPlaneFixture _fx = null!;

    public async ValueTask InitializeAsync()
    {
        _database = await TestServices.CreateDatabaseAsync();
        var settings = ControlPlaneFactory.DefaultSettings(_database);
        settings["ED_REDIS"] = "127.0.0.1:1,connectTimeout=200";
        settings[MeteringOptions.ConsumerVariable] = "off";
        _factory = new ControlPlaneFactory(settings);
        _fx = new ControlPlaneFixture(_factory);
    }

    public async ValueTask DisposeAsync()
    {
        await _fx.DisposeHelpersAsync();
        await _factory.DisposeAsync();
        await TestServices.DropDatabaseAsync(_database);
    }

    [Fact]
    public async Task RedisDown_503ProblemDetails_NoEventRecorded_RetryIsSafe()
    {
        var tenant = TestServices.NewTenantId("ing");
        var events = new JsonArray(
            new JsonObject { ["tenant_id"] = tenant, ["feature"] = "api_calls", ["quantity"] = 1, ["event_id"] = "down-1" },
            new JsonObject { ["tenant_id"] = tenant, ["feature"] = "api_calls", ["quantity"] = -1, ["event_id"] = "down-2" });
        using var request = new HttpRequestMessage(HttpMethod.Post, "/usage/events") { Content = new StringContent(events.ToJsonString(), Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _fx.Token(Roles.Owner, tenant));
        var response = await _fx.Client.SendAsync(request, TestContext.Current.CancellationToken);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0, (int)json!["recorded"]!);
        Assert.Empty(json["results"]!.AsArray());
        Assert.Contains("no event was recorded", (string)json["detail"]!, StringComparison.Ordinal);
        Assert.Contains("same event ids is safe", (string)json["detail"]!, StringComparison.Ordinal);
    }
}
