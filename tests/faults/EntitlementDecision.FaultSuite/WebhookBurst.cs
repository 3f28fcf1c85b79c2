using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Stripe;
using EntitlementDecision.TestSupport;
using Npgsql;

namespace EntitlementDecision.FaultSuite;

/// <summary>One signed <c>customer.subscription.*</c> event of a burst: its tenant, its place in the tenant's order and the state it carries.</summary>
internal sealed record BurstEvent(string TenantId, int Index, string EventId, string Status, string PlanId, byte[] Body);

/// <summary>
/// A burst of Stripe webhooks for many tenants, several per tenant in Stripe's order (strictly increasing <c>created</c>), delivered
/// as Stripe does: each tenant's events one after the other, every answer but 2xx redelivered later. Then checks that every event
/// the control plane acknowledged, and every redelivered one, was applied, none twice, and each tenant ends on its newest event.
/// Shared by the control-plane-kill and the PostgreSQL-restart cases.
/// </summary>
internal sealed class WebhookBurst
{
    public const string ProPrice = "price_1PgafmB7WZ01zgkW6dKueIc5";
    public const string BusinessPrice = "price_1PgbusinessMonthlyDev01";

    private readonly ConcurrentDictionary<string, ConcurrentQueue<int>> _answers = new();
    private int _acked;

    private WebhookBurst(IReadOnlyList<string> tenants, IReadOnlyDictionary<string, IReadOnlyList<BurstEvent>> events)
    {
        Tenants = tenants;
        Events = events;
    }

    public IReadOnlyList<string> Tenants { get; }

    public IReadOnlyDictionary<string, IReadOnlyList<BurstEvent>> Events { get; }

    public IEnumerable<BurstEvent> All => Tenants.SelectMany(t => Events[t]);

    /// <summary>Events answered 2xx so far (first deliveries and redeliveries).</summary>
    public int Acked => Volatile.Read(ref _acked);

    /// <summary>
    /// <paramref name="tenants"/> tenants x <paramref name="perTenant"/> events. Event i of tenant t: created = <paramref name="origin"/>
    /// + i s; status active, or past_due every third event; plan pro or business alternately; the last event's (status, plan) varies by
    /// tenant so that a tenant stuck on an older event shows. Dates are relative to <paramref name="origin"/> (the run's start), never to a calendar date.
    /// </summary>
    public static WebhookBurst Create(string prefix, int tenants, int perTenant, DateTimeOffset origin)
    {
        var ids = Enumerable.Range(0, tenants).Select(t => $"{prefix}-{t:00}").ToList();
        var events = new Dictionary<string, IReadOnlyList<BurstEvent>>();
        foreach (var (tenant, t) in ids.Select((id, t) => (id, t)))
        {
            var list = new List<BurstEvent>();
            for (var i = 0; i < perTenant; i++)
            {
                var last = i == perTenant - 1;
                var status = last ? (t % 2 == 0 ? "active" : "past_due") : (i % 3 == 2 ? "past_due" : "active");
                var plan = last ? (t % 3 == 0 ? "business" : "pro") : (i % 2 == 0 ? "pro" : "business");
                var created = origin.AddSeconds(i);
                var eventId = $"evt_{tenant.Replace("-", "_", StringComparison.Ordinal)}_{i:00}";
                var body = StripeEventBuilder.Subscription(i == 0 ? StripeSubscriptionEvents.SubscriptionCreated : StripeSubscriptionEvents.SubscriptionUpdated)
                    .WithEventId(eventId).WithCreated(created)
                    .WithObjectId("sub_" + tenant.Replace("-", "", StringComparison.Ordinal)).WithCustomer("cus_" + tenant.Replace("-", "", StringComparison.Ordinal))
                    .WithStatus(status).WithPriceIds(plan == "pro" ? ProPrice : BusinessPrice)
                    .WithItemCurrentPeriodEnd(0, origin.AddDays(30)).WithCancelAtPeriodEnd(false).WithCanceledAt(null)
                    .WithMetadata("tenant_id", tenant).WithMetadata("environment", "production")
                    .ToUtf8Bytes();
                list.Add(new BurstEvent(tenant, i, eventId, status, plan, body));
            }

            events[tenant] = list;
        }

        return new WebhookBurst(ids, events);
    }

    public async Task CreateTenantsAsync(FaultStack stack)
    {
        foreach (var chunk in Tenants.Chunk(8))
        {
            await Task.WhenAll(chunk.Select(stack.CreateTenantAsync));
        }
    }

