using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.LoadTests.Framework;
using FeatureGrant = EntitlementDecision.Engine.Snapshots.FeatureGrant;
using FeatureKind = EntitlementDecision.Engine.Catalog.FeatureKind;
using ResetPeriod = EntitlementDecision.Engine.Catalog.ResetPeriod;
using SubscriptionState = EntitlementDecision.Engine.Snapshots.SubscriptionState;

namespace EntitlementDecision.LoadTests.Scenarios;

/// <summary>Scenarios against the sidecar alone (tenants seeded into Redis, no control plane).</summary>
public sealed class SidecarScenarios(Settings settings, Seeder seeder)
{
    private readonly string _tag = settings.RunTag;

    private string Hot(int i) => $"lt-hot-{_tag}-{i}";

    private SidecarClient Client(ScenarioContext context) => settings.SidecarClients[context.Copy % settings.SidecarClients.Length];

    /// <summary>The hot tenants every check scenario uses (and the ceiling's request).</summary>
    public async Task SeedHotAsync()
    {
        await seeder.PublishAsync([.. Enumerable.Range(0, 10).Select(i => seeder.Snapshot(Hot(i), new FeatureGrant("api_calls", FeatureKind.Metered, 100_000, ResetPeriod.Month)))]);
    }

    public string HotTenant => Hot(0);

    private static Response Granted(CheckEntitlementResponse r) =>
        r.Allowed && r.Reason == DecisionReason.Granted ? Response.Ok() : Response.Fail("wrong_answer", $"{r.Reason} plan={r.PlanId}");

    private Threshold NoErrors() => Threshold.Create("no failed calls", s => s.FailCount == 0 && s.OkCount > 0, s => $"{s.FailCount} failed of {s.Total}");

    /// <summary>Closed model on 10 cached tenants, boolean feature: the sidecar's fastest path (compare with the h2load ceiling).</summary>
    public Scenario CheckHot(int copies) => Scenario.Create("check_hot", async context =>
        {
            var r = await Client(context).CheckAsync(Seeder.Check(Hot(context.Random.Next(10)), "advanced_reports"));
            return Granted(r);
        })
        .WithDescription($"CheckEntitlement(advanced_reports) on 10 cached tenants, {copies} virtual users over 4 HTTP/2 connections (the client SDK on Grpc.Net.Client).")
        .WithWarmUpDuration(settings.WarmUp)
        .WithLoadSimulations(Simulation.KeepConstant(copies, settings.Duration(10)))
        .WithThresholds(NoErrors(), Threshold.Target("p99 <= 2 ms (driver-side, closed model)", s => s.Ok.PercentileMicros(99) <= 2000, s => $"{s.Ok.PercentileMicros(99) / 1000:0.000} ms"));

    /// <summary>check_hot over a Unix domain socket (ED_SIDECAR_URL=unix:/path, the client SDK's unix: address): compare with check_hot.</summary>
    public Scenario CheckHotUds(int copies) => Scenario.Create("check_hot_uds", async context =>
        {
            var r = await settings.UdsClients[context.Copy % settings.UdsClients.Length].CheckAsync(Seeder.Check(Hot(context.Random.Next(10)), "advanced_reports"));
            return Granted(r);
        })
        .WithDescription($"check_hot against a second sidecar listening on a Unix domain socket ({settings.SidecarUds}), {copies} virtual users over 4 HTTP/2 connections: the same work without TCP/IP.")
        .WithWarmUpDuration(settings.WarmUp)
        .WithLoadSimulations(Simulation.KeepConstant(copies, settings.Duration(10)))
        .WithThresholds(NoErrors(), Threshold.Target("p99 <= 2 ms (driver-side, closed model)", s => s.Ok.PercentileMicros(99) <= 2000, s => $"{s.Ok.PercentileMicros(99) / 1000:0.000} ms"));

