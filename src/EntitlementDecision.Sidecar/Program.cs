using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Redis;
using EntitlementDecision.Sidecar;
using EntitlementDecision.Sidecar.DecisionLog;
using EntitlementDecision.Telemetry;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using StackExchange.Redis;

SidecarOptions options;
DecisionLogOptions decisionLog;
try
{
    options = SidecarOptions.FromEnvironment(Environment.GetEnvironmentVariable);
    decisionLog = DecisionLogOptions.FromEnvironment(Environment.GetEnvironmentVariable);
    if (new Uri(options.Url) is { Scheme: "unix" } socket)
    {
        UnixSocketPath.ClaimOrThrow(socket.AbsolutePath);
    }
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine($"sidecar: {e.Message}");
    return 2;
}

var builder = WebApplication.CreateSlimBuilder(HostArgs.WithoutConfigReload(args));
var url = new Uri(options.Url);
var adminUrl = options.AdminUrl is { } admin ? new Uri(admin) : null;
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    // gRPC over cleartext HTTP/2 needs prior knowledge: Http1AndHttp2 on cleartext would serve HTTP/1.1 only.
    if (url.Scheme == "unix")
    {
        kestrel.ListenUnixSocket(url.AbsolutePath, listen => listen.Protocols = HttpProtocols.Http2);
    }
    else
    {
        kestrel.Listen(System.Net.IPAddress.Parse(url.Host == "localhost" ? "127.0.0.1" : url.Host), url.Port, listen => listen.Protocols = HttpProtocols.Http2);
    }

    if (adminUrl is not null)
    {
        kestrel.Listen(System.Net.IPAddress.Parse(adminUrl.Host == "localhost" ? "127.0.0.1" : adminUrl.Host), adminUrl.Port, listen => listen.Protocols = HttpProtocols.Http1);
    }
});
builder.AddEntitlementTelemetry(new TelemetrySettings("entitlement-sidecar", [SidecarMetrics.Name], [SidecarMetrics.Name]) { AspNetCore = options.TraceRequests });
builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
// With this category enabled at any level, ASP.NET Core starts an Activity per request for log scopes: ~1 us of the hot path.
builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
builder.Logging.AddFilter("Grpc", LogLevel.Warning);

var redisConfiguration = ConfigurationOptions.Parse(options.Redis);
redisConfiguration.AbortOnConnectFail = false;
// While Redis is unreachable, fail commands at once (UNAVAILABLE, or the degradation policy) instead of queueing them until the caller's deadline.
redisConfiguration.BacklogPolicy = BacklogPolicy.FailFast;
var redis = await ConnectionMultiplexer.ConnectAsync(redisConfiguration);

builder.Services.AddSingleton(options);
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<IConnectionMultiplexer>(redis);
builder.Services.AddSingleton(sp => new RedisSnapshotStore(sp.GetRequiredService<IConnectionMultiplexer>(), UsageStreamKeys.Default));
builder.Services.AddSingleton<RedisInvalidationSubscriber>();
builder.Services.AddSingleton(sp => new SnapshotCache(sp.GetRequiredService<RedisSnapshotStore>(), options, sp.GetRequiredService<TimeProvider>()));
builder.Services.AddSingleton<ISnapshotReader>(sp => sp.GetRequiredService<SnapshotCache>());
builder.Services.AddSingleton<IUsageCounter, RedisUsageCounter>();
builder.Services.AddSingleton<DecisionService>();
builder.Services.AddDecisionLog(decisionLog);
builder.Services.AddSidecarGrpc(options.ResponseCompression);
builder.Services.AddSingleton<SidecarMetrics>();
builder.Services.AddSingleton<SidecarReadiness>();
SidecarReadiness.Register(builder.Services.AddHealthChecks());

var app = builder.Build();
var cache = app.Services.GetRequiredService<SnapshotCache>();
var health = app.Services.GetRequiredService<InvalidationHealth>();
var metrics = app.Services.GetRequiredService<SidecarMetrics>();
var clock = app.Services.GetRequiredService<TimeProvider>();
await app.Services.GetRequiredService<RedisInvalidationSubscriber>().SubscribeAsync((s, traceParent) =>
{
    // One span per applied invalidation, in the trace of the control-plane change that published it.
    using var span = SidecarMetrics.Source.StartActivity("invalidation apply", System.Diagnostics.ActivityKind.Consumer, TelemetrySetup.ParentFrom(traceParent));
    span?.SetTag("ed.tenant_id", s.TenantId).SetTag("ed.environment", s.Environment).SetTag("ed.snapshot_version", s.Version);
    var applied = cache.Apply(s);
    span?.SetTag("ed.applied", applied);
    metrics.InvalidationApplied(s.GeneratedAt, clock.GetUtcNow());
}, cache.MarkAllStale, live =>
{
    cache.SetLive(live);
    health.SetLive(live);
});

// The admin port answers probes and the scrape only; the gRPC port never sees them (gRPC-only), nor the admin port gRPC.
if (adminUrl is not null)
{
    app.MapWhen(c => c.Connection.LocalPort == adminUrl.Port, adminApp =>
    {
        adminApp.UseLivezReadyz();
        adminApp.UseOpenTelemetryPrometheusScrapingEndpoint();
        adminApp.Run(c =>
        {
            c.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
    });
}

app.MapSidecarGrpc<DecisionService>();

app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine(
    $"sidecar: gRPC on {options.Url} (h2c), admin {(adminUrl is null ? "off" : adminUrl.ToString().TrimEnd('/'))} (/livez /readyz /metrics), Redis {redisConfiguration.EndPoints.FirstOrDefault()}"));
await app.RunAsync();
return 0;
