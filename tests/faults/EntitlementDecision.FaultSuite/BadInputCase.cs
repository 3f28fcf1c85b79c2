using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Stripe;
using Google.Protobuf;

namespace EntitlementDecision.FaultSuite;

/// <summary>
/// Case 5: bad input at both doors. To the sidecar's gRPC port, raw HTTP/2 (prior knowledge): truncated frames, a length prefix
/// beyond the 4 MiB receive limit, an oversized message, invalid protobuf, a gzip bomb (a small body expanding to 300 MB),
/// compression the server does not know, absurd grpc-timeout values, an unknown method. To the control plane: oversized,
/// malformed and deeply nested JSON to POST /usage/events and an operator endpoint, and webhooks with a valid signature but a
/// body of the wrong shape. Each must get a gRPC status or a 4xx (no 5xx, no hang, no crash), and afterwards both processes
/// still serve a normal request.
/// </summary>
internal sealed class BadInputCase : FaultCase
{
    private const string Check = "/entitlements.v1.EntitlementDecisionService/CheckEntitlement";
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(15);

    public override string Name => "bad-input";

    public override string Description => "malformed gRPC frames, a gzip bomb, absurd deadlines; oversized, malformed, nested JSON; wrong-shape webhooks";

    public override async Task RunAsync(FaultStack stack, CaseReport report, CancellationToken ct)
    {
        var tenant = $"bi-{stack.RunId}";
        await stack.CreateTenantAsync(tenant);
        var valid = new CheckEntitlementRequest { TenantId = tenant, Environment = "production", FeatureKey = "projects" }.ToByteArray();
        var sidecarPid = stack.Pid("sidecar");
        var rssBefore = FaultStack.RssMiB(sidecarPid);

        using var h2 = new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = true }) { Timeout = Timeout.InfiniteTimeSpan };
        var grpcProbes = new (string Name, Func<Task<Probe>> Send, Func<Probe, bool>? Expect)[]
        {
            ("valid request (baseline)", () => Grpc(h2, stack, Check, Frame(valid)), p => p.GrpcStatus == 0),
            ("truncated frame (prefix 100, body 10)", () => Grpc(h2, stack, Check, Frame(valid, declaredLength: 100, bodyLength: 10)), p => p.GrpcStatus is > 0),
            ("truncated prefix (3 of 5 header bytes)", () => Grpc(h2, stack, Check, [0, 0, 0]), p => p.GrpcStatus is > 0),
            ("length prefix 5 MiB, body 10 bytes", () => Grpc(h2, stack, Check, Frame(valid, declaredLength: 5 * 1024 * 1024, bodyLength: 10)), p => p.GrpcStatus is > 0),
            ("length prefix 4 GiB - 1", () => Grpc(h2, stack, Check, Frame(valid, declaredLength: uint.MaxValue, bodyLength: 10)), p => p.GrpcStatus is > 0),
            ("message of 5 MiB (> 4 MiB limit)", () => Grpc(h2, stack, Check, Frame(new byte[5 * 1024 * 1024])), p => p.GrpcStatus == 8),
            ("invalid protobuf", () => Grpc(h2, stack, Check, Frame([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x0A])), p => p.GrpcStatus is > 0),
            ("protobuf with a field of wrong wire type", () => Grpc(h2, stack, Check, Frame([0x0D, 0x01, 0x02, 0x03, 0x04])), p => p.GrpcStatus is >= 0),
            ("gzip bomb (300 MB of zeros in ~300 KB)", () => Grpc(h2, stack, Check, Frame(GzipBomb(300), compressed: true), ("grpc-encoding", "gzip")), p => p.GrpcStatus is > 0),
            ("compressed flag without grpc-encoding", () => Grpc(h2, stack, Check, Frame(valid, compressed: true)), p => p.GrpcStatus is > 0),
            ("unknown grpc-encoding", () => Grpc(h2, stack, Check, Frame(valid, compressed: true), ("grpc-encoding", "zstd-nope")), p => p.GrpcStatus is > 0),
            ("grpc-timeout 99999999H", () => Grpc(h2, stack, Check, Frame(valid), ("grpc-timeout", "99999999H")), p => p.GrpcStatus == 0),
            ("grpc-timeout 1n", () => Grpc(h2, stack, Check, Frame(valid), ("grpc-timeout", "1n")), p => p.GrpcStatus is 0 or 4),
            ("grpc-timeout 0S", () => Grpc(h2, stack, Check, Frame(valid), ("grpc-timeout", "0S")), p => p.GrpcStatus is 0 or 4),
            ("grpc-timeout garbage", () => Grpc(h2, stack, Check, Frame(valid), ("grpc-timeout", "-5x")), p => p.GrpcStatus is >= 0),
            ("grpc-timeout 123456789S (9 digits)", () => Grpc(h2, stack, Check, Frame(valid), ("grpc-timeout", "123456789S")), p => p.GrpcStatus is >= 0),
            ("two messages on a unary call", () => Grpc(h2, stack, Check, [.. Frame(valid), .. Frame(valid)]), p => p.GrpcStatus is > 0),
            ("empty body (no message)", () => Grpc(h2, stack, Check, []), p => p.GrpcStatus is > 0),
            ("unknown method", () => Grpc(h2, stack, "/entitlements.v1.EntitlementDecisionService/Nope", Frame(valid)), p => p.GrpcStatus == 12),
            ("content-type application/json", () => Grpc(h2, stack, Check, Frame(valid), ("content-type", "application/json")), p => p.GrpcStatus is not null || p.Http is >= 400 and < 500),
        };

        var answered = 0;
        foreach (var (name, send, expect) in grpcProbes)
        {
            var probe = await Guarded(send);
            var ok = probe.Error is null && (probe.GrpcStatus is not null || probe.Http is >= 400 and < 500) && (expect is null || expect(probe));
            answered += probe.Error is null ? 1 : 0;
            report.Figure($"sidecar: {name}", probe.ToString());
            report.Check(ok, $"sidecar: {name}: {probe}");
        }

        var rssAfter = FaultStack.RssMiB(sidecarPid);
        report.Figure("sidecar resident memory before / after (MiB)", $"{rssBefore} / {rssAfter}");
        report.Check(FaultStack.IsAlive(sidecarPid), "the sidecar process died");
        var normal = await stack.Sidecar.CheckEntitlementAsync(new CheckEntitlementRequest { TenantId = tenant, Environment = "production", FeatureKey = "projects" },
            deadline: DateTime.UtcNow.AddSeconds(5), cancellationToken: ct);
        report.Figure("sidecar afterwards: a normal CheckEntitlement", $"{normal.Reason} (allowed={normal.Allowed})");
        report.Check(normal.Allowed, $"the sidecar no longer serves a normal request: {normal}");

        // The control plane's doors.
        var operatorToken = stack.ControlPlane.DefaultRequestHeaders.Authorization!.Parameter!;
        var nested = new string('[', 100_000) + new string(']', 100_000);
        var nestedObject = string.Concat(Enumerable.Repeat("{\"a\":", 50_000)) + "1" + new string('}', 50_000);
        var bigUsage = "[" + string.Join(",", Enumerable.Repeat("{\"tenant_id\":\"" + tenant + "\",\"feature_key\":\"api_calls\",\"quantity\":1,\"event_id\":\"" + new string('x', 200) + "\"}", 40_000)) + "]";
        var wrongShape = new Dictionary<string, string>
        {
            ["a JSON array"] = "[]",
            ["a JSON string"] = "\"evt\"",
            ["an object without id/type"] = "{\"hello\":1}",
            ["an event whose data.object is a string"] = "{\"id\":\"evt_bi_" + stack.RunId + "_1\",\"object\":\"event\",\"type\":\"customer.subscription.updated\",\"created\":1700000000,\"data\":{\"object\":\"nope\"}}",
            ["an event whose data.object is an empty object"] = "{\"id\":\"evt_bi_" + stack.RunId + "_2\",\"object\":\"event\",\"type\":\"customer.subscription.updated\",\"created\":1700000000,\"data\":{\"object\":{}}}",
            ["an event with a numeric id and created as text"] = "{\"id\":42,\"object\":\"event\",\"type\":\"invoice.paid\",\"created\":\"yesterday\",\"data\":{}}",
            ["deeply nested JSON"] = nestedObject,
            ["not UTF-8"] = Encoding.Latin1.GetString([0xC3, 0x28, 0xFF, 0xFE]),
        };
        var httpProbes = new List<(string Name, Func<Task<Probe>> Send, Func<Probe, bool> Expect)>
        {
            ("POST /usage/events malformed JSON", () => Http(stack, HttpMethod.Post, "/usage/events", "[{\"tenant_id\":", operatorToken), p => p.Http == 400),
            ("POST /usage/events 100000-deep arrays", () => Http(stack, HttpMethod.Post, "/usage/events", nested, operatorToken), p => p.Http == 400),
            ("POST /usage/events 50000-deep objects", () => Http(stack, HttpMethod.Post, "/usage/events", "[" + nestedObject + "]", operatorToken), p => p.Http == 400),
            ("POST /usage/events a JSON object, not an array", () => Http(stack, HttpMethod.Post, "/usage/events", "{\"tenant_id\":\"x\"}", operatorToken), p => p.Http == 400),
            ("POST /usage/events 40000 events (~10 MB > 8 MiB)", () => Http(stack, HttpMethod.Post, "/usage/events", bigUsage, operatorToken), p => p.Http is 413 or 400),
            ("POST /usage/events without a token", () => Http(stack, HttpMethod.Post, "/usage/events", "[]", null), p => p.Http == 401),
            ("POST /usage/events with a 20 KB token", () => Http(stack, HttpMethod.Post, "/usage/events", "[]", new string('a', 20_000)), p => p.Http is 401 or 431 or 400),
            ("POST /tenants malformed JSON (operator)", () => Http(stack, HttpMethod.Post, "/tenants", "{\"tenant_id\":", operatorToken), p => p.Http == 400),
            ("POST /tenants 50000-deep objects (operator)", () => Http(stack, HttpMethod.Post, "/tenants", nestedObject, operatorToken), p => p.Http == 400),
            ("POST /tenants wrong types (operator)", () => Http(stack, HttpMethod.Post, "/tenants", "{\"tenant_id\":[1,2],\"name\":{},\"environment\":7}", operatorToken), p => p.Http == 400),
            ("POST /tenants 40 MB body (operator)", () => Http(stack, HttpMethod.Post, "/tenants", "{\"tenant_id\":\"" + new string('z', 40 * 1024 * 1024) + "\"}", operatorToken), p => p.Http is 413 or 400),
            ("PUT override with plan_id 42 (operator)", () => Http(stack, HttpMethod.Put, $"/tenants/{tenant}/entitlements/production/override", "{\"plan_id\":42}", operatorToken), p => p.Http == 400),
            ("PUT override with nested JSON (operator)", () => Http(stack, HttpMethod.Put, $"/tenants/{tenant}/entitlements/production/override", nestedObject, operatorToken), p => p.Http == 400),
            ("webhook 600 KB, valid signature", () => Webhook(stack, "{\"id\":\"evt_big\",\"pad\":\"" + new string('p', 600 * 1024) + "\"}"), p => p.Http == 413),
        };
        foreach (var (name, body) in wrongShape)
        {
            // A parseable event of a handled type with a useless object may be stored (200) and rejected when processed; anything else is 400.
            var storable = name.StartsWith("an event whose", StringComparison.Ordinal);
            httpProbes.Add(($"webhook, valid signature, {name}", () => Webhook(stack, body), p => p.Http == 400 || (storable && p.Http == 200)));
        }

        foreach (var (name, send, expect) in httpProbes)
        {
            var probe = await Guarded(send);
            var ok = probe.Error is null && probe.Http is >= 200 and < 500 && expect(probe);
            report.Figure($"control plane: {name}", probe.ToString());
            report.Check(ok, $"control plane: {name}: {probe}");
        }

        // Webhooks stored despite a useless object must not stay pending forever or break the processor.
        var storedIds = new[] { $"evt_bi_{stack.RunId}_1", $"evt_bi_{stack.RunId}_2" };
        var settled = await Poll.UntilAsync(async () =>
        {
            await using var cmd = stack.Db.CreateCommand("SELECT count(*) FROM stripe_events WHERE event_id = ANY(@ids) AND status = 'pending'");
            cmd.Parameters.AddWithValue("ids", storedIds);
            return (long)(await cmd.ExecuteScalarAsync(ct))! == 0;
        }, TimeSpan.FromSeconds(15), TimeSpan.FromMilliseconds(200), ct);
        report.Check(settled is not null, "wrong-shape webhooks that were stored are still pending after 15 s");
        await using (var cmd = stack.Db.CreateCommand("SELECT event_id, status, coalesce(outcome, last_error, '') FROM stripe_events WHERE event_id = ANY(@ids)"))
        {
            cmd.Parameters.AddWithValue("ids", storedIds);
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                report.Figure($"stored wrong-shape webhook {reader.GetString(0)}", $"{reader.GetString(1)}: {Truncate(reader.GetString(2), 100)}");
            }
        }

        report.Check(FaultStack.IsAlive(stack.Pid("controlplane")), "the control plane process died");
        using var health = await stack.ControlPlane.GetAsync("/healthz", ct);
        using var get = await stack.ControlPlane.GetAsync($"/tenants/{tenant}", ct);
        report.Figure("control plane afterwards: /healthz, GET /tenants/{id}", $"{(int)health.StatusCode}, {(int)get.StatusCode}");
        report.Check(health.IsSuccessStatusCode && get.IsSuccessStatusCode, "the control plane no longer serves normal requests");
        report.Figure("probes answered (status or 4xx, no hang)", $"{answered + httpProbes.Count} of {grpcProbes.Length + httpProbes.Count}");
    }

    /// <summary>An answer: the HTTP status, the grpc-status (trailers or trailers-only headers), its message, or the error (timeout, reset).</summary>
    private sealed record Probe(int Http, int? GrpcStatus, string? Message, string? Error, double Seconds)
    {
        public override string ToString() => Error is not null
            ? $"NO ANSWER: {Error} after {Seconds:0.00} s"
            : $"HTTP {Http}{(GrpcStatus is { } g ? $", grpc-status {g} ({(Grpc.Core.StatusCode)g})" : "")}{(string.IsNullOrEmpty(Message) ? "" : $" \"{Truncate(Message, 90)}\"")}";
    }

    private static async Task<Probe> Guarded(Func<Task<Probe>> send)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            return await send();
        }
        catch (Exception e)
        {
            return new Probe(0, null, null, $"{e.GetType().Name}: {Truncate(e.InnerException?.Message ?? e.Message, 120)}", clock.Elapsed.TotalSeconds);
        }
    }

    /// <summary>A gRPC length-prefixed message: flag byte, 4-byte big-endian length (declared, default the body's), body (cut to bodyLength).</summary>
    private static byte[] Frame(byte[] message, uint? declaredLength = null, int? bodyLength = null, bool compressed = false)
    {
        var body = bodyLength is { } n ? message.AsSpan(0, Math.Min(n, message.Length)).ToArray() : message;
        var frame = new byte[5 + body.Length];
        frame[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), declaredLength ?? (uint)message.Length);
        body.CopyTo(frame.AsSpan(5));
        return frame;
    }

    private static byte[] GzipBomb(int megabytes)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true))
        {
            var zeros = new byte[1024 * 1024];
            for (var i = 0; i < megabytes; i++)
            {
                gzip.Write(zeros);
            }
        }

        return output.ToArray();
    }

    private static async Task<Probe> Grpc(HttpClient http, FaultStack stack, string path, byte[] body, params (string Name, string Value)[] headers)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(stack.SidecarUrl, path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        foreach (var (name, value) in headers)
        {
            if (name == "content-type")
            {
                request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(value);
            }
            else
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        }

        using var cts = new CancellationTokenSource(ProbeTimeout);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        await response.Content.CopyToAsync(Stream.Null, cts.Token);
        string? Header(string name) =>
            response.TrailingHeaders.TryGetValues(name, out var t) ? t.FirstOrDefault()
            : response.Headers.TryGetValues(name, out var h) ? h.FirstOrDefault() : null;
        var status = int.TryParse(Header("grpc-status"), out var s) ? s : (int?)null;
        return new Probe((int)response.StatusCode, status, Uri.UnescapeDataString(Header("grpc-message") ?? ""), null, clock.Elapsed.TotalSeconds);
    }

    private static async Task<Probe> Http(FaultStack stack, HttpMethod method, string path, string body, string? token)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var client = new HttpClient { BaseAddress = stack.ControlPlaneUrl, Timeout = ProbeTimeout };
        using var request = new HttpRequestMessage(method, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        // A large body waits for "100 Continue", so a server refusing it (413) is heard instead of a reset mid-upload.
        request.Headers.ExpectContinue = body.Length > 1024 * 1024;
        if (token is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + token);
        }

        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return new Probe((int)response.StatusCode, null, Title(text), null, clock.Elapsed.TotalSeconds);
    }

    private static async Task<Probe> Webhook(FaultStack stack, string body)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var bytes = Encoding.Latin1.GetBytes(body) is var latin && body.Any(c => c > 0x7F) && body.All(c => c <= 0xFF) ? latin : Encoding.UTF8.GetBytes(body);
        var (status, text) = await stack.PostWebhookAsync(bytes, WebhookSignature.CreateHeader(bytes, stack.WebhookSecret, DateTimeOffset.UtcNow));
        return status == 0 ? new Probe(0, null, null, text, clock.Elapsed.TotalSeconds) : new Probe(status, null, Title(text), null, clock.Elapsed.TotalSeconds);
    }

    private static string Title(string problem)
    {
        try
        {
            var json = System.Text.Json.Nodes.JsonNode.Parse(problem);
            return (string?)json?["detail"] ?? (string?)json?["title"] ?? Truncate(problem, 90);
        }
        catch (System.Text.Json.JsonException)
        {
            return Truncate(problem, 90);
        }
    }

    private static string Truncate(string s, int n) => s.Length <= n ? s : s[..n] + "...";
}