    /// <summary>Open model: a constant arrival rate, latency from each call's intended start.</summary>
    public Scenario CheckHotOpen(int rate) => Scenario.Create("check_hot_open", async context =>
        {
            var r = await Client(context).CheckAsync(Seeder.Check(Hot(context.Random.Next(10)), "advanced_reports"));
            return Granted(r);
        })
        .WithDescription($"The same call at a constant arrival rate of {rate:N0}/s (open model): latency counts from each request's intended start, so a stall shows up in every request it delays (no coordinated omission).")
        .WithWarmUpDuration(settings.WarmUp)
        .WithLoadSimulations(Simulation.Inject(rate, TimeSpan.FromSeconds(1), settings.Duration(10)))
        .WithThresholds(NoErrors(), Threshold.Target("p99 <= 2 ms at this rate", s => s.Ok.PercentileMicros(99) <= 2000, s => $"{s.Ok.PercentileMicros(99) / 1000:0.000} ms"));

    /// <summary>
    /// check_hot_open against a second sidecar with the decision log on (ED_SIDECAR_DECISION_LOG, drop mode, every decision kept):
    /// its cost is the difference to check_hot_open. Afterwards every answered call, warm-up included, must be a line in the spool.
    /// </summary>
    public Scenario CheckHotOpenDecisionLog(int rate, string spool)
    {
        var clients = settings.DecisionLogClients;
        return Scenario.Create("check_hot_open_decision_log", async context =>
            {
                var r = await clients[context.Copy % clients.Length].CheckAsync(Seeder.Check(Hot(context.Random.Next(10)), "advanced_reports"));
                context.Count("answered");
                return Granted(r);
            })
            .WithDescription($"check_hot_open ({rate:N0}/s, open model) against a second sidecar started with ED_SIDECAR_DECISION_LOG={spool} (drop mode, sample 1: every decision written): compare its latency and CPU with check_hot_open. Counter `spool_lines` = lines in the spool afterwards.")
            .WithWarmUpDuration(settings.WarmUp)
            .WithLoadSimulations(Simulation.Inject(rate, TimeSpan.FromSeconds(1), settings.Duration(10)))
            .WithClean(async stats =>
            {
                // The writer pauses up to 200 ms between batches: wait (at most 10 s) for the last lines.
                var answered = stats.Counter("answered") + stats.Counter("warmup.answered");
                var lines = 0L;
                for (var i = 0; i < 100 && (lines = SpoolLines(spool)) < answered; i++)
                {
                    await Task.Delay(100);
                }

                stats.Increment("spool_lines", lines);
                stats.Notes.Add($"decision log: {lines:N0} lines in {spool} for {answered:N0} answered calls (warm-up included)");
            })
            .WithThresholds(
                NoErrors(),
                Threshold.Create("every answered decision is in the spool", s => s.Counter("spool_lines") == s.Counter("answered") + s.Counter("warmup.answered"),
                    s => $"{s.Counter("spool_lines"):N0} lines for {s.Counter("answered") + s.Counter("warmup.answered"):N0} answers"),
                Threshold.Target("p99 <= 2 ms at this rate", s => s.Ok.PercentileMicros(99) <= 2000, s => $"{s.Ok.PercentileMicros(99) / 1000:0.000} ms"));
    }

    private static long SpoolLines(string spool)
    {
        var lines = 0L;
        foreach (var file in Directory.Exists(spool) ? Directory.GetFiles(spool, "decisions*.jsonl") : [])
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var chunk = new byte[64 * 1024];
            int read;
            while ((read = stream.Read(chunk)) > 0)
            {
                lines += chunk.AsSpan(0, read).Count((byte)'\n');
            }
        }