    /// <summary>First delivery: one sender per tenant, its events in order, <paramref name="pause"/> between two; every answer is kept.</summary>
    public Task SendAsync(FaultStack stack, TimeSpan pause, CancellationToken ct) =>
        Task.WhenAll(Tenants.Select(async tenant =>
        {
            foreach (var e in Events[tenant])
            {
                await DeliverAsync(stack, e, ct);
                await Task.Delay(pause, ct);
            }
        }));

    /// <summary>Stripe's redelivery: each event that never got a 2xx, again in each tenant's order, until a 2xx (bounded by <paramref name="within"/>).
    /// Returns the number of redeliveries.</summary>
    public async Task<int> RedeliverAsync(FaultStack stack, TimeSpan within, CancellationToken ct)
    {
        var deadline = DateTimeOffset.UtcNow + within;
        var redeliveries = 0;
        await Task.WhenAll(Tenants.Select(async tenant =>
        {
            foreach (var e in Events[tenant].Where(e => !IsAcked(e)))
            {
                while (!IsAcked(e) && DateTimeOffset.UtcNow < deadline)
                {
                    Interlocked.Increment(ref redeliveries);
                    if (await DeliverAsync(stack, e, ct) is < 200 or > 299)
                    {
                        await Task.Delay(200, ct);
                    }
                }
            }
        }));
        return redeliveries;
    }

    public bool IsAcked(BurstEvent e) => _answers.TryGetValue(e.EventId, out var a) && a.Any(s => s is >= 200 and <= 299);

    public IReadOnlyCollection<int> Answers(BurstEvent e) => _answers.TryGetValue(e.EventId, out var a) ? a : [];

    /// <summary>Count of first-delivery-or-later answers by class: "2xx", "4xx", "5xx", "none" (no HTTP answer).</summary>
    public IReadOnlyDictionary<string, int> AnswerClasses() =>
        _answers.Values.SelectMany(a => a).GroupBy(s => s switch { 0 => "none", >= 200 and <= 299 => "2xx", >= 400 and <= 499 => "4xx", _ => "5xx" })
            .ToDictionary(g => g.Key, g => g.Count());

    private async Task<int> DeliverAsync(FaultStack stack, BurstEvent e, CancellationToken ct)
    {
        var (status, _) = await stack.PostWebhookAsync(e.Body, ct: ct);
        _answers.GetOrAdd(e.EventId, _ => new ConcurrentQueue<int>()).Enqueue(status);
        if (status is >= 200 and <= 299 && _answers[e.EventId].Count(s => s is >= 200 and <= 299) == 1)
        {
            Interlocked.Increment(ref _acked);
        }

        return status;
    }

