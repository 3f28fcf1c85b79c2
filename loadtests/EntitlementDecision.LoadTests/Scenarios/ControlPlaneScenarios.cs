using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Engine;
using EntitlementDecision.LoadTests.Framework;
using EntitlementDecision.Redis;
using EntitlementDecision.Stripe;
using EntitlementDecision.TestSupport;
using StackExchange.Redis;

namespace EntitlementDecision.LoadTests.Scenarios;

/// <summary>
/// Scenarios through the control plane: signed Stripe webhooks, and their propagation to the sidecar, in the control plane's
/// webhook mode (<see cref="Settings.WebhookMode"/>; payload mode's scenario names end in <c>_payload</c>). The webhook scenarios
/// need the fake Stripe API (<see cref="Settings.Stripe"/>): their events name subscriptions the fake holds, so a re-read finds
/// what the event says.
/// </summary>
public sealed class ControlPlaneScenarios(Settings settings, Seeder seeder)
{
    private const string ProPrice = "price_1PgafmB7WZ01zgkW6dKueIc5";      // catalog/plans.json: pro
    private const string BusinessPrice = "price_1PgbusinessMonthlyDev01";  // catalog/plans.json: business
    private const string Environment = "production";

    /// <summary>Checkouts per second beside the burst: a busy shop's rate, two Stripe calls each (pro's trial check, the session).</summary>
    private const double CheckoutsPerSecond = 3;

    /// <summary>Stripe's per-account budget in test mode (docs.stripe.com/rate-limits), shared by re-reads and checkouts.</summary>
    private const double StripeRequestsPerSecond = 25;

    /// <summary>Shortest time between two propagation updates: with the driver's price change and a possible re-read, at most 20 Stripe requests/s.</summary>
    private static readonly TimeSpan PropagationInterval = TimeSpan.FromMilliseconds(100);

    private readonly string _tag = settings.RunTag;
    private readonly string _suffix = settings.WebhookMode == WebhookMode.Payload ? "_payload" : "";
    private readonly FakeStripeClient? _stripe = settings.Stripe is null ? null : new FakeStripeClient(settings.Stripe, settings.StripeApiKey ?? "");
    private Task? _webhooksStopped;
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

    private FakeStripeClient Stripe => _stripe ?? throw new InvalidOperationException("the webhook scenarios need the fake Stripe API (--stripe)");

    private static string PriceOf(string plan) => plan == "business" ? BusinessPrice : ProPrice;

    // The fake's own deliveries are stopped once: the driver delivers each change it makes in the fake as the event it measures;
    // the fake's event for the same change (created = its wall clock) would be a second delivery racing it.
    private Task StopFakeWebhooksAsync() => _webhooksStopped ??= Stripe.StopWebhooksAsync();

