using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using StackExchange.Redis;

namespace EntitlementDecision.Redis.Tests;

/// <summary>
/// The Redis under test, from ED_REDIS (test.sh starts a private one and exports it). There is no default: a test run
/// must never talk to a Redis by accident. Tests use fresh tenant ids and never flush (other suites share this Redis).
/// </summary>
internal static class TestRedis
{
    private static readonly Lazy<ConnectionMultiplexer> Shared = new(() => Connect());

    public static string Configuration =>
        Environment.GetEnvironmentVariable("ED_REDIS") is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException("ED_REDIS must point to a Redis (e.g. ED_REDIS=127.0.0.1:56379); test.sh starts one and exports it.");

    public static IConnectionMultiplexer Connection => Shared.Value;

    /// <summary>A connection of its own (for subscribers, so that handlers do not outlive the test).</summary>
    public static ConnectionMultiplexer Connect()
    {
        var options = ConfigurationOptions.Parse(Configuration);
        options.AbortOnConnectFail = true;
        var redis = ConnectionMultiplexer.Connect(options);
        return redis;
    }

    public static string NewTenant() => $"t-{Guid.NewGuid():N}";

    public static Snapshot Snapshot(string tenantId, long version, string environment = "production", string planId = "pro") =>
        SnapshotBuilder.For(tenantId)
            .WithEnvironment(environment)
            .WithVersion(version)
            .WithPlan(planId)
            .WithGeneratedAt(new DateTimeOffset(2026, 11, 21, 12, 0, 0, TimeSpan.Zero).AddSeconds(version))
            .WithMetered("api_calls", 100, ResetPeriod.Month)
            .Build();

    /// <summary>Awaits <paramref name="task"/> at most <paramref name="seconds"/>; a TimeoutException names what was awaited.</summary>
    public static async Task<T> Within<T>(Task<T> task, string what, double seconds = 10)
    {
        try
        {
            return await task.WaitAsync(TimeSpan.FromSeconds(seconds));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{what} did not happen within {seconds} s");
        }
    }
}
