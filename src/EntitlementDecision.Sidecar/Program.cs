using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Redis;
using EntitlementDecision.Sidecar;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using StackExchange.Redis;

SidecarOptions options;
try
{
    options = SidecarOptions.FromEnvironment(Environment.GetEnvironmentVariable);
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine($"sidecar: {e.Message}");
    return 2;
}

var builder = WebApplication.CreateSlimBuilder(args);
var url = new Uri(options.Url);
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    // gRPC over cleartext HTTP/2 needs prior knowledge: Http1AndHttp2 on cleartext would serve HTTP/1.1 only.
    kestrel.Listen(System.Net.IPAddress.Parse(url.Host == "localhost" ? "127.0.0.1" : url.Host), url.Port, listen => listen.Protocols = HttpProtocols.Http2);
});
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
builder.Services.AddSingleton(sp => new RedisSnapshotStore(sp.GetRequiredService<IConnectionMultiplexer>(), UsageStreamKeys.Default.Generation));
builder.Services.AddSingleton<RedisInvalidationSubscriber>();
builder.Services.AddSingleton(sp => new SnapshotCache(sp.GetRequiredService<RedisSnapshotStore>(), options, sp.GetRequiredService<TimeProvider>()));
builder.Services.AddSingleton<ISnapshotReader>(sp => sp.GetRequiredService<SnapshotCache>());
builder.Services.AddSingleton<IUsageCounter, RedisUsageCounter>();
builder.Services.AddSingleton<DecisionService>();
builder.Services.AddSidecarGrpc(options.ResponseCompression);

var app = builder.Build();
var cache = app.Services.GetRequiredService<SnapshotCache>();
var health = app.Services.GetRequiredService<InvalidationHealth>();
await app.Services.GetRequiredService<RedisInvalidationSubscriber>().SubscribeAsync(s => cache.Apply(s), cache.MarkAllStale, live =>
{
    cache.SetLive(live);
    health.SetLive(live);
});

app.MapSidecarGrpc<DecisionService>();

app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine($"sidecar: gRPC on {options.Url} (h2c), Redis {redisConfiguration.EndPoints.FirstOrDefault()}"));
await app.RunAsync();
return 0;
