using System.Diagnostics.Metrics;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Engine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Time.Testing;

namespace EntitlementDecision.Sidecar.Tests;

/// <summary>The admin port's options, /readyz's rule and the decision metrics.</summary>
public sealed class SidecarTelemetryTests
{
    private readonly DictionarySource _source = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 6, 15, 12, 0, 0, TimeSpan.Zero));
    private readonly string _tenant = "tenant-" + Guid.NewGuid().ToString("n")[..8];

    private static SidecarOptions Read(params (string Name, string Value)[] variables)
    {
        var env = variables.Append(("ED_REDIS", "r:1")).ToDictionary(v => v.Item1, v => v.Item2);
        return SidecarOptions.FromEnvironment(name => env.GetValueOrDefault(name));
    }

    [Fact]
    public void AdminUrl_DefaultsToTheGrpcPortPlus1000_OffTurnsItOff()
    {
        Assert.Equal("http://127.0.0.1:51051", Read().AdminUrl);
        Assert.Equal("http://127.0.0.1:51151", Read(("ED_SIDECAR_URL", "http://127.0.0.1:50151")).AdminUrl);
        Assert.Equal("http://0.0.0.0:9090", Read(("ED_SIDECAR_ADMIN_URL", "http://0.0.0.0:9090")).AdminUrl);
        Assert.Null(Read(("ED_SIDECAR_ADMIN_URL", "off")).AdminUrl);
    }

    [Theory]
    [InlineData("ED_SIDECAR_ADMIN_URL", "http://127.0.0.1:50051")] // the gRPC port itself
    [InlineData("ED_SIDECAR_ADMIN_URL", "ftp://x:1")]
    [InlineData("ED_SIDECAR_TRACE_REQUESTS", "yes")]
    public void BadValue_FailsNamingTheVariable(string name, string value) =>
        Assert.Contains(name, Assert.Throws<InvalidOperationException>(() => Read((name, value))).Message, StringComparison.Ordinal);

    [Fact]
    public async Task Readiness_LiveHealthy_DownWithSnapshotsDegradedUntilTheStalenessBound_ThenUnhealthy()
    {
        var health = new InvalidationHealth();
        var cache = new SnapshotCache(_source, new SidecarOptions(), _time);
        var readiness = new SidecarReadiness(health, cache);
        health.SetLive(false);
        Assert.Equal(HealthStatus.Unhealthy, (await readiness.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status); // nothing to answer from

        health.SetLive(true);
        Assert.Equal(HealthStatus.Healthy, (await readiness.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);

        _source.Put(TestData.Snapshot(_tenant, 3));
        await cache.GetAsync(new TenantKey("production", _tenant), TestContext.Current.CancellationToken);
        health.SetLive(false);
        cache.SetLive(false);
        _time.Advance(TimeSpan.FromMinutes(5));
        var degraded = await readiness.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken);
        Assert.Equal(HealthStatus.Degraded, degraded.Status); // answers by its fallback policy: still ready (200)
        Assert.Equal(TimeSpan.FromMinutes(5), cache.MaxUnconfirmedAge());

        _time.Advance(SidecarReadiness.FallbackWindow);
        Assert.Equal(HealthStatus.Unhealthy, (await readiness.CheckHealthAsync(new HealthCheckContext(), TestContext.Current.CancellationToken)).Status);
    }

    [Fact]
    public async Task Decisions_CountedByReasonFeatureAndLookup()
    {
        using var provider = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = provider.GetRequiredService<IMeterFactory>();
        var health = new InvalidationHealth();
        var cache = new SnapshotCache(_source, new SidecarOptions(), _time);
        using var metrics = new SidecarMetrics(meters, cache, health);
        using var decisions = new MetricCollector<long>(meters, SidecarMetrics.Name, "ed.sidecar.decisions");
        using var lookups = new MetricCollector<long>(meters, SidecarMetrics.Name, "ed.sidecar.snapshot.lookups");
        var options = new SidecarOptions();
        var service = new ServiceUnderTest(cache, new FakeUsageCounter(), options, _time, metrics);
        _source.Put(TestData.Snapshot(_tenant, 3));
        var context = new TestServerCallContext(TestContext.Current.CancellationToken);

        await service.CheckEntitlementAsync(new CheckEntitlementRequest { TenantId = _tenant, FeatureKey = "projects" }, context); // loaded: miss
        await service.CheckEntitlementAsync(new CheckEntitlementRequest { TenantId = _tenant, FeatureKey = "projects" }, context); // in memory: hit
        await service.CheckEntitlementAsync(new CheckEntitlementRequest { TenantId = _tenant, FeatureKey = "white_label" }, context);

        var all = decisions.GetMeasurementSnapshot();
        Assert.Equal(3, all.Count);
        Assert.Equal(2, all.Count(m => (string?)m.Tags["feature"] == "projects" && (string?)m.Tags["reason"] == "GRANTED" && (string?)m.Tags["allowed"] == "true"));
        Assert.Single(all, m => (string?)m.Tags["feature"] == "white_label" && (string?)m.Tags["reason"] == "NOT_IN_PLAN" && (string?)m.Tags["allowed"] == "false");
        Assert.All(all, m => Assert.Equal("false", m.Tags["fallback"]));
        Assert.Equal(["miss", "hit", "hit"], lookups.GetMeasurementSnapshot().Select(m => (string?)m.Tags["result"]));
    }
}

