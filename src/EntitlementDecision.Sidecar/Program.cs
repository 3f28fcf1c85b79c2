using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Grpc;
using EntitlementDecision.Redis;
using EntitlementDecision.Sidecar;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using StackExchange.Redis;

// StackExchange.Redis 1.2.6 times out under thread-pool starvation: give the pool room before the first burst.
ThreadPool.GetMinThreads(out var workers, out var io);
ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(io, 64));

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

var redisConfiguration = ConfigurationOptions.Parse(options.Redis);
redisConfiguration.AbortOnConnectFail = false;
var redis = await ConnectionMultiplexer.ConnectAsync(redisConfiguration);
redis.PreserveAsyncOrder = false;

builder.Services.AddSingleton(options);
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<IConnectionMultiplexer>(redis);
builder.Services.AddSingleton<RedisSnapshotStore>();
builder.Services.AddSingleton<RedisInvalidationSubscriber>();
builder.Services.AddSingleton(sp => new SnapshotCache(sp.GetRequiredService<RedisSnapshotStore>(), options, sp.GetRequiredService<TimeProvider>()));
builder.Services.AddSingleton<IUsageCounter, RedisUsageCounter>();
builder.Services.AddSingleton(sp => new EntitlementDecisionService(
    sp.GetRequiredService<SnapshotCache>(), sp.GetRequiredService<IUsageCounter>(), options, sp.GetRequiredService<TimeProvider>()));
builder.Services.AddGrpcProtocol();

var app = builder.Build();
var cache = app.Services.GetRequiredService<SnapshotCache>();
await app.Services.GetRequiredService<RedisInvalidationSubscriber>().SubscribeAsync(s => cache.Apply(s), cache.MarkAllStale);

EntitlementDecisionService.Map(
    app.MapGrpcService(EntitlementDecisionReflection.Descriptor.Services[0]),
    app.Services.GetRequiredService<EntitlementDecisionService>());
app.MapGrpcHealthService();

app.Lifetime.ApplicationStarted.Register(() => Console.WriteLine($"sidecar: gRPC on {options.Url} (h2c), Redis {redisConfiguration.EndPoints.FirstOrDefault()}"));
await app.RunAsync();
return 0;
