using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using EntitlementDecision.Stripe;
using Google.Protobuf;

namespace EntitlementDecision.EndToEnd.Tests;

/// <summary>
/// OpenTelemetry on the running stack (test.sh starts both hosts with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4319, protocol
/// http/protobuf): one trace follows a webhook from POST /billing/webhook through processing and the outbox publish to the sidecar
/// applying the invalidation; both hosts serve the documented metrics at /metrics and answer /livez and /readyz.
/// </summary>
public sealed class TelemetryTests(RunningSystem system) : IClassFixture<RunningSystem>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Webhook_OneTraceSpansControlPlaneAndSidecar()
    {
        using var collector = OtlpCollector.Start(Environment.GetEnvironmentVariable("ED_E2E_OTLP_URL") ?? "http://127.0.0.1:4319/");
        var tenant = RunningSystem.NewTenantId();
        await system.CreateTenantAsync(tenant);
        await system.CheckAsync(tenant, "advanced_reports"); // the sidecar holds the tenant

        var traceId = ActivityTraceId.CreateRandom();
        var body = RunningSystem.SubscriptionEvent("customer.subscription.created", tenant, "sub_" + tenant, "active", DateTimeOffset.UtcNow).ToUtf8Bytes();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/billing/webhook") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("Stripe-Signature", WebhookSignature.CreateHeader(body, system.WebhookSecrets[0], DateTimeOffset.UtcNow));
        request.Headers.Add("traceparent", $"00-{traceId.ToHexString()}-{ActivitySpanId.CreateRandom().ToHexString()}-01");
        using var response = await system.ControlPlane.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        string[] wanted = ["entitlement-controlplane/POST /billing/webhook", "entitlement-controlplane/stripe_event process",
            "entitlement-controlplane/snapshot publish", "entitlement-sidecar/invalidation apply"];
        var clock = Stopwatch.StartNew();
        IReadOnlyList<string> seen = [];
        while (clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            seen = collector.SpansOf(traceId.ToHexString());
            if (wanted.All(w => seen.Any(s => s.StartsWith(w, StringComparison.Ordinal))))
            {
                break;
            }

            await Task.Delay(100, Ct);
        }

        foreach (var span in wanted)
        {
            Assert.True(seen.Any(s => s.StartsWith(span, StringComparison.Ordinal)),
                $"no span '{span}' in trace {traceId} after {clock.Elapsed.TotalSeconds:0} s; the trace holds: [{string.Join(", ", seen)}]; "
                + $"{collector.Requests} OTLP requests received");
        }
    }

    [Fact]
    public async Task Metrics_BothHostsServeTheDocumentedNames()
    {
        // Make each family non-empty: a decision, a recorded usage event, a processed webhook.
        var tenant = RunningSystem.NewTenantId();
        await system.CreateTenantAsync(tenant);
        await system.CheckAsync(tenant, "projects");
        var body = RunningSystem.SubscriptionEvent("customer.subscription.created", tenant, "sub_" + tenant, "active", DateTimeOffset.UtcNow).ToUtf8Bytes();
        using (var posted = await system.PostSignedWebhookAsync(body))
        {
            Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        }

        await system.WaitProcessedAsync(body);
        await system.WaitForAnswerAsync(tenant, "advanced_reports", a => a.Allowed, RunningSystem.FunctionalDeadline);
        using var unauthorized = new HttpClient { BaseAddress = system.ControlPlane.BaseAddress };
        using (await unauthorized.GetAsync("/tenants", Ct))
        {
        }

        using var http = new HttpClient();
        var controlPlane = await http.GetStringAsync(new Uri(system.ControlPlane.BaseAddress!, "/metrics"), Ct);
        foreach (var name in new[]
        {
            "ed_webhook_events_total{", "ed_webhook_processing_lag_seconds_bucket{", "ed_webhook_backlog_age_seconds", "ed_outbox_publish_lag_seconds_bucket{",
            "ed_billing_subscription_transitions_total{", "ed_billing_dunning_tenants{", "ed_reconciliation_open_drift", "ed_ledger_lag_seconds",
            "ed_http_denied_total{",
        })
        {
            Assert.Contains(name, controlPlane, StringComparison.Ordinal);
        }

        var admin = AdminUrl(system.SidecarUrl);
        var sidecar = await http.GetStringAsync(new Uri(admin, "/metrics"), Ct);
        foreach (var name in new[]
        {
            "ed_sidecar_decisions_total{", "ed_sidecar_decision_duration_seconds_bucket{", "ed_sidecar_snapshot_lookups_total{",
            "ed_sidecar_snapshot_age_seconds", "ed_sidecar_invalidation_lag_seconds_bucket{", "ed_sidecar_invalidation_live",
        })
        {
            Assert.Contains(name, sidecar, StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(admin, "/livez"), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(admin, "/readyz"), Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri(system.ControlPlane.BaseAddress!, "/livez"), Ct)).StatusCode);
        var ready = await http.GetAsync(new Uri(system.ControlPlane.BaseAddress!, "/readyz"), Ct);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("\"postgresql\"", await ready.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    /// <summary>The sidecar's admin listener: ED_E2E_SIDECAR_ADMIN_URL, else the gRPC port + 1000 (the sidecar's default).</summary>
    private static Uri AdminUrl(Uri sidecar) =>
        Environment.GetEnvironmentVariable("ED_E2E_SIDECAR_ADMIN_URL") is { Length: > 0 } url ? new Uri(url) : new Uri($"http://{sidecar.Host}:{sidecar.Port + 1000}");

    /// <summary>
    /// A stand-in OTLP/HTTP collector: accepts POST /v1/traces (and any other signal, ignored) in protobuf and keeps
    /// "service/span name" per trace id. Reads the few fields it needs straight off the wire (opentelemetry-proto's field numbers).
    /// </summary>
    private sealed class OtlpCollector : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Dictionary<string, List<string>> _spans = new(StringComparer.Ordinal);
        private int _requests;

        public int Requests => Volatile.Read(ref _requests);

        public static OtlpCollector Start(string prefix)
        {
            var collector = new OtlpCollector();
            collector._listener.Prefixes.Add(prefix);
            collector._listener.Start();
            _ = collector.ServeAsync();
            return collector;
        }

        public IReadOnlyList<string> SpansOf(string traceId)
        {
            lock (_spans)
            {
                return _spans.TryGetValue(traceId, out var list) ? [.. list] : [];
            }
        }

        public void Dispose() => _listener.Close();

        private async Task ServeAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                Interlocked.Increment(ref _requests);
                using var buffer = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(buffer);
                if (context.Request.Url?.AbsolutePath == "/v1/traces")
                {
                    Collect(buffer.ToArray());
                }

                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/x-protobuf";
                context.Response.Close();
            }
        }

        // ExportTraceServiceRequest{1: ResourceSpans{1: Resource{1: KeyValue{1: key, 2: AnyValue{1: string}}}, 2: ScopeSpans{2: Span{1: trace_id, 5: name}}}}
        private void Collect(byte[] body)
        {
            foreach (var resourceSpans in Fields(body, 1))
            {
                var service = "?";
                foreach (var resource in Fields(resourceSpans, 1))
                {
                    foreach (var attribute in Fields(resource, 1))
                    {
                        if (Fields(attribute, 1).FirstOrDefault() is { } key && System.Text.Encoding.UTF8.GetString(key) == "service.name"
                            && Fields(attribute, 2).FirstOrDefault() is { } value && Fields(value, 1).FirstOrDefault() is { } text)
                        {
                            service = System.Text.Encoding.UTF8.GetString(text);
                        }
                    }
                }

                foreach (var scopeSpans in Fields(resourceSpans, 2))
                {
                    foreach (var span in Fields(scopeSpans, 2))
                    {
                        var traceId = Convert.ToHexStringLower(Fields(span, 1).FirstOrDefault() ?? []);
                        var name = System.Text.Encoding.UTF8.GetString(Fields(span, 5).FirstOrDefault() ?? []);
                        lock (_spans)
                        {
                            (_spans.TryGetValue(traceId, out var list) ? list : _spans[traceId] = []).Add($"{service}/{name}");
                        }
                    }
                }
            }
        }

        /// <summary>The length-delimited values of field <paramref name="number"/> in one protobuf message; other fields skipped.</summary>
        private static List<byte[]> Fields(byte[] message, int number)
        {
            var found = new List<byte[]>();
            var input = new CodedInputStream(message);
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                if (WireFormat.GetTagFieldNumber(tag) == number && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
                {
                    found.Add(input.ReadBytes().ToByteArray());
                }
                else
                {
                    input.SkipLastField();
                }
            }

            return found;
        }
    }
}
