using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace EntitlementDecision.FaultSuite;

/// <summary>
/// Case 4: Stripe's API failing while the control plane re-reads subscriptions for webhooks (ED_WEBHOOK_REREAD=on: the control
/// plane is restarted with it) and while it reconciles: 5xx, 429, aborted connections and one request hung past the re-read
/// timeout (15 s), all from the fake Stripe API's fault controls. The events are retried with backoff and applied once, and the
/// control plane's state converges on Stripe's once the fake recovers; a reconciliation run during the failure repairs nothing
/// wrongly and a run after it repairs the drift, once.
/// </summary>
internal sealed class StripeFailureCase : FaultCase
{
    private const int Tenants = 6;

    public override string Name => "stripe-failures";

    public override string Description => "Stripe answers 500/429/aborts/hangs during webhook re-reads and reconciliation; retries converge";

    public override async Task RunAsync(FaultStack stack, CaseReport report, CancellationToken ct)
    {
        // The control plane with re-reads on (test.sh and cases 1-3 run with them off: their events are self-built).
        await stack.ControlAsync("controlplane-stop");
        await stack.ControlAsync("controlplane-start", "ED_WEBHOOK_REREAD=on");

        var tenants = Enumerable.Range(0, Tenants).Select(i => $"sf-{stack.RunId}-{i:00}").ToList();
        var sessions = new Dictionary<string, string>();
        foreach (var t in tenants)
        {
            await stack.CreateTenantAsync(t);
            using var owner = new HttpClient { BaseAddress = stack.ControlPlaneUrl, Timeout = TimeSpan.FromSeconds(30) };
            owner.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", stack.MintToken(t, "owner"));
            using var response = await owner.PostAsJsonAsync("/billing/checkout", new { plan_id = "pro" }, ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            if (!response.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"setup: POST /billing/checkout for {t} -> {(int)response.StatusCode} {body}");
            }

            sessions[t] = (string?)JsonNode.Parse(body)?["id"] ?? throw new InvalidOperationException("checkout without an id");
        }

        // Faults on every subscription read, in this order: three 500s, three 429s (Stripe-Should-Retry), two aborted connections,
        // one 16 s hang (the re-read gives up at 15 s), one 503.
        await stack.FakeAsync(HttpMethod.Delete, "/_fake/requests");
        var faults = new object[]
        {
            new { path = "/v1/subscriptions/*", method = "GET", status = 500, count = 3 },
            new { path = "/v1/subscriptions/*", method = "GET", status = 429, count = 3, shouldRetry = true },
            new { path = "/v1/subscriptions/*", method = "GET", abort = true, count = 2 },
            new { path = "/v1/subscriptions/*", method = "GET", status = 503, count = 1, delay_ms = 16_000 },
            new { path = "/v1/subscriptions/*", method = "GET", status = 503, count = 1 },
        };
        foreach (var f in faults)
        {
            await stack.FakeAsync(HttpMethod.Post, "/_fake/faults", f);
        }

        report.Figure("faults injected on GET /v1/subscriptions/*", "3x500, 3x429, 2x abort, 1x hang 16 s, 1x503");

        // Stripe's side of the story: checkouts completed (checkout.session.completed, customer.subscription.created), half the
        // trials ended (updated, invoice.paid), a third of those then fail a payment (invoice.payment_failed, updated past_due).
        var subscriptions = new Dictionary<string, string>();
        foreach (var (t, i) in tenants.Select((t, i) => (t, i)))
        {
            var completed = await stack.FakeAsync(HttpMethod.Post, $"/_fake/checkout/sessions/{sessions[t]}/complete");
            subscriptions[t] = (string?)completed?["object"]?["id"] ?? throw new InvalidOperationException("completed checkout without a subscription");
            if (i % 2 == 0)
            {
                await stack.FakeAsync(HttpMethod.Post, $"/_fake/subscriptions/{subscriptions[t]}/end_trial");
            }

            if (i % 4 == 0)
            {
                await stack.FakeAsync(HttpMethod.Post, $"/_fake/subscriptions/{subscriptions[t]}/payment_failed");
            }
        }

        var deliveries = (await stack.FakeAsync(HttpMethod.Get, "/_fake/webhooks"))!.AsArray();
        var eventIds = deliveries.Select(d => (string)d!["event_id"]!).Distinct().ToArray();
        report.Figure("Stripe events sent (by the fake) / acknowledged 2xx", $"{eventIds.Length} / {deliveries.Count(d => (int?)d!["status"] is >= 200 and <= 299)}");

        // Converged: every fault used, every event processed.
        Dictionary<string, (string Status, string? Outcome, int Attempts, string? Error)> rows = [];
        var converged = await Poll.UntilAsync(async () =>
        {
            rows = await EventsAsync(stack.Db, eventIds, ct);
            var pendingFaults = (await stack.FakeAsync(HttpMethod.Get, "/_fake/faults"))!.AsArray().Count;
            return pendingFaults == 0 && rows.Count == eventIds.Length && rows.Values.All(r => r.Status != "pending");
        }, TimeSpan.FromSeconds(75), TimeSpan.FromMilliseconds(250), ct);
        report.Figure("all events processed after (faults used up)", converged is { } c ? c : "not within 75 s");
        report.Check(converged is not null, $"not converged within 75 s: {rows.Count(r => r.Value.Status == "pending")} events pending");

        var requests = (await stack.FakeAsync(HttpMethod.Get, "/_fake/requests"))!.AsArray()
            .Where(r => ((string?)r!["path"])?.StartsWith("/v1/subscriptions/", StringComparison.Ordinal) == true && (string?)r!["method"] == "GET").ToList();
        var failedReads = requests.Count(r => (int?)r!["status"] is not 200);
        report.Figure("subscription re-reads: requests / failed (fault) / succeeded", $"{requests.Count} / {failedReads} / {requests.Count - failedReads}");
        report.Check(failedReads >= 10, $"only {failedReads} re-reads hit a fault: the faults did not meet the re-reads");
        var retried = rows.Values.Where(r => r.Attempts > 1).ToList();
        report.Figure("events processed on a later attempt (retried with backoff) / max attempts", $"{retried.Count} / {(rows.Count == 0 ? 0 : rows.Values.Max(r => r.Attempts))}");
        report.Check(retried.Count > 0, "no event needed a second attempt: the faults did not reach the processor");
        var bad = rows.Where(r => r.Value.Status != "processed" || r.Value.Outcome is null || r.Value.Outcome.StartsWith("rejected", StringComparison.Ordinal)).ToList();
        report.Figure("events applied / ignored / failed or rejected",
            $"{rows.Values.Count(r => r.Outcome == "applied")} / {rows.Values.Count(r => r.Outcome?.StartsWith("ignored", StringComparison.Ordinal) == true)} / {bad.Count}");
        report.Check(bad.Count == 0, $"{bad.Count} events failed or were rejected: {string.Join("; ", bad.Take(4).Select(b => $"{b.Key} {b.Value.Status} {b.Value.Outcome} {b.Value.Error}"))}");
        var twice = await WebhookBurst.AuditedTwiceAsync(stack.Db, eventIds, ct);
        report.Figure("applied twice (same change audited twice for one event)", twice.Count);
        report.Check(twice.Count == 0, $"events audited twice: {string.Join(", ", twice.Take(5))}");
        await CheckConvergedAsync(stack, report, subscriptions, "after the webhook faults");

        // Reconciliation while Stripe fails, then after: drift made at the fake without a webhook (deliveries off), then 500s on
        // every subscription call (Stripe.net retries each 3 times) for the first run; the second run meets a healthy fake.
        await stack.FakeAsync(HttpMethod.Post, "/_fake/webhook", new { url = (string?)null, secret = (string?)null });
        var drifted = tenants.Where((_, i) => i % 2 == 1).Take(2).ToList();
        foreach (var t in drifted)
        {
            await stack.FakeAsync(HttpMethod.Post, $"/_fake/subscriptions/{subscriptions[t]}/status", new { status = "unpaid" });
        }

        await stack.FakeAsync(HttpMethod.Post, "/_fake/webhook", new { url = new Uri(stack.ControlPlaneUrl, "/billing/webhook").ToString(), secret = stack.WebhookSecret });
        await stack.FakeAsync(HttpMethod.Post, "/_fake/faults", new { path = "/v1/subscriptions*", status = 500, count = 12 });
        var beforeRuns = await StatesAsync(stack, tenants);
        var reconcileClock = System.Diagnostics.Stopwatch.StartNew();
        var during = await ReconcileAsync(stack, tenants, ct);
        report.Figure("reconciliation while Stripe answers 500 took", reconcileClock.Elapsed);
        report.Figure("reconciliation while Stripe answers 500: HTTP / runs completed / repaired / errors reported", $"{string.Join(",", during.Statuses.Distinct())} / {during.Completed} of {tenants.Count} / {during.Repaired} / {during.Errors}");
        report.Check(during.Statuses.All(s => s is 200 or 502 or 503), $"reconciliation during the failure answered {string.Join(",", during.Statuses)}: {during.Body}");
        report.Check(during.Errors > 0, "no reconciliation read met a fault");
        // Under failure a run may repair what it could read, never anything else: each tenant is as before, or as Stripe says.
        var afterFailedRuns = await StatesAsync(stack, tenants);
        var wrongly = new List<string>();
        foreach (var t in tenants)
        {
            var stripe = await StripeStateAsync(stack, subscriptions[t]);
            if (afterFailedRuns[t] != beforeRuns[t] && afterFailedRuns[t] != stripe)
            {
                wrongly.Add($"{t}: {beforeRuns[t]} -> {afterFailedRuns[t]}, Stripe {stripe}");
            }
        }

        report.Check(wrongly.Count == 0, $"reconciliation under failure changed tenants to a state Stripe does not have: {string.Join("; ", wrongly)}");
        await stack.FakeAsync(HttpMethod.Delete, "/_fake/faults");

        var after = await ReconcileAsync(stack, tenants, ct);
        report.Figure("reconciliation after recovery: runs completed / checked / mismatches / repaired / errors", $"{after.Completed} of {tenants.Count} / {after.Checked} / {after.Mismatches} / {after.Repaired} / {after.Errors}");
        report.Check(after.Statuses.All(s => s == 200) && after.Completed == tenants.Count && after.Errors == 0, $"reconciliation after recovery: {string.Join(",", after.Statuses)} {after.Body}");
        var again = await ReconcileAsync(stack, tenants, ct);
        report.Figure("reconciliation once more: mismatches / repaired (0 / 0: converged, nothing applied twice)", $"{again.Mismatches} / {again.Repaired}");
        report.Check(again.Repaired == 0, $"a second reconciliation repaired {again.Repaired} more: the first did not converge, or applied twice");
        await CheckConvergedAsync(stack, report, subscriptions, "after reconciliation");
        var repairs = await RepairAuditAsync(stack.Db, drifted, ct);
        report.Figure("repairs audited for the drifted tenants", string.Join(", ", drifted.Select(t => $"{t}: {repairs.GetValueOrDefault(t)}")));
        report.Check(drifted.All(t => repairs.GetValueOrDefault(t) == 1), "each drifted tenant must be repaired exactly once");
    }

