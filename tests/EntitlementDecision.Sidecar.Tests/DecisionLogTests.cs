using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Sidecar.DecisionLog;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace EntitlementDecision.Sidecar.Tests;

/// <summary>
/// The decision log: the spool's JSON lines, sampling (denials and fallbacks always kept), the queue-full policies (drop counted,
/// block lossless), write failures retried, rotation, the environment, the metrics, and decisions made by the real DecisionService.
/// Every test has its own spool directory; the writer is drained by stopping it (StoppedAsync), never by sleeping.
/// </summary>
public sealed class DecisionLogTests : IDisposable
{
    private static readonly DateTimeOffset At = new(2026, 6, 15, 12, 0, 0, 123, TimeSpan.Zero);
    private readonly string _root = Path.Combine(Path.GetTempPath(), $"ed-decision-log-{Guid.NewGuid():N}");
    private readonly FakeTimeProvider _time = new(At);
    private readonly IMeterFactory _meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
    private readonly List<DecisionLogWriter> _writers = [];

    private string Spool => Path.Combine(_root, "spool");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        foreach (var writer in _writers)
        {
            writer.Dispose();
        }

        (_meters as IDisposable)?.Dispose();
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    private DecisionLogOptions Options(double sample = 1, DecisionLogFullMode whenFull = DecisionLogFullMode.Drop, int capacity = 1024) => new()
    {
        Directory = Spool,
        SampleAllowed = sample,
        WhenFull = whenFull,
        Capacity = capacity,
        FlushInterval = TimeSpan.Zero,
        RetryInterval = TimeSpan.FromMilliseconds(20),
    };

    private DecisionLogWriter Writer(DecisionLogOptions options, TimeProvider? time = null, Func<double>? random = null)
    {
        var writer = new DecisionLogWriter(options, _meters, NullLogger<DecisionLogWriter>.Instance, time ?? _time, random);
        _writers.Add(writer);
        return writer;
    }

    private static DecisionRecord Denied(long version = 7, string feature = "sso") =>
        new(At, "t-1", "production", feature, false, "SUBSCRIPTION_INACTIVE", version, false, null, null);

    private static DecisionRecord Granted(long version = 7, bool fallback = false) =>
        new(At, "t-1", "production", "projects", true, "GRANTED", version, fallback, fallback ? "SNAPSHOT_UNCONFIRMED" : null, null);

    private static Task StopAsync(DecisionLogWriter writer) => writer.StoppedAsync(Ct);