    private async Task CreateTenantAsync(string tenant)
    {
        using var response = await Http.PostAsJsonAsync("/tenants", new { tenant_id = tenant, name = "load test " + tenant, environment = Environment });
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST /tenants {tenant} -> {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>A customer.subscription.updated event of the tenant's subscription in the fake, active on the plan's price; created = base + seq seconds.</summary>
    private static byte[] Event(string eventId, string tenant, FakeSubscription subscription, long seq, string plan, DateTimeOffset createdBase) =>
        StripeEventBuilder.Subscription(StripeSubscriptionEvents.SubscriptionUpdated)
            .WithEventId(eventId).WithCreated(createdBase.AddSeconds(seq))
            .WithObjectId(subscription.Id).WithCustomer(subscription.CustomerId).WithStatus("active").WithPriceIds(PriceOf(plan))
            .WithItemCurrentPeriodEnd(0, DateTimeOffset.UtcNow.AddMonths(1)).WithCancelAtPeriodEnd(false).WithCanceledAt(null)
            .WithMetadata("tenant_id", tenant).WithMetadata("environment", Environment)
            .ToUtf8Bytes();

    /// <summary>An invoice.paid event of the tenant's subscription in the fake (Stripe's fixture invoice, status paid, the subscription
    /// under <c>parent.subscription_details</c> with the tenant's metadata); created = base + seq seconds.</summary>
    private static byte[] InvoicePaid(string eventId, string tenant, FakeSubscription subscription, long seq, DateTimeOffset createdBase)
    {
        var invoice = StripeEventBuilder.LoadFixture("invoice");
        invoice["id"] = "in_" + eventId;
        invoice["customer"] = subscription.CustomerId;
        invoice["status"] = "paid";
        invoice["attempt_count"] = 1;
        invoice["subscription"] = null;
        invoice["parent"] = new System.Text.Json.Nodes.JsonObject
        {
            ["type"] = "subscription_details",
            ["subscription_details"] = new System.Text.Json.Nodes.JsonObject
            {
                ["subscription"] = subscription.Id,
                ["metadata"] = new System.Text.Json.Nodes.JsonObject { ["tenant_id"] = tenant, ["environment"] = Environment },
            },
        };
        return StripeEventBuilder.Create("invoice.paid", invoice).WithEventId(eventId).WithCreated(createdBase.AddSeconds(seq)).ToUtf8Bytes();
    }

    /// <summary>Subscriptions the control plane has read from Stripe for webhook events since it started (<c>since_start.reread</c>).</summary>
    private async Task<long> RereadsAsync()
    {
        using var doc = JsonDocument.Parse(await Http.GetStringAsync("/billing/webhooks/stats"));
        return doc.RootElement.GetProperty("since_start").TryGetProperty("reread", out var r) ? r.GetInt64() : -1;
    }

    private async Task<long> PendingEventsAsync()
    {
        using var doc = JsonDocument.Parse(await Http.GetStringAsync("/billing/webhooks/stats"));
        return doc.RootElement.GetProperty("stored").GetProperty("pending").GetInt64();
    }

    private async Task<string?> ControlPlanePlanAsync(string tenant)
    {
        using var doc = JsonDocument.Parse(await Http.GetStringAsync($"/tenants/{tenant}/entitlements?environment={Environment}"));
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
    /// tenant's sequence, so the last one must win). Each tenant has a real subscription in the fake Stripe API, on the plan of its
    /// newest event, and the events name it (id, customer, tenant metadata), so a re-read finds Stripe agreeing with the newest event.
    /// Verified afterwards: every event id is stored (its redelivery answers duplicate), and each tenant's plan in the control plane
    /// and in the sidecar is the one of its newest event. Beside it: the Stripe requests the burst caused (the fake's log), and
    /// checkouts of one more tenant at <see cref="CheckoutsPerSecond"/>, idle first, then during the burst.
    /// </summary>
    public Scenario WebhookBurst(int events, int tenants, int copies)
    {
        var bodies = new List<(string Id, int Tenant, byte[] Body)>();
        var expectedPlan = new string[tenants];
        var problems = new ConcurrentBag<string>();
        long redeliveredDuplicates = 0;
        var processedPerSecond = 0.0;
        var burstStarted = 0L;
        long rereadsBefore = 0;
        CheckoutProbe? checkout = null;
        StripeTraffic? traffic = null;
        var marks = new List<(long Marker, long Timestamp)>(); // marker requests in the fake's log: 1 s windows of the burst
        var sampling = new CancellationTokenSource();
        Task? sampler = null;
        string Tenant(int t) => $"lt-wh-{_tag}-{t}";
        var next = -1;
        return Scenario.Create("webhook_burst" + _suffix, async context =>
            {
                var i = Interlocked.Increment(ref next);
                if (i == 0)
                {
                    Interlocked.CompareExchange(ref burstStarted, Stopwatch.GetTimestamp(), 0);
                    checkout?.BurstStarted();
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
            .WithDescription($"{events:N0} signed events of a renewal burst for {tenants} tenants (per tenant, renewals in consecutive seconds: customer.subscription.updated, pro/business alternating, and invoice.paid of the same second), posted by {copies} concurrent senders to POST /billing/webhook; ok = HTTP 200 with status pending (stored; applied asynchronously, each tenant's events in Stripe's created order). "
                + $"Control plane: ED_WEBHOOK_REREAD={(settings.WebhookMode == WebhookMode.Payload ? "off" : "on")}. Each tenant has a subscription in the fake Stripe API (a Checkout Session completed through the fake, on the newest event's plan; the fake's own webhooks off) and the events name it, so a re-read returns the newest event's state. "
                + $"Stripe requests: the fake's request log between the burst's first event and the drained queue, in 1 s windows (a marker request splits the log). "
                + $"Beside the burst: POST /billing/checkout of one more tenant's owner (plan pro, a fresh Idempotency-Key each), {CheckoutsPerSecond:0} per second on schedule, {settings.WarmUp.TotalSeconds:0.#} s unrecorded (warm-up), idle for {settings.Duration(15).TotalSeconds:0.#} s before the burst (`{CheckoutProbe.IdleMetric}`) and from its first event to its drained queue (`{CheckoutProbe.BurstMetric}`); latency from each call's scheduled start.")
            .WithInit(async stats =>
            {
                var started = Stopwatch.GetTimestamp();
                await StopFakeWebhooksAsync();
                await Task.WhenAll(Enumerable.Range(0, tenants).Select(t => CreateTenantAsync(Tenant(t))));
                // A renewal burst: each tenant's events are renewals r = 0, 1, ...: customer.subscription.updated (pro/business
                // alternating) and invoice.paid, both in second r, as Stripe sends a renewal.
                for (var k = 0; k < events; k++)
                {
                    long seq = k / tenants;
                    if (seq % 2 == 0)
                    {
                        expectedPlan[k % tenants] = (seq / 2) % 2 == 1 ? "business" : "pro"; // the newest update of tenant k % tenants so far
                    }
                }

                // The fake's subscriptions, paced by the client below Stripe's test-mode budget; four at a time.
                var subscriptions = new FakeSubscription[tenants];
                await Parallel.ForEachAsync(Enumerable.Range(0, tenants), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (t, _) =>
                    subscriptions[t] = await Stripe.CreateSubscriptionAsync(Tenant(t), Environment, expectedPlan[t], PriceOf(expectedPlan[t])));
                var createdBase = DateTimeOffset.UtcNow.AddHours(-1);
                for (var k = 0; k < events; k++)
                {
                    var t = k % tenants;
                    long seq = k / tenants;
                    var id = $"evt_lt_{_tag}_{k}";
                    bodies.Add((id, t, seq % 2 == 0
                        ? Event(id, Tenant(t), subscriptions[t], seq / 2, (seq / 2) % 2 == 1 ? "business" : "pro", createdBase)
                        : InvoicePaid(id, Tenant(t), subscriptions[t], seq / 2, createdBase)));
                }

                stats.Notes.Add($"created {tenants} tenants and their subscriptions in the fake Stripe API, and built {events:N0} signed events, in {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s");

                var buyer = $"lt-co-{_tag}";
                await CreateTenantAsync(buyer);
                var owner = DevTokens.Mint(settings.TokenSigningKey!, "loadtest-owner", buyer, "owner", DateTimeOffset.UtcNow, TimeSpan.FromHours(2));
                checkout = new CheckoutProbe(settings.ControlPlane!, owner, "pro", CheckoutsPerSecond);
                await checkout.StartAsync(stats, settings.WarmUp, settings.Duration(15));
                rereadsBefore = await RereadsAsync();
                marks.Add((await Stripe.MarkAsync(), Stopwatch.GetTimestamp()));
                sampler = Task.Run(async () =>
                {
                    while (true)
                    {
                        try
                        {
                            await Task.Delay(1000, sampling.Token);
                        }
                        catch (OperationCanceledException)
                        {
                            return;
                        }

                        marks.Add((await Stripe.MarkAsync(), Stopwatch.GetTimestamp()));
                    }
                });
            })
            .WithClean(async stats =>
            {
                // 0. Processing is asynchronous: wait until no stored event is pending (at most 300 s) and report the processing rate,
                // so that the checks below and the next scenario see a drained queue.
                var drainStarted = Stopwatch.GetTimestamp();
                long pending;
                try
                {
                    while ((pending = await PendingEventsAsync()) > 0 && Stopwatch.GetElapsedTime(drainStarted) < TimeSpan.FromSeconds(300))
                    {
                        await Task.Delay(50);
                    }
                }
                finally
                {
                    // The burst ends with the drained queue: no more checkouts, a last marker, the fake's log read once.
                    await sampling.CancelAsync();
                    await (sampler ?? Task.CompletedTask);
                    sampling.Dispose();
                    marks.Add((await Stripe.MarkAsync(), Stopwatch.GetTimestamp()));
                    await (checkout?.StopAsync() ?? Task.CompletedTask);
                }

                var processingSeconds = Stopwatch.GetElapsedTime(burstStarted).TotalSeconds;
                processedPerSecond = events / Math.Max(processingSeconds, 0.001);
                var rereads = await RereadsAsync() - rereadsBefore;
                stats.Notes.Add($"re-reads: {rereads:N0} subscriptions read from Stripe for the burst's {events:N0} events ({100.0 * rereads / events:0.0} %; the control plane's since_start.reread)");
                stats.Notes.Add(pending == 0
                    ? $"processing: all {events:N0} events processed {processingSeconds:0.0} s after the first was sent ({processedPerSecond:N0} events/s end to end; the queue drained {Stopwatch.GetElapsedTime(drainStarted).TotalSeconds:0.0} s after the last 200)"
                    : $"processing: {pending:N0} events still pending 300 s after the burst");
                if (pending > 0)
                {
                    problems.Add($"{pending} events still pending after 300 s");
                }

                traffic = StripeTraffic.From(await Stripe.RequestsAsync(), marks);
                stats.Notes.Add($"Stripe (the fake's log, first event to drained queue): {traffic.Describe()}");
                foreach (var failure in checkout!.FirstFailures)
                {
                    stats.Notes.Add("checkout failed: " + failure);
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
                Threshold.Create("every checkout answered 200 (idle and during the burst)", _ => checkout is { Failed: 0, Ok: > 0 }, _ => $"{checkout?.Ok} ok, {checkout?.Failed} failed"),
                Threshold.Target("webhook burst >= 1,000 events/s accepted", s => s.OkPerSecond >= 1000, s => $"{s.OkPerSecond:N0}/s"),
                Threshold.Target("webhook burst processed (applied) >= 1,000 events/s end to end", _ => processedPerSecond >= 1000, _ => $"{processedPerSecond:N0}/s"),
                Threshold.Target($"Stripe requests <= {StripeRequestsPerSecond:0}/s during the burst (every 1 s window; Stripe's test-mode budget)", _ => traffic is { } x && x.PeakPerSecond <= StripeRequestsPerSecond,
                    _ => traffic is { } x ? $"peak {x.PeakPerSecond:0.0}/s, mean {x.MeanPerSecond:0.0}/s, {x.TooMany:N0} answered 429" : "not measured"),
                Threshold.Target("no Stripe 429 reached a customer call (checkout)", _ => traffic is { CheckoutTooMany: 0 } && checkout is { RateLimited: 0 },
                    _ => $"{traffic?.CheckoutTooMany} 429s on checkout's Stripe calls (retried by Stripe.net), {checkout?.RateLimited} checkouts answered 503 'Stripe is rate limiting'"),
                Threshold.Target("checkout p99 during the burst <= 2x idle", s => s.Metric(CheckoutProbe.BurstMetric).Count > 0 && s.Metric(CheckoutProbe.BurstMetric).PercentileMicros(99) <= 2 * s.Metric(CheckoutProbe.IdleMetric).PercentileMicros(99),
                    s => $"idle p50 {Ms(s.Metric(CheckoutProbe.IdleMetric), 50)} / p99 {Ms(s.Metric(CheckoutProbe.IdleMetric), 99)} ms (n={s.Metric(CheckoutProbe.IdleMetric).Count}), during the burst p50 {Ms(s.Metric(CheckoutProbe.BurstMetric), 50)} / p99 {Ms(s.Metric(CheckoutProbe.BurstMetric), 99)} ms (n={s.Metric(CheckoutProbe.BurstMetric).Count})"));
    }

    private static string Ms(LatencyHistogram h, double percentile) => (h.PercentileMicros(percentile) / 1000).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture);

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

    /// <summary>
    /// Time from a webhook's HTTP 200 to (a) the snapshot's invalidation on Redis pub/sub and (b) the sidecar's new answer, polled back to back.
    /// One webhook at a time, alternating the tenant between pro and business. The tenant's subscription in the fake Stripe API moves to
    /// the event's plan just before each event is posted, so a re-read (if the control plane makes one) finds what the event says.
    /// </summary>
    public Scenario Propagation(int iterations)
    {
        var tenant = $"lt-prop-{_tag}";
        var published = new ConcurrentDictionary<string, long>(StringComparer.Ordinal); // plan@version -> timestamp of the invalidation
        var createdBase = DateTimeOffset.UtcNow.AddHours(-1);
        FakeSubscription? subscription = null;
        long lastVersion = 0;
        long lastStarted = 0;
        return Scenario.Create("propagation" + _suffix, async context =>
            {
                // Paced (PropagationInterval): Stripe's budget holds the driver's price change and the control plane's re-read.
                var rest = PropagationInterval - Stopwatch.GetElapsedTime(lastStarted);
                if (lastStarted != 0 && rest > TimeSpan.Zero)
                {
                    await Task.Delay(rest);
                }

                lastStarted = Stopwatch.GetTimestamp();
                var seq = context.InvocationNumber + 1;
                var plan = seq % 2 == 1 ? "business" : "pro";
                await Stripe.SetPriceAsync(subscription!, PriceOf(plan));
                var body = Event($"evt_lt_prop_{_tag}_{seq}", tenant, subscription!, seq, plan, createdBase);
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

                return Response.Ok();
            })
            .WithDescription($"One tenant, {iterations} signed subscription updates one after the other (pro and business alternating), at most one per {PropagationInterval.TotalMilliseconds:0} ms; control plane ED_WEBHOOK_REREAD={(settings.WebhookMode == WebhookMode.Payload ? "off" : "on")}. Per update: the tenant's subscription in the fake Stripe API moved to the event's price (POST /v1/subscriptions/{{id}}), then the webhook naming it posted; after its HTTP 200 the sidecar is polled back to back until it answers with the new plan and a higher snapshot version; a Redis subscriber on the tenant's shard channel (`{RedisKeys.InvalidationChannel(RedisKeys.ShardOf(new TenantKey(Environment, tenant)))}`, SSUBSCRIBE) timestamps the invalidation. Step latency = the whole update (pacing and the price change included); the target is on `webhook_200_to_sidecar`. An invalidation published before the HTTP 200 counts as 0 ms (counter `invalidation_before_200`).")
            .WithInit(async stats =>
            {
                await StopFakeWebhooksAsync();
                await CreateTenantAsync(tenant);
                subscription = await Stripe.CreateSubscriptionAsync(tenant, Environment, "pro", ProPrice);
                var redis = await seeder.RedisAsync();
                await redis.GetSubscriber().SubscribeAsync(RedisChannel.Sharded(RedisKeys.InvalidationChannel(RedisKeys.ShardOf(new TenantKey(Environment, tenant)))), (_, message) =>
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
                stats.Notes.Add($"tenant {tenant} on plan {r.PlanId} at snapshot version {r.SnapshotVersion} before the first update; its subscription in the fake: {subscription.Id}");
            })
            .WithoutWarmUp()
            .WithLoadSimulations(Simulation.IterationsForConstant(1, iterations))
            .WithThresholds(
                Threshold.Create("every update reached the sidecar (within 5 s)", s => s.FailCount == 0 && s.OkCount == iterations, s => $"{s.OkCount} of {iterations}"),
                Threshold.Target("propagation p99 <= 50 ms (issue 15; webhook 200 -> sidecar's new answer)", s => s.Metric("webhook_200_to_sidecar").PercentileMicros(99) <= 50_000,
                    s => $"{s.Metric("webhook_200_to_sidecar").PercentileMicros(99) / 1000:0.000} ms"));
    }
}