    private static async Task CheckConvergedAsync(FaultStack stack, CaseReport report, Dictionary<string, string> subscriptions, string when)
    {
        var ours = await StatesAsync(stack, subscriptions.Keys);
        var differ = new List<string>();
        foreach (var (tenant, subscription) in subscriptions)
        {
            var stripe = await StripeStateAsync(stack, subscription);
            if (ours[tenant] != stripe)
            {
                differ.Add($"{tenant}: ours {ours[tenant]}, Stripe {stripe}");
            }
        }

        report.Figure($"tenants equal to Stripe {when}", $"{subscriptions.Count - differ.Count} of {subscriptions.Count}");
        report.Check(differ.Count == 0, $"{differ.Count} tenants differ from Stripe {when}: {string.Join("; ", differ.Take(4))}");
    }

    /// <summary>Our (stripe_status, subscription plan) of each tenant.</summary>
    private static async Task<Dictionary<string, (string? Status, string? Plan)>> StatesAsync(FaultStack stack, IEnumerable<string> tenants)
    {
        var states = new Dictionary<string, (string?, string?)>();
        foreach (var t in tenants)
        {
            var e = await stack.GetEntitlementAsync(t);
            states[t] = ((string?)e["stripe_status"], (string?)e["subscription_plan_id"]);
        }

        return states;
    }

