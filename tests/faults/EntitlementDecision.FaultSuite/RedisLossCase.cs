using System.Collections.Concurrent;
using System.Diagnostics;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Stripe;
using EntitlementDecision.TestSupport;
using Grpc.Core;
using Grpc.Net.Client;

namespace EntitlementDecision.FaultSuite;

/// <summary>
/// Case 1: Redis SIGKILLed under check and RecordUsage load, then started EMPTY. While it is gone and until the control plane's
/// RedisHealer has refilled it: cached answers hold (paying tenants keep Granted), a tenant the sidecar never loaded gets no grant,
/// no usage is accepted twice (same event_id) or beyond a hard limit (the free plan's exports: 3 a day). Then, within 30 s, a
/// freshly started second sidecar answers every paying tenant Granted, every usage event acknowledged after the flush reaches the
/// ledger, and <c>ledger-check-counters</c> finds no mismatch. Usage acknowledged just before the flush but not yet copied from
/// the stream to the ledger is lost with Redis's data: that tail is measured and reported, not hidden.
/// </summary>
internal sealed class RedisLossCase : FaultCase
{
    private const int Paying = 8;
    private const int Uncached = 4;
    private const int Free = 6;
    private const int ExportsLimit = 3;
    private static readonly TimeSpan HealDeadline = TimeSpan.FromSeconds(30);

    // Phases of the fault, as the load saw them when an answer came back.
    private const int Before = 0, RedisDown = 1, EmptyUnhealed = 2, Healed = 3;
    private static readonly string[] PhaseNames = ["before", "redis down", "empty, not healed", "healed"];

    private int _phase;

    public override string Name => "redis-loss";

    public override string Description => "SIGKILL Redis under check and RecordUsage load, start it empty, let the control plane heal it";

    private sealed record UsageAnswer(int Phase, bool Accepted, bool Duplicate, DecisionReason Reason, long WindowEnd, StatusCode? Error);

    private sealed record UsageEvent(string TenantId, string Feature, string EventId)
    {
        public ConcurrentQueue<UsageAnswer> Answers { get; } = new();

        public bool EverAccepted => Answers.Any(a => a is { Accepted: true, Duplicate: false });

        public bool Answered => Answers.Any(a => a.Error is null);
    }

    public override async Task RunAsync(FaultStack stack, CaseReport report, CancellationToken ct)
    {
        var prefix = $"rl-{stack.RunId}";
        var paying = Enumerable.Range(0, Paying).Select(i => $"{prefix}-p{i:00}").ToList();
        var uncached = Enumerable.Range(0, Uncached).Select(i => $"{prefix}-u{i:00}").ToList();
        var free = Enumerable.Range(0, Free).Select(i => $"{prefix}-f{i:00}").ToList();
        var unknown = new[] { $"{prefix}-n00", $"{prefix}-n01" };

        // Setup: tenants; the paying ones (cached and uncached) on pro through a signed subscription webhook each.
        foreach (var t in paying.Concat(uncached).Concat(free))
        {
            await stack.CreateTenantAsync(t);
        }

        var origin = DateTimeOffset.UtcNow.AddHours(-1);
        var subscriptionEvents = new List<string>();
        foreach (var t in paying.Concat(uncached))
        {
            var eventId = $"evt_{t.Replace("-", "_", StringComparison.Ordinal)}";
            var body = StripeEventBuilder.Subscription(StripeSubscriptionEvents.SubscriptionCreated)
                .WithEventId(eventId).WithCreated(origin).WithObjectId("sub_" + t.Replace("-", "", StringComparison.Ordinal))
                .WithCustomer("cus_" + t.Replace("-", "", StringComparison.Ordinal)).WithStatus("active").WithPriceIds(WebhookBurst.ProPrice)
                .WithItemCurrentPeriodEnd(0, origin.AddDays(30)).WithCancelAtPeriodEnd(false).WithCanceledAt(null)
                .WithMetadata("tenant_id", t).WithMetadata("environment", "production").ToUtf8Bytes();
            var (status, text) = await stack.PostWebhookAsync(body, ct: ct);
            if (status != 200)
            {
                throw new InvalidOperationException($"setup webhook for {t} -> {status} {text}");
            }

            subscriptionEvents.Add(eventId);
        }

        // The cache is warm: every paying tenant Granted at the sidecar, every free tenant known (loaded into its memory).
        var warm = await Poll.UntilAsync(async () =>
        {
            foreach (var t in paying)
            {
                if (!(await CheckAsync(stack.Sidecar, t, "advanced_reports", ct)).Allowed)
                {
                    return false;
                }
            }

            foreach (var t in free)
            {
                if ((await CheckAsync(stack.Sidecar, t, "exports", ct)).Reason == DecisionReason.UnknownTenant)
                {
                    return false;
                }
            }

            return true;
        }, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100), ct);
        if (warm is null)
        {
            throw new InvalidOperationException("setup: the sidecar never answered the paying tenants Granted");
        }