    /// <summary>
    /// After the fault and the redeliveries: waits until every event is stored and processed, then checks (into
    /// <paramref name="report"/>) that none acknowledged is missing, none failed or was rejected, none left two audit entries, every
    /// tenant's entitlement carries its newest event's status and plan, and the sidecar answers that plan.
    /// </summary>
    public async Task VerifyAsync(FaultStack stack, CaseReport report, CancellationToken ct)
    {
        var ids = All.Select(e => e.EventId).ToArray();
        Dictionary<string, (string Status, string? Outcome, int Deliveries, int Attempts)> rows = [];
        var processed = await Poll.UntilAsync(async () =>
        {
            rows = await StoredEventsAsync(stack.Db, ids, ct);
            return rows.Count == ids.Length && rows.Values.All(r => r.Status != "pending");
        }, TimeSpan.FromSeconds(45), TimeSpan.FromMilliseconds(200), ct);
        report.Figure("all stored events processed after", processed is { } p ? p : "not within 45 s");

        var acked = All.Where(IsAcked).ToList();
        var lost = acked.Where(e => !rows.ContainsKey(e.EventId)).ToList();
        var neverAcked = All.Where(e => !IsAcked(e)).ToList();
        var applied = rows.Values.Count(r => r is { Status: "processed", Outcome: "applied" });
        var stale = rows.Values.Count(r => r is { Status: "processed", Outcome: "ignored_stale" });
        var bad = rows.Where(r => r.Value.Status != "processed" || r.Value.Outcome is not ("applied" or "ignored_stale")).ToList();
        report.Figure("events acknowledged (2xx)", $"{acked.Count} of {ids.Length}");
        report.Figure("events stored", rows.Count);
        report.Figure("events applied", applied);
        report.Figure("events ignored as stale (older than the tenant's state)", stale);
        report.Figure("deliveries counted by the control plane (of which duplicates: stored, answer lost)", $"{rows.Values.Sum(r => r.Deliveries)} ({rows.Values.Sum(r => r.Deliveries - 1)})");
        report.Figure("lost (2xx, then not stored)", lost.Count);
        report.Check(lost.Count == 0, $"{lost.Count} acknowledged events are not stored, e.g. {string.Join(", ", lost.Take(5).Select(e => e.EventId))}");
        report.Check(neverAcked.Count == 0, $"{neverAcked.Count} events never got a 2xx, even redelivered, e.g. {string.Join(", ", neverAcked.Take(5).Select(e => e.EventId))}");
        report.Check(bad.Count == 0, $"{bad.Count} events not applied: {string.Join("; ", bad.Take(5).Select(b => $"{b.Key} {b.Value.Status} {b.Value.Outcome}"))}");

        // Applied twice: an event that left more than one audit entry of one action.
        var twice = await AuditedTwiceAsync(stack.Db, ids, ct);
        var audited = await AuditedAsync(stack.Db, ids, ct);
        report.Figure("events with an audit entry (cause = event id)", audited);
        report.Check(audited > 0, "no audit entry names any event of the burst: the applied-twice check would see nothing");
        report.Figure("applied twice (same change audited twice for one event)", twice.Count);
        report.Check(twice.Count == 0, $"{twice.Count} events audited twice, e.g. {string.Join(", ", twice.Take(5))}");

        // Every tenant on its newest event's state, in the control plane and at the sidecar.
        var wrong = new List<string>();
        foreach (var tenant in Tenants)
        {
            var newest = Events[tenant][^1];
            var entitlement = await stack.GetEntitlementAsync(tenant);
            var (status, plan) = ((string?)entitlement["stripe_status"], (string?)entitlement["subscription_plan_id"]);
            if (status != newest.Status || plan != newest.PlanId)
            {
                wrong.Add($"{tenant}: {status}/{plan}, newest event {newest.EventId} says {newest.Status}/{newest.PlanId}");
            }
        }

        report.Figure("tenants on their newest event's state", $"{Tenants.Count - wrong.Count} of {Tenants.Count}");
        report.Check(wrong.Count == 0, $"{wrong.Count} tenants not on their newest event: {string.Join("; ", wrong.Take(5))}");

        var sidecarWrong = new List<string>();
        var atSidecar = await Poll.UntilAsync(async () =>
        {
            sidecarWrong.Clear();
            foreach (var tenant in Tenants)
            {
                var answer = await stack.Sidecar.CheckEntitlementAsync(
                    new CheckEntitlementRequest { TenantId = tenant, Environment = "production", FeatureKey = "advanced_reports" },
                    deadline: DateTime.UtcNow.AddSeconds(2), cancellationToken: ct);
                if (answer.PlanId != Events[tenant][^1].PlanId || !answer.Allowed)
                {
                    sidecarWrong.Add($"{tenant}: {answer.PlanId} {answer.Reason}");
                }
            }

            return sidecarWrong.Count == 0;
        }, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(250), ct);
        report.Figure("sidecar answers every tenant's newest plan after", atSidecar is { } s ? s : "not within 20 s");
        report.Check(atSidecar is not null, $"the sidecar does not answer the newest plan: {string.Join("; ", sidecarWrong.Take(5))}");
    }

    private static async Task<Dictionary<string, (string Status, string? Outcome, int Deliveries, int Attempts)>> StoredEventsAsync(NpgsqlDataSource db, string[] ids, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT event_id, status, outcome, deliveries, attempts FROM stripe_events WHERE event_id = ANY(@ids)");
        cmd.Parameters.AddWithValue("ids", ids);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new Dictionary<string, (string, string?, int, int)>();
        while (await reader.ReadAsync(ct))
        {
            rows[reader.GetString(0)] = (reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetInt32(3), reader.GetInt32(4));
        }

        return rows;
    }

    /// <summary>How many of the events left at least one audit entry.</summary>
    public static async Task<long> AuditedAsync(NpgsqlDataSource db, string[] ids, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT count(DISTINCT cause) FROM audit_entries WHERE cause = ANY(@ids)");
        cmd.Parameters.AddWithValue("ids", ids);
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Events (by id) that recorded the same change twice (same action and resulting state): applied twice. One event may
    /// leave two different entries of one action (an invoice event: the subscription's state, then the dunning fields).</summary>
    public static async Task<List<string>> AuditedTwiceAsync(NpgsqlDataSource db, string[] ids, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT cause, action, count(*) FROM audit_entries WHERE cause = ANY(@ids) GROUP BY cause, action, after::text HAVING count(*) > 1");
        cmd.Parameters.AddWithValue("ids", ids);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var twice = new List<string>();
        while (await reader.ReadAsync(ct))
        {
            twice.Add($"{reader.GetString(0)} ({reader.GetString(1)} x{reader.GetInt64(2)})");
        }

        return twice;
    }
}