        return lines;
    }

    /// <summary>100k tenants seeded into Redis; the sidecar's in-process cache has never seen them.</summary>
    public Scenario CheckWide(int tenants, int copies)
    {
        string Wide(int i) => $"lt-wide-{_tag}-{i:D6}";
        return Scenario.Create("check_wide", async context =>
            {
                var r = await Client(context).CheckAsync(Seeder.Check(Wide(context.Random.Next(tenants)), "advanced_reports"));
                return Granted(r);
            })
            .WithDescription($"CheckEntitlement on {tenants:N0} tenants chosen uniformly at random; seeded into Redis with RedisSnapshotStore.PublishAsync just before, never asked before: most calls of the run are L1 misses that read Redis (no warm-up, to keep the cache cold).")
            .WithInit(async stats =>
            {
                var snapshots = Enumerable.Range(0, tenants).Select(i => seeder.Snapshot(Wide(i))).ToList();
                var took = await seeder.PublishAsync(snapshots, parallelism: 512);
                stats.Notes.Add($"seeded {tenants:N0} tenants into Redis in {took.TotalSeconds:0.00} s ({tenants / took.TotalSeconds:N0}/s, each also published on the invalidation channel)");
                await Task.Delay(TimeSpan.FromSeconds(settings.Smoke ? 0.2 : 2)); // let the sidecar drain the invalidation messages
            })
            .WithoutWarmUp()
            .WithLoadSimulations(Simulation.KeepConstant(copies, settings.Duration(10)))
            .WithThresholds(NoErrors(), Threshold.Target("p99 <= 5 ms with a cold cache", s => s.Ok.PercentileMicros(99) <= 5000, s => $"{s.Ok.PercentileMicros(99) / 1000:0.000} ms"));
    }

    /// <summary>CheckEntitlements with 10..50 checks (one metered feature in four: a Redis read each).</summary>
    public Scenario CheckBatch(int copies)
    {
        string[] features = ["projects", "advanced_reports", "sso", "api_calls"];
        return Scenario.Create("check_batch", async context =>
            {
                var n = context.Random.Next(10, 51);
                var request = new CheckEntitlementsRequest();
                var expectedAllowed = 0;
                for (var i = 0; i < n; i++)
                {
                    var feature = features[context.Random.Next(features.Length)];
                    expectedAllowed += feature == "sso" ? 0 : 1;
                    request.Checks.Add(Seeder.Check(Hot(context.Random.Next(10)), feature));
                }

                var r = await Client(context).CheckManyAsync(request);
                if (r.Results.Count != n || r.Results.Count(x => x.Allowed) != expectedAllowed)
                {
                    return Response.Fail("wrong_answer");
                }

                context.Count("checks", n);
                return Response.Ok();
            })
            .WithDescription("CheckEntitlements of 10..50 checks over the hot tenants, features drawn from projects, advanced_reports, sso (denied: inactive) and api_calls (metered: one Redis read per check). Counter `checks` = individual decisions.")
            .WithWarmUpDuration(settings.WarmUp)
            .WithLoadSimulations(Simulation.KeepConstant(copies, settings.Duration(10)))
            .WithThresholds(NoErrors());
    }

    /// <summary>RecordUsage against hard limits: 10 tenants hit a small daily limit, 90 have a large one. Verified afterwards: the counter equals the accepted count.</summary>
    public Scenario RecordUsage(int copies)
    {
        const int Tenants = 100, Limited = 10, SmallLimit = 500;
        var accepted = new long[Tenants];
        var mismatches = new List<string>();
        string Use(int i) => $"lt-use-{_tag}-{i}";
        string Feature(int i) => i < Limited ? "exports" : "api_calls";
        return Scenario.Create("record_usage", async context =>
            {
                var t = context.Random.Next(Tenants);
                var r = await Client(context).RecordUsageAsync(new RecordUsageRequest
                {
                    TenantId = Use(t),
                    Environment = "production",
                    FeatureKey = Feature(t),
                    Quantity = 1,
                    EventId = $"lt-{_tag}-{context.InvocationNumber}",
                });
                if (r.Duplicate)
                {
                    return Response.Fail("unexpected_duplicate");
                }

                if (r.Accepted)
                {
                    Interlocked.Increment(ref accepted[t]);
                    context.Count("accepted");
                    return Response.Ok();
                }

                if (r.Reason == DecisionReason.LimitExceeded && t < Limited && r.Used <= SmallLimit)
                {
                    context.Count("limit_exceeded");
                    return Response.Ok(); // a hard-limit denial is an answer
                }

                return Response.Fail("wrong_answer", $"{r.Reason} used={r.Used}");
            })
            .WithDescription($"RecordUsage(quantity 1, unique event ids) on {Tenants} tenants: {Limited} with a hard daily limit of {SmallLimit} `exports` (reached within the run: LIMIT_EXCEEDED answers are ok), {Tenants - Limited} with 10^9 `api_calls` a month. Afterwards every tenant's counter (read back through CheckEntitlement) must equal the number of calls accepted for it, and never exceed its limit.")
            .WithInit(async _ => await seeder.PublishAsync([.. Enumerable.Range(0, Tenants).Select(i => seeder.Snapshot(Use(i),
                new FeatureGrant("exports", FeatureKind.Metered, i < Limited ? SmallLimit : 1_000_000_000, ResetPeriod.Day),
                new FeatureGrant("api_calls", FeatureKind.Metered, 1_000_000_000, ResetPeriod.Month)))]))
            .WithClean(async stats =>
            {
                var client = settings.SidecarClients[0];
                for (var i = 0; i < Tenants; i++)
                {
                    var r = await client.CheckAsync(Seeder.Check(Use(i), Feature(i)));
                    var count = Volatile.Read(ref accepted[i]);
                    if (r.Used != count || (i < Limited && r.Used > SmallLimit))
                    {
                        mismatches.Add($"{Use(i)}: counter {r.Used}, accepted {count}");
                    }
                }

                stats.Notes.Add(mismatches.Count == 0
                    ? $"verified: all {Tenants} counters equal the accepted calls (warm-up included); limited tenants stopped at {SmallLimit}"
                    : "counter mismatches: " + string.Join("; ", mismatches.Take(10)));
            })
            .WithWarmUpDuration(settings.WarmUp)
            .WithLoadSimulations(Simulation.KeepConstant(copies, settings.Duration(10)))
            .WithThresholds(
                NoErrors(),
                Threshold.Create("every counter equals the accepted calls (none lost, none doubled), limits held", _ => mismatches.Count == 0, _ => $"{mismatches.Count} mismatches"),
                Threshold.Target("RecordUsage >= 50,000/s (issue 15)", s => s.OkPerSecond >= 50_000, s => $"{s.OkPerSecond:N0}/s"),
                Threshold.Target("p99 <= 5 ms", s => s.Ok.PercentileMicros(99) <= 5000, s => $"{s.Ok.PercentileMicros(99) / 1000:0.000} ms"));
    }

    /// <summary>90 % CheckEntitlement on the hot tenants, 10 % RecordUsage (no limit).</summary>
    public Scenario Mixed(int copies)
    {
        string Mix(int i) => $"lt-mix-{_tag}-{i}";
        return Scenario.Create("mixed", async context =>
            {
                var client = Client(context);
                if (context.Random.Next(10) != 0)
                {
                    context.Count("checks");
                    return Granted(await client.CheckAsync(Seeder.Check(Hot(context.Random.Next(10)), "advanced_reports")));
                }

                context.Count("usage");
                var r = await client.RecordUsageAsync(new RecordUsageRequest
                {
                    TenantId = Mix(context.Random.Next(20)),
                    Environment = "production",
                    FeatureKey = "api_calls",
                    Quantity = 1,
                    EventId = $"lt-mix-{_tag}-{context.InvocationNumber}",
                });
                return r.Accepted ? Response.Ok() : Response.Fail("usage_not_accepted", r.Reason.ToString());
            })
            .WithDescription("90 % CheckEntitlement (hot tenants, boolean) and 10 % RecordUsage (20 tenants, unlimited api_calls), one latency distribution for both.")
            .WithInit(async _ => await seeder.PublishAsync([.. Enumerable.Range(0, 20).Select(i => seeder.Snapshot(Mix(i), new FeatureGrant("api_calls", FeatureKind.Metered, -1, ResetPeriod.Month)))]))
            .WithWarmUpDuration(settings.WarmUp)
            .WithLoadSimulations(Simulation.KeepConstant(copies, settings.Duration(10)))
            .WithThresholds(NoErrors());
    }
}