    /// <summary>Stripe's (status, plan of the first item's price) of a subscription, from the fake.</summary>
    private static async Task<(string? Status, string? Plan)> StripeStateAsync(FaultStack stack, string subscription)
    {
        var stripe = await stack.StripeGetAsync($"/v1/subscriptions/{subscription}");
        var price = (string?)stripe["items"]?["data"]?[0]?["price"]?["id"];
        return ((string?)stripe["status"], price == WebhookBurst.ProPrice ? "pro" : price == WebhookBurst.BusinessPrice ? "business" : price);
    }

    private sealed record Reconcile(List<int> Statuses, string Body, int Completed, int Checked, int Mismatches, int Repaired, int Errors);

    /// <summary>One reconciliation run per tenant of the case (POST /billing/reconciliation/runs {tenant_id}), summed.</summary>
    private static async Task<Reconcile> ReconcileAsync(FaultStack stack, IReadOnlyList<string> tenants, CancellationToken ct)
    {
        using var client = new HttpClient { BaseAddress = stack.ControlPlaneUrl, Timeout = TimeSpan.FromSeconds(90) };
        client.DefaultRequestHeaders.Authorization = stack.ControlPlane.DefaultRequestHeaders.Authorization;
        var result = new Reconcile([], "", 0, 0, 0, 0, 0);
        foreach (var t in tenants)
        {
            using var response = await client.PostAsJsonAsync("/billing/reconciliation/runs", new { tenant_id = t }, ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            var json = body.StartsWith('{') ? JsonNode.Parse(body) : null;
            var run = json?["run"];
            result.Statuses.Add((int)response.StatusCode);
            result = result with
            {
                Body = result.Body.Length > 0 || response.IsSuccessStatusCode ? result.Body : (body.Length > 300 ? body[..300] : body),
                Completed = result.Completed + ((string?)run?["status"] == "completed" ? 1 : 0),
                Checked = result.Checked + ((int?)run?["checked"] ?? 0),
                Mismatches = result.Mismatches + ((int?)run?["mismatches"] ?? 0),
                Repaired = result.Repaired + ((int?)run?["repaired"] ?? 0),
                Errors = result.Errors + (json?["mismatches"]?.AsArray().Count(m => (string?)m!["field"] == "error") ?? 0),
            };
        }

        return result;
    }

    private static async Task<Dictionary<string, (string Status, string? Outcome, int Attempts, string? Error)>> EventsAsync(NpgsqlDataSource db, string[] ids, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT event_id, status, outcome, attempts, last_error FROM stripe_events WHERE event_id = ANY(@ids)");
        cmd.Parameters.AddWithValue("ids", ids);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var rows = new Dictionary<string, (string, string?, int, string?)>();
        while (await reader.ReadAsync(ct))
        {
            rows[reader.GetString(0)] = (reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetInt32(3), reader.IsDBNull(4) ? null : reader.GetString(4));
        }

        return rows;
    }

    private static async Task<Dictionary<string, int>> RepairAuditAsync(NpgsqlDataSource db, List<string> tenants, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT tenant_id, count(*)::int FROM audit_entries WHERE tenant_id = ANY(@t) AND action = 'reconciliation.repair' GROUP BY tenant_id");
        cmd.Parameters.AddWithValue("t", tenants.ToArray());
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var counts = new Dictionary<string, int>();
        while (await reader.ReadAsync(ct))
        {
            counts[reader.GetString(0)] = reader.GetInt32(1);
        }

        return counts;
    }
}
