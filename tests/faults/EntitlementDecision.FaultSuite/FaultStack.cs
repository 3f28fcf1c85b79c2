using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Stripe;
using EntitlementDecision.TestSupport;
using Grpc.Net.Client;
using Npgsql;
using StackExchange.Redis;

namespace EntitlementDecision.FaultSuite;

/// <summary>
/// The stack tests/faults/run.sh started, from its environment: the hosts' URLs, the operator token, the webhook secret, the
/// servers' connection strings, and tests/faults/control.sh for killing and restarting them.
/// </summary>
internal sealed class FaultStack : IAsyncDisposable
{
    private FaultStack()
    {
        ControlPlaneUrl = new Uri(Required("ED_CONTROLPLANE_URL"));
        SidecarUrl = new Uri(Required("ED_SIDECAR_URL"));
        FakeStripeUrl = new Uri(Required("ED_FAKE_STRIPE_URL"));
        WebhookSecret = Required("STRIPE_WEBHOOK_SECRET").Split(',')[0].Trim();
        StripeApiKey = Required("STRIPE_API_KEY");
        TokenSigningKey = Required("ED_TOKEN_SIGNING_KEY");
        RunDir = Required("ED_FAULTS_RUN_DIR");
        ControlScript = Required("ED_FAULTS_CONTROL");
        ControlPlaneDll = Required("ED_BIN_CONTROLPLANE");
        SecondSidecarPort = int.Parse(Required("ED_FAULTS_SECOND_SIDECAR_PORT"), System.Globalization.CultureInfo.InvariantCulture);
        RedisPort = int.Parse(Required("ED_FAULTS_REDIS_PORT"), System.Globalization.CultureInfo.InvariantCulture);
        Db = NpgsqlDataSource.Create(Required("ED_POSTGRES"));

        // Short timeouts everywhere: a fault must show as an error, never as a hang of the suite.
        ControlPlane = new HttpClient { BaseAddress = ControlPlaneUrl, Timeout = TimeSpan.FromSeconds(10) };
        ControlPlane.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Required("ED_FAULTS_OPERATOR_TOKEN"));
        Webhooks = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(5) }) { BaseAddress = ControlPlaneUrl, Timeout = TimeSpan.FromSeconds(10) };
        FakeStripe = new HttpClient { BaseAddress = FakeStripeUrl, Timeout = TimeSpan.FromSeconds(30) };
        Channel = GrpcChannel.ForAddress(SidecarUrl);
        Sidecar = new EntitlementDecisionService.EntitlementDecisionServiceClient(Channel);
    }

    public Uri ControlPlaneUrl { get; }

    public Uri SidecarUrl { get; }

    public Uri FakeStripeUrl { get; }

    public string WebhookSecret { get; }

    public string StripeApiKey { get; }

    public string TokenSigningKey { get; }

    public string RunDir { get; }

    public string ControlScript { get; }

    public string ControlPlaneDll { get; }

    public int SecondSidecarPort { get; }

    public int RedisPort { get; }

    public NpgsqlDataSource Db { get; }

    /// <summary>The control plane with an operator token.</summary>
    public HttpClient ControlPlane { get; }

    /// <summary>The control plane without a token, for webhooks (a fresh connection every few seconds, as Stripe's deliveries).</summary>
    public HttpClient Webhooks { get; }

    public HttpClient FakeStripe { get; }

    public GrpcChannel Channel { get; }

    public EntitlementDecisionService.EntitlementDecisionServiceClient Sidecar { get; }

    /// <summary>A short run id, so that tenants of one run never meet those of another (the suite starts on fresh servers anyway).</summary>
    public string RunId { get; } = Guid.NewGuid().ToString("n")[..6];

    public static FaultStack FromEnvironment() => new();

    /// <summary>Runs <c>control.sh action args</c>; throws with its output when it fails. Returns how long it took.</summary>
    public async Task<TimeSpan> ControlAsync(string action, params string[] args)
    {
        var clock = Stopwatch.StartNew();
        var (exit, output) = await RunProcessAsync("bash", [ControlScript, action, .. args], TimeSpan.FromSeconds(90));
        if (exit != 0)
        {
            throw new InvalidOperationException($"control.sh {action} {string.Join(' ', args)} exited {exit}: {output}");
        }

        return clock.Elapsed;
    }

    /// <summary>Runs a control-plane command (<c>dotnet controlplane.dll args</c>), e.g. ledger-check-counters.</summary>
    public Task<(int Exit, string Output)> ControlPlaneCliAsync(params string[] args) =>
        RunProcessAsync("dotnet", [ControlPlaneDll, .. args], TimeSpan.FromSeconds(90));

    /// <summary>The pid of a host process run.sh or control.sh started (pids/NAME.pid), or null.</summary>
    public int? Pid(string name) =>
        File.Exists(Path.Combine(RunDir, "pids", name + ".pid"))
        && int.TryParse(File.ReadAllText(Path.Combine(RunDir, "pids", name + ".pid")).Trim(), out var pid) ? pid : null;

    /// <summary>True when the process is alive (not a zombie).</summary>
    public static bool IsAlive(int? pid)
    {
        if (pid is null || !File.Exists($"/proc/{pid}/stat"))
        {
            return false;
        }

        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
        return state != "Z" && state != "X";
    }

    /// <summary>Resident memory of a process in MiB (VmRSS), or -1.</summary>
    public static long RssMiB(int? pid)
    {
        if (pid is null || !File.Exists($"/proc/{pid}/status"))
        {
            return -1;
        }

        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return line is null ? -1 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
    }

    /// <summary>A connection to the suite's Redis (for the generation marker); the caller disposes it.</summary>
    public async Task<ConnectionMultiplexer> ConnectRedisAsync()
    {
        var options = ConfigurationOptions.Parse($"127.0.0.1:{RedisPort}");
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 1000;
        options.SyncTimeout = 1000;
        options.AsyncTimeout = 1000;
        return await ConnectionMultiplexer.ConnectAsync(options);
    }

    public async Task CreateTenantAsync(string tenantId)
    {
        using var response = await ControlPlane.PostAsJsonAsync("/tenants", new { tenant_id = tenantId, name = "Faults " + tenantId, environment = "production" });
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST /tenants {tenantId} -> {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    public async Task<JsonObject> GetEntitlementAsync(string tenantId) =>
        await ControlPlane.GetFromJsonAsync<JsonObject>($"/tenants/{tenantId}/entitlements?environment=production")
        ?? throw new InvalidOperationException("empty entitlement body");

    /// <summary>Posts a webhook body signed now with the stack's secret; returns the status (0: no answer: refused, reset or timed out).</summary>
    public async Task<(int Status, string Body)> PostWebhookAsync(byte[] body, string? signature = null, CancellationToken ct = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/billing/webhook") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("Stripe-Signature", signature ?? WebhookSignature.CreateHeader(body, WebhookSecret, DateTimeOffset.UtcNow));
        try
        {
            using var response = await Webhooks.SendAsync(request, ct);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(ct));
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return (0, e.Message);
        }
    }

    /// <summary>A bearer token for a tenant role, signed like <c>mint-token</c> (HS256 with ED_TOKEN_SIGNING_KEY), valid one hour.</summary>
    public string MintToken(string tenantId, string role) => DevTokens.Mint(TokenSigningKey, "faults", tenantId, role, DateTimeOffset.UtcNow, TimeSpan.FromHours(1));

    /// <summary>A control of the fake Stripe API (<c>/_fake/...</c>), JSON in and out; throws on a non-2xx answer.</summary>
    public async Task<JsonNode?> FakeAsync(HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        using var response = await FakeStripe.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{method} {path} -> {(int)response.StatusCode} {text}");
        }

        return text.Length == 0 ? null : JsonNode.Parse(text);
    }

    /// <summary>A Stripe API call to the fake with the stack's key (e.g. GET /v1/subscriptions/sub_...).</summary>
    public async Task<JsonObject> StripeGetAsync(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", StripeApiKey);
        using var response = await FakeStripe.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"GET {path} -> {(int)response.StatusCode} {text}");
        }

        return JsonNode.Parse(text)!.AsObject();
    }

    public async ValueTask DisposeAsync()
    {
        ControlPlane.Dispose();
        Webhooks.Dispose();
        FakeStripe.Dispose();
        Channel.Dispose();
        await Db.DisposeAsync();
    }

    // A timed-out command reads as exit -1 with a message naming it, for the callers' own failure reports.
    private static async Task<(int Exit, string Output)> RunProcessAsync(string file, string[] args, TimeSpan timeout)
    {
        try
        {
            var run = await TestProcess.RunAsync(file, args, timeout);
            return (run.ExitCode, run.Output.Trim());
        }
        catch (TimeoutException ex)
        {
            return (-1, ex.Message);
        }
    }

    private static string Required(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{name} is not set: run the fault suite through tests/faults/run.sh.");
}