        // Redis must hold the heal marker before the fault (the healer wrote it at start-up), else "healed" means nothing.
        using var redis = await stack.ConnectRedisAsync();
        var marker = await Poll.UntilAsync(async () => await MarkersPresentAsync(redis), TimeSpan.FromSeconds(10), ct: ct);
        report.Check(marker is not null, "no ed:generation markers (every shard's) in Redis before the fault");

        // Load: checks of cached paying tenants, checks of uncached and unknown tenants, RecordUsage of exports (free, hard limit 3/day)
        // and api_calls (pro), and duplicate probes (an accepted event_id sent again).
        var events = new ConcurrentDictionary<string, UsageEvent>();
        var cachedChecks = new int[4];
        var cachedViolations = new ConcurrentQueue<string>();
        var uncachedChecks = new int[4];
        var uncachedGrants = new ConcurrentQueue<string>();
        var uncachedErrors = new ConcurrentQueue<StatusCode>();
        var unknownGrants = new ConcurrentQueue<string>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sequence = 0;

        async Task RecordAsync(UsageEvent e)
        {
            var phase = Volatile.Read(ref _phase);
            try
            {
                var r = await stack.Sidecar.RecordUsageAsync(new RecordUsageRequest
                {
                    TenantId = e.TenantId,
                    Environment = "production",
                    FeatureKey = e.Feature,
                    Quantity = 1,
                    EventId = e.EventId,
                    Service = e.Feature == "exports" ? "exporter" : "api-gateway",
                    Unit = e.Feature == "exports" ? "export" : "call",
                }, deadline: DateTime.UtcNow.AddSeconds(2), cancellationToken: CancellationToken.None);
                e.Answers.Enqueue(new UsageAnswer(phase, r.Accepted, r.Duplicate, r.Reason, r.WindowEnd?.Seconds ?? 0, null));
            }
            catch (RpcException x)
            {
                e.Answers.Enqueue(new UsageAnswer(phase, false, false, DecisionReason.Unspecified, 0, x.StatusCode));
            }
        }

        UsageEvent NewEvent(string tenant, string feature)
        {
            var e = new UsageEvent(tenant, feature, $"{prefix}-{feature}-{Interlocked.Increment(ref sequence)}");
            events[e.EventId] = e;
            return e;
        }