/// <summary>ED_SIDECAR_URL=unix:/path: a Unix domain socket, its stale file reclaimed, a live one refused.</summary>
public sealed class UnixSocketOptionsTests
{
    [Fact]
    public void UnixUrl_Taken_AdminOnTheDefaultLoopbackPort()
    {
        var env = new Dictionary<string, string> { ["ED_REDIS"] = "r:1", ["ED_SIDECAR_URL"] = "unix:/var/run/ed/sidecar.sock" };
        var options = SidecarOptions.FromEnvironment(n => env.GetValueOrDefault(n));

        Assert.Equal(("unix:/var/run/ed/sidecar.sock", "http://127.0.0.1:51051"), (options.Url, options.AdminUrl));
    }

    [Theory]
    [InlineData("unix:")]
    [InlineData("tcp://127.0.0.1:1")]
    public void BadUrl_FailsNamingTheVariable(string url)
    {
        var env = new Dictionary<string, string> { ["ED_REDIS"] = "r:1", ["ED_SIDECAR_URL"] = url };
        Assert.Contains("ED_SIDECAR_URL", Assert.Throws<InvalidOperationException>(() => SidecarOptions.FromEnvironment(n => env.GetValueOrDefault(n))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StaleSocketFile_Removed_LiveSocket_Refused()
    {
        var path = Path.Combine(Path.GetTempPath(), $"ed-sidecar-{Guid.NewGuid():n}.sock");
        using (var stale = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified))
        {
            stale.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(path)); // bound, never listening: what a killed process leaves
        }

        UnixSocketPath.ClaimOrThrow(path);
        Assert.False(File.Exists(path));

        using var live = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        live.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        live.Listen();
        try
        {
            Assert.Contains("another process", Assert.Throws<InvalidOperationException>(() => UnixSocketPath.ClaimOrThrow(path)).Message, StringComparison.Ordinal);
            Assert.True(File.Exists(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}

/// <summary>The trace id a decision-log record carries when inbound spans are off: the caller's traceparent header.</summary>
public sealed class DecisionTraceIdTests
{
    [Fact]
    public void TraceParentHeader_GivesTheTraceId_MalformedOrAbsentGivesNone()
    {
        var context = new TestServerCallContext(TestContext.Current.CancellationToken);
        Assert.Null(DecisionService.TraceIdOf(context));

        context.RequestHeaders.Add("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", DecisionService.TraceIdOf(context));

        var malformed = new TestServerCallContext(TestContext.Current.CancellationToken);
        malformed.RequestHeaders.Add("traceparent", "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        Assert.Null(DecisionService.TraceIdOf(malformed));
    }
}
