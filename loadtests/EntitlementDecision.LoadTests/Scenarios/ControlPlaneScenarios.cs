using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.LoadTests.Framework;
using EntitlementDecision.Redis;
using EntitlementDecision.Stripe;
using EntitlementDecision.TestSupport;
using StackExchange.Redis;

namespace EntitlementDecision.LoadTests.Scenarios;

/// <summary>Scenarios through the control plane: signed Stripe webhooks, and their propagation to the sidecar.</summary>
public sealed class ControlPlaneScenarios(Settings settings, Seeder seeder)
{
    private const string ProPrice = "price_1PgafmB7WZ01zgkW6dKueIc5";      // catalog/plans.json: pro
    private const string BusinessPrice = "price_1PgbusinessMonthlyDev01";  // catalog/plans.json: business
    private readonly string _tag = settings.RunTag;
    private HttpClient? _http;

    private HttpClient Http => _http ??= CreateHttp();

    private HttpClient CreateHttp()
    {
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, UseProxy = false })
        {
            BaseAddress = settings.ControlPlane,
            Timeout = TimeSpan.FromSeconds(60),
        };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", settings.OperatorToken);
        return http;
    }

    private string Secret => settings.WebhookSecret!.Split(',')[0].Trim();

    private async Task CreateTenantAsync(string tenant)
    {
        using var response = await Http.PostAsJsonAsync("/tenants", new { tenant_id = tenant, name = "load test " + tenant, environment = "production" });
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST /tenants {tenant} -> {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>A customer.subscription.updated event of the tenant's subscription, active on the given price; created = base + seq seconds.</summary>
    private static byte[] Event(string eventId, string tenant, string subscriptionId, long seq, bool business, DateTimeOffset createdBase) =>
        StripeEventBuilder.Subscription(StripeSubscriptionEvents.SubscriptionUpdated)
            .WithEventId(eventId).WithCreated(createdBase.AddSeconds(seq))
            .WithObjectId(subscriptionId).WithStatus("active").WithPriceIds(business ? BusinessPrice : ProPrice)
            .WithItemCurrentPeriodEnd(0, DateTimeOffset.UtcNow.AddMonths(1)).WithCancelAtPeriodEnd(false).WithCanceledAt(null)
            .WithMetadata("tenant_id", tenant).WithMetadata("environment", "production")
            .ToUtf8Bytes();

    private async Task<long> PendingEventsAsync()
    {
        using var doc = JsonDocument.Parse(await Http.GetStringAsync("/billing/webhooks/stats"));
        return doc.RootElement.GetProperty("stored").GetProperty("pending").GetInt64();
    }

    private async Task<string?> ControlPlanePlanAsync(string tenant)
    {
        using var doc = JsonDocument.Parse(await Http.GetStringAsync($"/tenants/{tenant}/entitlements?environment=production"));
        return doc.RootElement.TryGetProperty("plan_id", out var p) ? p.GetString() : doc.RootElement.GetProperty("planId").GetString();
    }

    private async Task<(int Status, bool Duplicate, string? Outcome)> PostAsync(byte[] body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/billing/webhook") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("Stripe-Signature", WebhookSignature.CreateHeader(body, Secret, DateTimeOffset.UtcNow));
        using var response = await Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            return ((int)response.StatusCode, false, text);
        }

        using var json = JsonDocument.Parse(text);
        var duplicate = json.RootElement.TryGetProperty("duplicate", out var d) && d.GetBoolean();
        // The control plane answers once the event is stored ("status": "pending") and applies it asynchronously.
        var outcome = json.RootElement.TryGetProperty("status", out var o) ? o.GetString() : null;
        return (200, duplicate, outcome);
    }

    /// <summary>
    /// A burst of signed Stripe events, 32 at a time, over many tenants (each tenant's events in any order: created increases with the
    /// tenant's sequence, so the last one must win). Verified afterwards: every event id is stored (its redelivery answers duplicate),
    /// and each tenant's plan in the control plane and in the sidecar is the one of its newest event.
    /// </summary>
    public Scenario WebhookBurst(int events, int tenants, int copies)
    {
        var bodies = new List<(string Id, int Tenant, byte[] Body)>();
        var expectedPlan = new string[tenants];
        var problems = new ConcurrentBag<string>();
        long redeliveredDuplicates = 0;
        var processedPerSecond = 0.0;
        var burstStarted = 0L;
        string Tenant(int t) => $"lt-wh-{_tag}-{t}";
        var next = -1;
        return Scenario.Create("webhook_burst", async context =>
            {
                var i = Interlocked.Increment(ref next);
                if (i == 0)
                {
                    Interlocked.CompareExchange(ref burstStarted, Stopwatch.GetTimestamp(), 0);
                }

                if (i >= bodies.Count)
                {
                    return Response.Fail("no_more_events");
                }

                var (status, duplicate, outcome) = await PostAsync(bodies[i].Body);
                if (status != 200)
                {
                    return Response.Fail("http_" + status, outcome);
                }

                context.Count(duplicate ? "outcome.duplicate" : "outcome." + outcome);
                return duplicate || outcome is null || outcome.StartsWith("rejected", StringComparison.Ordinal) ? Response.Fail("not_applied", outcome) : Response.Ok();
            })
            .WithDescription($"{events:N0} signed customer.subscription.updated events (Stripe's fixture subscription, pro/business alternating) for {tenants} tenants, posted by {copies} concurrent senders to POST /billing/webhook; ok = HTTP 200 with status pending (stored; applied asynchronously, each tenant's events in Stripe's created order).")
            .WithInit(async stats =>
            {
                var started = Stopwatch.GetTimestamp();
                await Task.WhenAll(Enumerable.Range(0, tenants).Select(t => CreateTenantAsync(Tenant(t))));
                var createdBase = DateTimeOffset.UtcNow.AddHours(-1);
                for (var k = 0; k < events; k++)
                {
                    var t = k % tenants;
                    long seq = k / tenants;
                    var business = seq % 2 == 1;
                    bodies.Add(($"evt_lt_{_tag}_{k}", t, Event($"evt_lt_{_tag}_{k}", Tenant(t), $"sub_lt_{_tag}_{t}", seq, business, createdBase)));
                    expectedPlan[t] = business ? "business" : "pro"; // the newest event of tenant t so far
                }

                stats.Notes.Add($"created {tenants} tenants and built {events:N0} signed events in {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s");
            })
            .WithClean(async stats =>
            {
                // 0. Processing is asynchronous: wait until no stored event is pending (at most 300 s) and report the processing rate,
                // so that the checks below and the next scenario see a drained queue.
                var drainStarted = Stopwatch.GetTimestamp();
                long pending;
                while ((pending = await PendingEventsAsync()) > 0 && Stopwatch.GetElapsedTime(drainStarted) < TimeSpan.FromSeconds(300))
                {
                    await Task.Delay(50);
                }

                var processingSeconds = Stopwatch.GetElapsedTime(burstStarted).TotalSeconds;
                processedPerSecond = events / Math.Max(processingSeconds, 0.001);
                stats.Notes.Add(pending == 0
                    ? $"processing: all {events:N0} events processed {processingSeconds:0.0} s after the first was sent ({processedPerSecond:N0} events/s end to end; the queue drained {Stopwatch.GetElapsedTime(drainStarted).TotalSeconds:0.0} s after the last 200)"
                    : $"processing: {pending:N0} events still pending 300 s after the burst");
                if (pending > 0)
                {
                    problems.Add($"{pending} events still pending after 300 s");
                }

                // 1. Every event id was stored: a redelivery of each answers { duplicate: true }.
                var i = -1;
                await Task.WhenAll(Enumerable.Range(0, copies).Select(async _ =>
                {
                    int k;
                    while ((k = Interlocked.Increment(ref i)) < bodies.Count)
                    {
                        var (status, duplicate, outcome) = await PostAsync(bodies[k].Body);
                        if (status == 200 && duplicate)
                        {
                            Interlocked.Increment(ref redeliveredDuplicates);
                        }
                        else
                        {
                            problems.Add($"{bodies[k].Id}: redelivery -> {status} duplicate={duplicate} {outcome}");
                        }
                    }
                }));
                stats.Notes.Add($"redelivered all {bodies.Count:N0} events: {redeliveredDuplicates:N0} answered duplicate (stored under their id)");

                // 2. Each tenant ends on its newest event's plan, in the control plane and in the sidecar. Webhooks are processed
                // asynchronously after the 200, so both are polled (at most 15 s in all) until they agree.
                var sidecar = settings.SidecarClients[0];
                var deadline = Stopwatch.GetTimestamp() + (15 * Stopwatch.Frequency);
                var planMismatches = 0;
                for (var t = 0; t < tenants; t++)
                {
                    string? plan;
                    while ((plan = await ControlPlanePlanAsync(Tenant(t))) != expectedPlan[t] && Stopwatch.GetTimestamp() < deadline)
                    {
                        await Task.Delay(10);
                    }

                    if (plan != expectedPlan[t])
                    {
                        planMismatches++;
                        problems.Add($"{Tenant(t)}: control plane plan {plan}, newest event says {expectedPlan[t]}");
                    }

                    CheckEntitlementResponse r;
                    while ((r = await sidecar.CheckAsync(Seeder.Check(Tenant(t), "advanced_reports"))).PlanId != expectedPlan[t]
                        && Stopwatch.GetTimestamp() < deadline)
                    {
                        await Task.Delay(10);
                    }

                    if (r.PlanId != expectedPlan[t])
                    {
                        planMismatches++;
                        problems.Add($"{Tenant(t)}: sidecar plan {r.PlanId}, newest event says {expectedPlan[t]}");
                    }
                }

                stats.Notes.Add(planMismatches == 0
                    ? $"verified: all {tenants} tenants are on their newest event's plan in the control plane and in the sidecar"
                    : $"{planMismatches} plan mismatches: " + string.Join("; ", problems.Take(5)));
            })
            .WithoutWarmUp()
            .WithLoadSimulations(Simulation.IterationsForConstant(copies, events))
            .WithThresholds(
                Threshold.Create("every event accepted (HTTP 200, applied or ignored_stale)", s => s.OkCount == events && s.FailCount == 0, s => $"{s.OkCount} of {events}, failures: {string.Join(", ", s.Failures.Select(f => f.Key + "=" + f.Value))}"),
                Threshold.Create("none lost: every event id stored, every tenant on its newest event's plan", _ => redeliveredDuplicates == events && problems.IsEmpty, _ => $"{redeliveredDuplicates} of {events} stored, {problems.Count} problems"),
                Threshold.Target("webhook burst >= 1,000 events/s accepted", s => s.OkPerSecond >= 1000, s => $"{s.OkPerSecond:N0}/s"),
                Threshold.Target("webhook burst processed (applied) >= 1,000 events/s end to end", _ => processedPerSecond >= 1000, _ => $"{processedPerSecond:N0}/s"));
    }

    /// <summary>
    /// Time from a webhook's HTTP 200 to (a) the snapshot's invalidation on Redis pub/sub and (b) the sidecar's new answer, polled back to back.
    /// One webhook at a time, alternating the tenant between pro and business.
    /// </summary>
    /// <summary>
    /// The ledger's catch-up after the sidecar scenarios: every RecordUsage (record_usage, mixed) appended a stream entry that the
    /// control plane's consumer (group "ledger") writes to PostgreSQL. Polls XINFO GROUPS until the group's lag and pending are 0,
    /// and reports how long that took and the rate. It also keeps the webhook scenarios from being measured against a ledger still
    /// catching up on the same two cores and the same PostgreSQL.
    /// </summary>
    public Scenario LedgerDrain(TimeSpan atMost)
    {
        long backlogAtStart = 0;
        long backlogAtEnd = -1;
        var seconds = 0.0;
        return Scenario.Create("ledger_drain", async context =>
            {
                var db = (await seeder.RedisAsync()).GetDatabase();
                var started = Stopwatch.GetTimestamp();
                backlogAtStart = await LedgerBacklogAsync(db);
                long backlog;
                while ((backlog = await LedgerBacklogAsync(db)) > 0 && Stopwatch.GetElapsedTime(started) < atMost)
                {
                    await Task.Delay(100);
                }

                backlogAtEnd = backlog;
                seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                context.Record("drain", Stopwatch.GetElapsedTime(started));
                return backlog == 0 ? Response.Ok() : Response.Fail("not_drained", $"{backlog} entries left after {atMost.TotalSeconds:0} s");
            })
            .WithDescription($"After the sidecar scenarios: waits (at most {atMost.TotalSeconds:0} s) until the control plane's ledger consumer has written and acknowledged every usage stream entry (XINFO GROUPS on every shard's ed:usage-events:{{shard}}: lag + pending = 0). Step latency = the catch-up time.")
            .WithoutWarmUp()
            .WithLoadSimulations(Simulation.IterationsForConstant(1, 1))
            .WithThresholds(
                Threshold.Create("the ledger catches up (no entry left unwritten)", _ => backlogAtEnd == 0, _ => $"{backlogAtStart:N0} entries behind at the start, {backlogAtEnd:N0} left after {seconds:0.0} s"),
                Threshold.Target("ledger writes >= 5,000 usage events/s while catching up", _ => backlogAtStart == 0 || backlogAtStart / Math.Max(seconds, 0.001) >= 5_000, _ => backlogAtStart == 0 ? "nothing to catch up" : $"{backlogAtStart / Math.Max(seconds, 0.001):N0}/s ({backlogAtStart:N0} entries in {seconds:0.0} s)"));
    }

    /// <summary>Entries of the usage streams the ledger group has not acknowledged, over every shard: lag (never delivered) +
    /// pending (delivered, not acknowledged).</summary>
    private static async Task<long> LedgerBacklogAsync(IDatabase db)
    {
        long backlog = 0;
        for (var shard = 0; shard < RedisKeys.Shards; shard++)
        {
            if (!await db.KeyExistsAsync(UsageStreamKeys.Default.Events(shard)))
            {
                continue;
            }

            foreach (var group in await db.StreamGroupInfoAsync(UsageStreamKeys.Default.Events(shard)))
            {
                if (group.Name == UsageStreamKeys.LedgerGroup)
                {
                    backlog += (group.Lag ?? 0) + group.PendingMessageCount;
                }
            }
        }

        return backlog;
    }

    public Scenario Propagation(int iterations)
    {
        var tenant = $"lt-prop-{_tag}";
        var published = new ConcurrentDictionary<string, long>(StringComparer.Ordinal); // plan@version -> timestamp of the invalidation
        var createdBase = DateTimeOffset.UtcNow.AddHours(-1);
        long lastVersion = 0;
        return Scenario.Create("propagation", async context =>
            {
                var seq = context.InvocationNumber + 1;
                var business = seq % 2 == 1;
                var plan = business ? "business" : "pro";
                var body = Event($"evt_lt_prop_{_tag}_{seq}", tenant, $"sub_lt_prop_{_tag}", seq, business, createdBase);
                var sent = Stopwatch.GetTimestamp();
                var (status, duplicate, outcome) = await PostAsync(body);
                var ok200 = Stopwatch.GetTimestamp();
                if (status != 200 || duplicate || outcome != "pending")
                {
                    return Response.Fail("webhook_" + status, outcome);
                }

                // Poll the sidecar back to back until it answers with the new plan (at most 5 s).
                var client = settings.SidecarClients[0];
                CheckEntitlementResponse r;
                do
                {
                    r = await client.CheckAsync(Seeder.Check(tenant, "advanced_reports"));
                }
                while ((r.PlanId != plan || r.SnapshotVersion <= lastVersion) && Stopwatch.GetElapsedTime(ok200) < TimeSpan.FromSeconds(5));

                var seen = Stopwatch.GetTimestamp();
                if (r.PlanId != plan)
                {
                    return Response.Fail("not_propagated_in_5s");
                }

                lastVersion = r.SnapshotVersion;
                context.Record("webhook_200_to_sidecar", Stopwatch.GetElapsedTime(ok200, seen));
                context.Record("webhook_sent_to_sidecar", Stopwatch.GetElapsedTime(sent, seen));
                context.Record("webhook_sent_to_200", Stopwatch.GetElapsedTime(sent, ok200));
                for (var wait = 0; wait < 200 && !published.ContainsKey($"{plan}@{r.SnapshotVersion}"); wait++)
                {
                    await Task.Delay(1);
                }

                if (published.TryGetValue($"{plan}@{r.SnapshotVersion}", out var at))
                {
                    if (at <= ok200)
                    {
                        context.Count("invalidation_before_200");
                    }

                    context.Record("webhook_200_to_redis_invalidation", Stopwatch.GetElapsedTime(ok200, Math.Max(at, ok200)));
                    context.Record("redis_invalidation_to_sidecar", Stopwatch.GetElapsedTime(at, Math.Max(at, seen)));
                }
                else
                {
                    context.Count("invalidation_not_seen");
                }

                await Task.Delay(5);
                return Response.Ok();
            })
            .WithDescription($"One tenant, {iterations} signed subscription updates one after the other (pro and business alternating). Per update: HTTP 200 of the webhook, then the sidecar polled back to back until it answers with the new plan and a higher snapshot version; a Redis subscriber on the tenant's shard channel (`{RedisKeys.InvalidationChannel(RedisKeys.ShardOf("production", tenant))}`, SSUBSCRIBE) timestamps the invalidation. Step latency = the whole update; the target is on `webhook_200_to_sidecar`. An invalidation published before the HTTP 200 counts as 0 ms (counter `invalidation_before_200`).")
            .WithInit(async stats =>
            {
                await CreateTenantAsync(tenant);
                var redis = await seeder.RedisAsync();
                await redis.GetSubscriber().SubscribeAsync(RedisChannel.Sharded(RedisKeys.InvalidationChannel(RedisKeys.ShardOf("production", tenant))), (_, message) =>
                {
                    var now = Stopwatch.GetTimestamp();
                    var snapshot = SnapshotCodec.Decode((byte[])message!);
                    if (snapshot.TenantId == tenant)
                    {
                        published.TryAdd($"{snapshot.PlanId}@{snapshot.Version}", now);
                    }
                });
                // Make sure the sidecar holds the tenant (it learns of changes by invalidation only when it has the tenant cached).
                var client = settings.SidecarClients[0];
                var deadline = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
                CheckEntitlementResponse r;
                while ((r = await client.CheckAsync(Seeder.Check(tenant, "advanced_reports"))).Reason == DecisionReason.UnknownTenant
                    && Stopwatch.GetTimestamp() < deadline)
                {
                    await Task.Delay(50);
                }

                lastVersion = r.SnapshotVersion;
                stats.Notes.Add($"tenant {tenant} on plan {r.PlanId} at snapshot version {r.SnapshotVersion} before the first update");
            })
            .WithoutWarmUp()
            .WithLoadSimulations(Simulation.IterationsForConstant(1, iterations))
            .WithThresholds(
                Threshold.Create("every update reached the sidecar (within 5 s)", s => s.FailCount == 0 && s.OkCount == iterations, s => $"{s.OkCount} of {iterations}"),
                Threshold.Target("propagation p99 <= 50 ms (issue 15; webhook 200 -> sidecar's new answer)", s => s.Metric("webhook_200_to_sidecar").PercentileMicros(99) <= 50_000,
                    s => $"{s.Metric("webhook_200_to_sidecar").PercentileMicros(99) / 1000:0.000} ms"));
    }
}