        async Task Loop(Func<Task> body, TimeSpan pause)
        {
            while (!stop.IsCancellationRequested)
            {
                await body();
                try
                {
                    await Task.Delay(pause, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }

        var loops = new List<Task>
        {
            Loop(async () =>
            {
                foreach (var t in paying)
                {
                    var phase = Volatile.Read(ref _phase);
                    Interlocked.Increment(ref cachedChecks[phase]);
                    try
                    {
                        var a = await CheckAsync(stack.Sidecar, t, "advanced_reports", CancellationToken.None);
                        if (!a.Allowed)
                        {
                            cachedViolations.Enqueue($"{t} in phase '{PhaseNames[phase]}': {a.Reason}");
                        }
                    }
                    catch (RpcException x)
                    {
                        cachedViolations.Enqueue($"{t} in phase '{PhaseNames[phase]}': {x.StatusCode} {x.Status.Detail}");
                    }
                }
            }, TimeSpan.FromMilliseconds(2)),
            Loop(async () =>
            {
                // Uncached paying tenants only while Redis is certainly gone (once it is back, the healer may have refilled it);
                // all at once, so that a call held until its deadline does not starve the phase of checks.
                if (Volatile.Read(ref _phase) != RedisDown)
                {
                    return;
                }

                await Task.WhenAll(uncached.Select(async t =>
                {
                    Interlocked.Increment(ref uncachedChecks[RedisDown]);
                    try
                    {
                        var a = await CheckAsync(stack.Sidecar, t, "advanced_reports", CancellationToken.None, TimeSpan.FromSeconds(1));
                        if (a.Allowed && Volatile.Read(ref _phase) == RedisDown)
                        {
                            uncachedGrants.Enqueue($"{t}: {a.Reason}");
                        }
                    }
                    catch (RpcException x)
                    {
                        // No answer from a snapshot the sidecar does not have: what the policy asks for.
                        uncachedErrors.Enqueue(x.StatusCode);
                    }
                }));
            }, TimeSpan.FromMilliseconds(20)),
            Loop(async () =>
            {
                var phase = Volatile.Read(ref _phase);
                await Task.WhenAll(unknown.Select(async t =>
                {
                    try
                    {
                        if ((await CheckAsync(stack.Sidecar, t, "projects", CancellationToken.None, TimeSpan.FromSeconds(1))).Allowed)
                        {
                            unknownGrants.Enqueue($"{t} in phase '{PhaseNames[phase]}'");
                        }
                    }
                    catch (RpcException)
                    {
                    }
                }));
            }, TimeSpan.FromMilliseconds(20)),
            Loop(async () =>
            {
                foreach (var t in free)
                {
                    await RecordAsync(NewEvent(t, "exports"));
                }
            }, TimeSpan.FromMilliseconds(25)),
            Loop(async () =>
            {
                foreach (var t in paying)
                {
                    await RecordAsync(NewEvent(t, "api_calls"));
                }
            }, TimeSpan.FromMilliseconds(3)),
            Loop(async () =>
            {
                // A client retrying an event it already got an answer for: the answer must be duplicate, never a second count.
                var accepted = events.Values.Where(e => e.EverAccepted).Take(200).ToList();
                if (accepted.Count > 0)
                {
                    await RecordAsync(accepted[Random.Shared.Next(accepted.Count)]);
                }
            }, TimeSpan.FromMilliseconds(20)),
        };

        await Task.Delay(TimeSpan.FromSeconds(2.5), ct);
        // The phase changes once the kill is done: answers before that came from a live Redis.
        await stack.ControlAsync("redis-kill");
        var flushedAt = DateTimeOffset.UtcNow;
        Volatile.Write(ref _phase, RedisDown);
        // How a caller with a generous deadline is answered for a tenant the sidecar must read from the dead Redis.
        var patient = PatientCheckAsync(stack, uncached[0]);
        await Task.Delay(TimeSpan.FromSeconds(3), ct);
        Volatile.Write(ref _phase, EmptyUnhealed);
        var back = Stopwatch.StartNew();
        await stack.ControlAsync("redis-start-empty");
        var healed = await Poll.UntilAsync(async () => await MarkersPresentAsync(redis), HealDeadline, TimeSpan.FromMilliseconds(50), ct);
        Volatile.Write(ref _phase, Healed);
        report.Figure("time to heal (Redis back empty -> every shard's ed:generation marker rewritten)", healed is { } h ? h : $"not within {HealDeadline.TotalSeconds} s");
        report.Check(healed is not null, $"the control plane did not heal Redis within {HealDeadline.TotalSeconds} s");
        await Task.Delay(TimeSpan.FromSeconds(2), ct);
        await stop.CancelAsync();
        await Task.WhenAll(loops);
        report.Figure("uncached check with a 10 s deadline while Redis was down", await patient);

        // The client's own retries: every event that only got errors (UNAVAILABLE while Redis was gone) is sent again with its event_id.
        var unanswered = events.Values.Where(e => !e.Answered).ToList();
        var retried = await Poll.UntilAsync(async () =>
        {
            foreach (var e in unanswered.Where(e => !e.Answered))
            {
                await RecordAsync(e);
            }

            return unanswered.All(e => e.Answered);
        }, TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(200), ct);
        report.Check(retried is not null, $"{unanswered.Count(e => !e.Answered)} events still unanswered after the heal");

        // A freshly started sidecar (nothing in its memory) must answer every paying tenant from what the healer wrote.
        var fresh = Stopwatch.StartNew();
        await stack.ControlAsync("sidecar-start", stack.SecondSidecarPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{stack.SecondSidecarPort}");
            var second = new EntitlementDecisionService.EntitlementDecisionServiceClient(channel);
            var notGranted = new List<string>();
            var allGranted = await Poll.UntilAsync(async () =>
            {
                notGranted.Clear();
                foreach (var t in paying.Concat(uncached))
                {
                    var a = await CheckAsync(second, t, "advanced_reports", ct);
                    if (!a.Allowed)
                    {
                        notGranted.Add($"{t}: {a.Reason}");
                    }
                }

                return notGranted.Count == 0;
            }, HealDeadline, TimeSpan.FromMilliseconds(100), ct);
            report.Figure("fresh sidecar answers all paying tenants Granted (from its start)", allGranted is { } g ? g : $"not within {HealDeadline.TotalSeconds} s");
            report.Figure("... from Redis's return", back.Elapsed - fresh.Elapsed + (allGranted ?? TimeSpan.Zero));
            report.Check(allGranted is not null, $"the fresh sidecar does not grant every paying tenant: {string.Join("; ", notGranted.Take(5))}");
        }
        finally
        {
            await stack.ControlAsync("sidecar-stop", stack.SecondSidecarPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        // Everything acknowledged after the flush must reach the ledger (the stream is new, the ledger consumer must follow it).
        var afterFlush = events.Values.Where(e => e.Answers.Any(a => a is { Accepted: true, Duplicate: false } && a.Phase >= EmptyUnhealed)).ToList();
        Dictionary<string, (string Tenant, string Feature, string Window, long Quantity, int Rows, DateTimeOffset ReceivedAt)> ledger = [];
        var caughtUp = await Poll.UntilAsync(async () =>
        {
            ledger = await LedgerAsync(stack, prefix, ct);
            return afterFlush.All(e => ledger.ContainsKey(e.EventId));
        }, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(250), ct);

        Figures(report, events.Values.ToList(), ledger, flushedAt, cachedChecks, cachedViolations, uncachedChecks, uncachedGrants, unknownGrants, caughtUp);
        report.Figure("uncached checks while Redis was down, answered with", string.Join(", ", uncachedErrors.GroupBy(c => c).Select(g => $"{g.Key} x{g.Count()}")));

        var (exit, output) = await stack.ControlPlaneCliAsync("ledger-check-counters");
        var lastLine = output.Split('\n').LastOrDefault()?.Trim() ?? "";
        report.Figure("ledger-check-counters", $"exit {exit}: {(exit == 0 ? lastLine : $"{output.Split('\n').Count(l => l.Contains("ledger", StringComparison.Ordinal))} mismatch line(s)")}");
        report.Check(exit == 0, $"ledger-check-counters exit {exit}: {string.Join(" | ", output.Split('\n').Take(4))}");
    }

    private static void Figures(
        CaseReport report, List<UsageEvent> events, Dictionary<string, (string Tenant, string Feature, string Window, long Quantity, int Rows, DateTimeOffset ReceivedAt)> ledger, DateTimeOffset flushedAt,
        int[] cachedChecks, ConcurrentQueue<string> cachedViolations, int[] uncachedChecks, ConcurrentQueue<string> uncachedGrants,
        ConcurrentQueue<string> unknownGrants, TimeSpan? caughtUp)
    {
        report.Figure("checks of cached paying tenants (before / down / empty / healed)", string.Join(" / ", cachedChecks));
        report.Figure("cached answers that did not hold", cachedViolations.Count);
        report.Check(cachedViolations.IsEmpty, $"{cachedViolations.Count} cached answers did not hold: {string.Join("; ", cachedViolations.Take(5))}");
        report.Figure("checks of uncached paying tenants while Redis was down / granted", $"{uncachedChecks[RedisDown]} / {uncachedGrants.Count}");
        report.Check(uncachedChecks[RedisDown] > 0, "no uncached tenant was checked while Redis was down");
        report.Check(uncachedGrants.IsEmpty, $"{uncachedGrants.Count} grants to tenants the sidecar never loaded, while Redis was down: {string.Join("; ", uncachedGrants.Take(5))}");
        report.Check(unknownGrants.IsEmpty, $"{unknownGrants.Count} grants to tenants that do not exist: {string.Join("; ", unknownGrants.Take(5))}");

        var answers = events.SelectMany(e => e.Answers).ToList();
        report.Figure("usage events sent (distinct event_id) / calls", $"{events.Count} / {answers.Count}");
        report.Figure("RecordUsage errors by gRPC status", string.Join(", ", answers.Where(a => a.Error is not null).GroupBy(a => a.Error).Select(g => $"{g.Key} x{g.Count()}")) is { Length: > 0 } errs ? errs : "none");
        for (var phase = Before; phase <= Healed; phase++)
        {
            var p = answers.Where(a => a.Phase == phase).ToList();
            report.Figure($"  RecordUsage answers, sent {PhaseNames[phase]}: accepted / duplicate / refused / UNAVAILABLE",
                $"{p.Count(a => a is { Accepted: true, Duplicate: false })} / {p.Count(a => a.Duplicate)} / {p.Count(a => a is { Error: null, Accepted: false, Duplicate: false })} / {p.Count(a => a.Error is not null)}");
        }

        var acknowledged = events.Where(e => e.EverAccepted).ToList();
        report.Figure("usage events acknowledged (accepted at least once)", acknowledged.Count);
        report.Figure("ledger rows of this case", ledger.Count);

        // Counted twice: an event_id in the ledger twice, or an event answered accepted (not duplicate) again after it was in the ledger.
        var ledgerTwice = ledger.Values.Count(l => l.Rows > 1);
        report.Check(ledgerTwice == 0, $"{ledgerTwice} event ids are in the ledger more than once");
        // A second acceptance counts twice, unless the first was lost with Redis's stream (acknowledged before the flush, and the
        // ledger's only row for it written after the flush, by the retry): then the event is counted once.
        bool LostThenRecordedAgain(UsageEvent e, DateTimeOffset receivedAt) =>
            e.Answers.First(a => a is { Accepted: true, Duplicate: false }).Phase == Before && receivedAt >= flushedAt;
        var reacceptedInLedger = acknowledged.Where(e => ledger.TryGetValue(e.EventId, out var row) && !LostThenRecordedAgain(e, row.ReceivedAt)
            && e.Answers.Count(a => a is { Accepted: true, Duplicate: false }) > 1).ToList();
        report.Figure("accepted twice (same event_id, accepted again after the ledger had it)", reacceptedInLedger.Count);
        report.Check(reacceptedInLedger.Count == 0, $"{reacceptedInLedger.Count} event ids accepted twice though the ledger had them (needs the RecordUsage gate until dedupe markers are rebuilt), accepted again when sent in phase(s) "
            + string.Join(", ", reacceptedInLedger.SelectMany(e => e.Answers.Where(a => a is { Accepted: true, Duplicate: false }).Skip(1)).GroupBy(a => PhaseNames[a.Phase]).Select(g => $"'{g.Key}' x{g.Count()}"))
            + $", e.g. {string.Join(", ", reacceptedInLedger.Take(3).Select(e => e.EventId))}");
        // The ledger holds only events the client saw counted (accepted, or duplicate of an earlier recording whose answer it lost).
        var counted = events.Where(e => e.Answers.Any(a => a.Accepted || a.Duplicate)).Select(e => e.EventId).ToHashSet();
        var inLedgerNotAcked = ledger.Keys.Where(id => !counted.Contains(id)).ToList();
        report.Check(inLedgerNotAcked.Count == 0, $"{inLedgerNotAcked.Count} ledger rows for events the client never saw counted, e.g. {string.Join(", ", inLedgerNotAcked.Take(3))}");

        // The tail: acknowledged before the flush, still in the stream (not yet in the ledger) when Redis lost it.
        var tail = acknowledged.Where(e => e.Answers.Where(a => a is { Accepted: true, Duplicate: false }).Min(a => a.Phase) == Before
            && (!ledger.TryGetValue(e.EventId, out var row) || row.ReceivedAt >= flushedAt)).ToList();
        var recordedAgain = tail.Count(e => ledger.ContainsKey(e.EventId));
        report.Figure("LOST TAIL: acknowledged before the flush, not yet in the ledger (gone with Redis's stream)",
            $"{tail.Count} of {acknowledged.Count(e => e.Answers.Any(a => a is { Accepted: true, Duplicate: false, Phase: Before }))} ({recordedAgain} recorded again by a client's retry of the same event_id)");
        if (tail.Count > 0)
        {
            report.Note($"{tail.Count} usage events acknowledged just before the flush were never copied to the ledger: Redis (no persistence) lost them with its stream; the ledger consumer polls every 250 ms, so the tail is what it had not read yet. The sidecar answered accepted; the counter was rebuilt without them.");
        }

        // Lost after the flush: acknowledged on the new Redis, never in the ledger.
        var afterFlush = acknowledged.Where(e => e.Answers.Any(a => a is { Accepted: true, Duplicate: false } && a.Phase >= EmptyUnhealed)).ToList();
        var lostAfter = afterFlush.Where(e => !ledger.ContainsKey(e.EventId)).ToList();
        report.Figure("acknowledged after the flush / in the ledger", $"{afterFlush.Count} / {afterFlush.Count - lostAfter.Count}{(caughtUp is { } c ? $" (caught up after {c.TotalSeconds:0.0} s)" : " (not caught up within 30 s)")}");
        report.Figure("lost (acknowledged after the flush, not in the ledger)", lostAfter.Count);
        report.Check(lostAfter.Count == 0, $"{lostAfter.Count} usage events acknowledged after Redis came back never reached the ledger, e.g. {string.Join(", ", lostAfter.Take(3).Select(e => e.EventId))}");

        // Hard limit: the free plan's exports, 3 a day. Counted per tenant and window from the sidecar's answers and from the ledger.
        var overLimit = acknowledged.Where(e => e.Feature == "exports")
            .GroupBy(e => (e.TenantId, Window: e.Answers.First(a => a is { Accepted: true, Duplicate: false }).WindowEnd))
            .Where(g => g.Count() > ExportsLimit).Select(g => $"{g.Key.TenantId}: {g.Count()} accepted (limit {ExportsLimit})").ToList();
        var ledgerOver = ledger.Values.Where(l => l.Feature == "exports").GroupBy(l => (l.Tenant, l.Window))
            .Where(g => g.Sum(l => l.Quantity) > ExportsLimit).Select(g => $"{g.Key.Tenant}: {g.Sum(l => l.Quantity)} in the ledger").ToList();
        report.Figure("exports accepted beyond the hard limit (tenants; answers / ledger)", $"{overLimit.Count} / {ledgerOver.Count} of {Free}");
        report.Check(overLimit.Count == 0, $"usage accepted beyond the hard limit (needs the RecordUsage gate until counters are rebuilt): {string.Join("; ", overLimit.Take(6))}");
        report.Check(ledgerOver.Count == 0, $"the ledger holds usage beyond the hard limit: {string.Join("; ", ledgerOver.Take(6))}");
    }

    private static async Task<string> PatientCheckAsync(FaultStack stack, string tenant)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            var a = await CheckAsync(stack.Sidecar, tenant, "advanced_reports", CancellationToken.None, TimeSpan.FromSeconds(10));
            return $"{(a.Allowed ? "allowed" : "denied")} {a.Reason} after {clock.Elapsed.TotalSeconds:0.0} s";
        }
        catch (RpcException x)
        {
            return $"{x.StatusCode} after {clock.Elapsed.TotalSeconds:0.0} s ({x.Status.Detail})";
        }
    }

    private static async Task<CheckEntitlementResponse> CheckAsync(EntitlementDecisionService.EntitlementDecisionServiceClient client, string tenant, string feature, CancellationToken ct, TimeSpan? deadline = null) =>
        await client.CheckEntitlementAsync(
            new CheckEntitlementRequest { TenantId = tenant, Environment = "production", FeatureKey = feature },
            deadline: DateTime.UtcNow.Add(deadline ?? TimeSpan.FromSeconds(2)), cancellationToken: ct);

    private static async Task<Dictionary<string, (string Tenant, string Feature, string Window, long Quantity, int Rows, DateTimeOffset ReceivedAt)>> LedgerAsync(FaultStack stack, string prefix, CancellationToken ct)
    {
        await using var cmd = stack.Db.CreateCommand(
            "SELECT event_id, min(tenant_id), min(feature), min(window_key), sum(quantity), count(*)::int, min(received_at) FROM usage_ledger WHERE tenant_id LIKE @prefix GROUP BY event_id");
        cmd.Parameters.AddWithValue("prefix", prefix + "-%");
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new Dictionary<string, (string, string, string, long, int, DateTimeOffset)>();
        while (await reader.ReadAsync(ct))
        {
            rows[reader.GetString(0)] = (reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(4), reader.GetInt32(5), reader.GetFieldValue<DateTimeOffset>(6));
        }

        return rows;
    }

    // The healer writes every shard's generation marker after a complete heal (EntitlementDecision.Redis.UsageStreamKeys).
    private static async Task<bool> MarkersPresentAsync(StackExchange.Redis.ConnectionMultiplexer redis) =>
        (await Task.WhenAll(EntitlementDecision.Redis.UsageStreamKeys.Default.AllGenerations.Select(key => redis.GetDatabase().KeyExistsAsync(key)))).All(present => present);

}