    /// <summary>Every line of the spool, rotated files first (oldest first), then decisions.jsonl.</summary>
    private List<JsonElement> Lines()
    {
        var files = Directory.GetFiles(Spool, "decisions-*.jsonl").Order(StringComparer.Ordinal).ToList();
        var current = Path.Combine(Spool, DecisionLogWriter.CurrentFileName);
        if (File.Exists(current))
        {
            files.Add(current);
        }

        return [.. files.SelectMany(File.ReadAllLines).Select(l => JsonDocument.Parse(l).RootElement.Clone())];
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10, Ct);
        }

        Assert.True(condition());
    }

    [Fact]
    public async Task Decisions_OneJsonObjectPerLine_WithEveryField_OptionalOnesOnlyWhenSet()
    {
        var writer = Writer(Options());
        await writer.StartAsync(Ct);

        await writer.RecordAsync(Granted(), Ct);
        await writer.RecordAsync(new DecisionRecord(At.AddMilliseconds(1), "t-2", "staging", "api_calls", false, "FALLBACK_DENIED", 9, true,
            "USAGE_UNAVAILABLE", "4bf92f3577b34da6a3ce929d0e0e4736"), Ct);
        await StopAsync(writer);

        var text = File.ReadAllText(Path.Combine(Spool, "decisions.jsonl"));
        Assert.Equal(
            """{"time":"2026-06-15T12:00:00.123Z","tenant_id":"t-1","environment":"production","feature_key":"projects","allowed":true,"reason":"GRANTED","snapshot_version":7,"fallback":false}""" + "\n" +
            """{"time":"2026-06-15T12:00:00.124Z","tenant_id":"t-2","environment":"staging","feature_key":"api_calls","allowed":false,"reason":"FALLBACK_DENIED","snapshot_version":9,"fallback":true,"fallback_cause":"USAGE_UNAVAILABLE","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}""" + "\n",
            text);
        Assert.Equal((2L, 0L, 0L, 0L), (writer.Written, writer.SampledOut, writer.Dropped, writer.Queued));
    }

    [Fact]
    public async Task SampleZero_DenialsAndFallbacksKept_AllowedSampledOutAndCounted()
    {
        var writer = Writer(Options(sample: 0));
        await writer.StartAsync(Ct);

        for (var i = 0; i < 5; i++)
        {
            await writer.RecordAsync(Granted(i), Ct);
            await writer.RecordAsync(Denied(i), Ct);
        }

        await writer.RecordAsync(Granted(100, fallback: true), Ct);
        await StopAsync(writer);

        var lines = Lines();
        Assert.Equal((6L, 5L, 0L), (writer.Written, writer.SampledOut, writer.Dropped));
        Assert.Equal([0L, 1, 2, 3, 4, 100], lines.Select(l => l.GetProperty("snapshot_version").GetInt64()));
        Assert.All(lines, l => Assert.True(!l.GetProperty("allowed").GetBoolean() || l.GetProperty("fallback").GetBoolean()));
    }

    [Fact]
    public async Task SampleHalf_AllowedKeptWhenTheDrawIsBelowIt()
    {
        var draws = new Queue<double>([0.1, 0.9, 0.49, 0.5]);
        var writer = Writer(Options(sample: 0.5), random: draws.Dequeue);
        await writer.StartAsync(Ct);

        for (var i = 0; i < 4; i++)
        {
            await writer.RecordAsync(Granted(i), Ct);
        }

        await StopAsync(writer);

        Assert.Equal([0L, 2], Lines().Select(l => l.GetProperty("snapshot_version").GetInt64()));
        Assert.Equal((2L, 2L), (writer.Written, writer.SampledOut));
    }

    [Fact]
    public async Task DropMode_QueueFullWhileTheWriterIsPaused_EveryRecordAccountedFor()
    {
        // The writer is not started: nothing drains the queue of 4.
        var writer = Writer(Options(sample: 0, capacity: 4));

        for (var i = 0; i < 10; i++)
        {
            var record = writer.RecordAsync(Denied(i), Ct);
            Assert.True(record.IsCompletedSuccessfully);
        }

        for (var i = 0; i < 5; i++)
        {
            await writer.RecordAsync(Granted(i), Ct);
        }

        Assert.Equal((6L, 5L, 4L), (writer.Dropped, writer.SampledOut, writer.Queued));
        await StopAsync(writer);

        Assert.Equal([0L, 1, 2, 3], Lines().Select(l => l.GetProperty("snapshot_version").GetInt64()));
        Assert.Equal(15, writer.Written + writer.Dropped + writer.SampledOut);
        Assert.Equal(0, writer.Queued);
    }

    [Fact]
    public async Task BlockMode_QueueFull_CallerWaits_NothingLost()
    {
        var writer = Writer(Options(whenFull: DecisionLogFullMode.Block, capacity: 2));
        Assert.True(writer.RecordAsync(Denied(0), Ct).IsCompletedSuccessfully);
        Assert.True(writer.RecordAsync(Denied(1), Ct).IsCompletedSuccessfully);

        var waiting = writer.RecordAsync(Denied(2), Ct).AsTask();
        Assert.False(waiting.IsCompleted);

        await writer.StartAsync(Ct);
        await waiting.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        for (var i = 3; i < 500; i++)
        {
            await writer.RecordAsync(Denied(i), Ct);
        }

        await StopAsync(writer);

        Assert.Equal(Enumerable.Range(0, 500).Select(i => (long)i), Lines().Select(l => l.GetProperty("snapshot_version").GetInt64()));
        Assert.Equal((500L, 0L), (writer.Written, writer.Dropped));
    }

    [Fact]
    public async Task BlockMode_WaitCancelled_CountedAsDropped_NotThrown()
    {
        var writer = Writer(Options(whenFull: DecisionLogFullMode.Block, capacity: 1));
        await writer.RecordAsync(Denied(0), Ct);
        using var call = new CancellationTokenSource();

        var waiting = writer.RecordAsync(Denied(1), call.Token).AsTask();
        Assert.False(waiting.IsCompleted);
        await call.CancelAsync();
        await waiting;

        Assert.Equal((1L, 1L), (writer.Dropped, writer.Queued));
    }

    /// <summary>A started writer whose spool cannot be created (a regular file where its parent directory should be, until the
    /// returned path is deleted), holding five queued denials.</summary>
    private async Task<(DecisionLogWriter Writer, string Blocker)> UnwritableWithFiveRecordsAsync()
    {
        Directory.CreateDirectory(_root);
        var blocker = Path.Combine(_root, "blocked");
        File.WriteAllText(blocker, "");
        var options = Options();
        options.Directory = Path.Combine(blocker, "spool");
        var writer = Writer(options, TimeProvider.System);
        await writer.StartAsync(Ct);
        for (var i = 0; i < 5; i++)
        {
            await writer.RecordAsync(Denied(i), Ct);
        }

        return (writer, blocker);
    }

    [Fact]
    public async Task SpoolUnwritable_RecordsKeptAndRetried_WrittenOnceItIsBack()
    {
        var (writer, blocker) = await UnwritableWithFiveRecordsAsync();

        await WaitUntil(() => writer.WriteErrors >= 2);
        Assert.Equal((0L, 5L, 0L), (writer.Written, writer.Queued, writer.Dropped));

        File.Delete(blocker);
        await StopAsync(writer);

        var lines = File.ReadAllLines(Path.Combine(blocker, "spool", "decisions.jsonl"));
        Assert.Equal(5, lines.Length);
        Assert.Equal((5L, 0L), (writer.Written, writer.Dropped));
    }

    [Fact]
    public async Task ShutdownTimesOutWhileUnwritable_UnwrittenCountedAsDropped()
    {
        var (writer, _) = await UnwritableWithFiveRecordsAsync();

        await writer.StoppedAsync(new CancellationToken(canceled: true));

        Assert.Equal((0L, 5L, 0L), (writer.Written, writer.Dropped, writer.Queued));
        Assert.True(writer.RecordAsync(Denied(), Ct).IsCompletedSuccessfully);
        Assert.Equal(6, writer.Dropped);
    }

    [Fact]
    public async Task TinyMaxSize_RotatesEveryBatch_KeepsMaxFilesNewest_CountsTheDeleted()
    {
        var options = Options();
        options.MaxFileBytes = 1;
        options.MaxFiles = 3;
        options.MaxBatchRecords = 1;
        var writer = Writer(options);
        for (var i = 0; i < 10; i++)
        {
            await writer.RecordAsync(Denied(i), Ct);
        }

        await writer.StartAsync(Ct);
        await StopAsync(writer);

        // The clock stands still: rotated names still strictly increase, by a millisecond each.
        Assert.Equal(
            ["decisions-20260615T120000130.jsonl", "decisions-20260615T120000131.jsonl", "decisions-20260615T120000132.jsonl"],
            Directory.GetFiles(Spool).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal([7L, 8, 9], Lines().Select(l => l.GetProperty("snapshot_version").GetInt64()));
        Assert.Equal((10L, 7L), (writer.Written, writer.RotatedOut));
    }

    [Fact]
    public async Task RestartOnAnExistingSpool_Appends()
    {
        var first = Writer(Options());
        await first.StartAsync(Ct);
        await first.RecordAsync(Denied(1), Ct);
        await StopAsync(first);
        var second = Writer(Options());
        await second.StartAsync(Ct);
        await second.RecordAsync(Denied(2), Ct);
        await StopAsync(second);

        Assert.Equal([1L, 2], Lines().Select(l => l.GetProperty("snapshot_version").GetInt64()));
    }

    [Fact]
    public void Environment_Defaults_OffWhenUnset()
    {
        var off = DecisionLogOptions.FromEnvironment(_ => null);
        var on = DecisionLogOptions.FromEnvironment(name => name == "ED_SIDECAR_DECISION_LOG" ? "/var/spool/ed" : null);

        Assert.False(off.Enabled);
        Assert.Equal(("/var/spool/ed", 1.0, DecisionLogFullMode.Drop, 65536, 64L * 1024 * 1024, 8),
            (on.Directory, on.SampleAllowed, on.WhenFull, on.Capacity, on.MaxFileBytes, on.MaxFiles));
    }

    [Fact]
    public void Environment_EveryVariableTaken()
    {
        var env = new Dictionary<string, string>
        {
            ["ED_SIDECAR_DECISION_LOG"] = "spool",
            ["ED_SIDECAR_DECISION_LOG_SAMPLE"] = "0.25",
            ["ED_SIDECAR_DECISION_LOG_WHEN_FULL"] = "block",
            ["ED_SIDECAR_DECISION_LOG_BUFFER"] = "100",
            ["ED_SIDECAR_DECISION_LOG_MAX_FILE_MB"] = "2",
            ["ED_SIDECAR_DECISION_LOG_MAX_FILES"] = "3",
        };

        var o = DecisionLogOptions.FromEnvironment(env.GetValueOrDefault);

        Assert.Equal((0.25, DecisionLogFullMode.Block, 100, 2L * 1024 * 1024, 3), (o.SampleAllowed, o.WhenFull, o.Capacity, o.MaxFileBytes, o.MaxFiles));
    }

    [Theory]
    [InlineData("ED_SIDECAR_DECISION_LOG_SAMPLE", "1.5")]
    [InlineData("ED_SIDECAR_DECISION_LOG_SAMPLE", "half")]
    [InlineData("ED_SIDECAR_DECISION_LOG_WHEN_FULL", "wait")]
    [InlineData("ED_SIDECAR_DECISION_LOG_BUFFER", "0")]
    [InlineData("ED_SIDECAR_DECISION_LOG_BUFFER", "-5")]
    [InlineData("ED_SIDECAR_DECISION_LOG_MAX_FILE_MB", "1.5")]
    [InlineData("ED_SIDECAR_DECISION_LOG_MAX_FILES", "0")]
    public void Environment_BadValue_FailsNamingTheVariable(string name, string value)
    {
        var e = Assert.Throws<InvalidOperationException>(() => DecisionLogOptions.FromEnvironment(n => n == name ? value : n == "ED_SIDECAR_DECISION_LOG" ? "spool" : null));

        Assert.Contains(name, e.Message, StringComparison.Ordinal);
        Assert.Contains(value, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_RecordsByOutcomeAndQueue_OnTheSidecarMeter()
    {
        var writer = Writer(Options(sample: 0, capacity: 1));
        await writer.RecordAsync(Denied(1), Ct);
        await writer.RecordAsync(Denied(2), Ct);
        await writer.RecordAsync(Granted(), Ct);
        var seen = new List<(string Instrument, string? Outcome, long Value)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == DecisionLogWriter.MeterName && instrument.Meter.Scope == _meters)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var outcome = tags.ToArray().FirstOrDefault(t => t.Key == "outcome").Value as string;
            seen.Add((instrument.Name + "|" + instrument.Unit, outcome, value));
        });
        listener.Start();

        listener.RecordObservableInstruments();

        Assert.Contains(("ed.sidecar.decision_log.records|{record}", "written", 0L), seen);
        Assert.Contains(("ed.sidecar.decision_log.records|{record}", "sampled_out", 1L), seen);
        Assert.Contains(("ed.sidecar.decision_log.records|{record}", "dropped", 1L), seen);
        Assert.Contains(("ed.sidecar.decision_log.queue|{record}", null, 1L), seen);
    }

    [Fact]
    public async Task DecisionService_BatchItemsAndDegradedAnswersRecorded_FailedCallsNot()
    {
        var source = new DictionarySource();
        var usage = new FakeUsageCounter();
        var tenant = TestData.NewTenant();
        source.Put(TestData.Snapshot(tenant, 7));
        var writer = Writer(Options(sample: 0));
        var service = new DecisionService(new UncachedReader(source), usage, new SidecarOptions(), _time, writer);
        var batch = new CheckEntitlementsRequest();
        batch.Checks.Add(new CheckEntitlementRequest { TenantId = tenant, FeatureKey = "projects" });
        batch.Checks.Add(new CheckEntitlementRequest { TenantId = tenant, FeatureKey = "sso" });
        batch.Checks.Add(new CheckEntitlementRequest { TenantId = tenant, FeatureKey = "nope", Environment = "production" });

        await service.CheckEntitlements(batch, TestData.Context());
        usage.Unreachable = true;
        var degraded = await service.CheckEntitlement(new CheckEntitlementRequest { TenantId = tenant, FeatureKey = "searches", RequestedQuantity = 1 }, TestData.Context());
        await Assert.ThrowsAsync<RpcException>(() => service.CheckEntitlement(new CheckEntitlementRequest { TenantId = "", FeatureKey = "projects" }, TestData.Context()));
        await writer.StartAsync(Ct);
        await StopAsync(writer);

        Assert.True(degraded.Fallback);
        var lines = Lines();
        Assert.Equal(
            [("sso", false, "SUBSCRIPTION_INACTIVE", false, null), ("nope", false, "NOT_IN_PLAN", false, null), ("searches", true, "GRANTED", true, "USAGE_UNAVAILABLE")],
            lines.Select(l => (l.GetProperty("feature_key").GetString(), l.GetProperty("allowed").GetBoolean(), l.GetProperty("reason").GetString(),
                l.GetProperty("fallback").GetBoolean(), l.TryGetProperty("fallback_cause", out var c) ? c.GetString() : null)));
        Assert.All(lines, l => Assert.Equal((tenant, "production", 7L), (l.GetProperty("tenant_id").GetString(), l.GetProperty("environment").GetString(), l.GetProperty("snapshot_version").GetInt64())));
        Assert.Equal((3L, 1L, 0L), (writer.Written, writer.SampledOut, writer.Dropped));
    }

    [Fact]
    public async Task CheckEntitlementOverGrpc_DecisionInTheSpool_WithTheCallersTraceId()
    {
        const string TraceId = "0af7651916cd43dd8448eb211c80319c";
        using var activities = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(activities);
        var source = new DictionarySource();
        var tenant = TestData.NewTenant();
        source.Put(TestData.Snapshot(tenant, 42));
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddSingleton(new SidecarOptions());
        builder.Services.AddSingleton<TimeProvider>(_time);
        builder.Services.AddSingleton<ISnapshotReader>(new UncachedReader(source));
        builder.Services.AddSingleton<IUsageCounter>(new FakeUsageCounter());
        builder.Services.AddSingleton<DecisionService>();
        builder.Services.AddDecisionLog(Options());
        builder.Services.AddSidecarGrpc(null);
        await using var app = builder.Build();
        app.MapSidecarGrpc<DecisionService>();
        await app.StartAsync(Ct);
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();

        using (var channel = GrpcChannel.ForAddress(address))
        {
            var client = new EntitlementDecisionService.EntitlementDecisionServiceClient(channel);
            var response = await client.CheckEntitlementAsync(
                new CheckEntitlementRequest { TenantId = tenant, FeatureKey = "projects" },
                new Metadata { { "traceparent", $"00-{TraceId}-b7ad6b7169203331-01" } },
                cancellationToken: Ct);
            Assert.True(response.Allowed);
        }

        await app.StopAsync(Ct); // the writer drains after the server has finished its calls

        var line = Assert.Single(Lines());
        Assert.Equal(
            (tenant, "production", "projects", true, "GRANTED", 42L, false, TraceId, "2026-06-15T12:00:00.123Z"),
            (line.GetProperty("tenant_id").GetString(), line.GetProperty("environment").GetString(), line.GetProperty("feature_key").GetString(),
                line.GetProperty("allowed").GetBoolean(), line.GetProperty("reason").GetString(), line.GetProperty("snapshot_version").GetInt64(),
                line.GetProperty("fallback").GetBoolean(), line.GetProperty("trace_id").GetString(), line.GetProperty("time").GetString()));
        Assert.Equal(1, app.Services.GetRequiredService<DecisionLogWriter>().Written);
    }
}
