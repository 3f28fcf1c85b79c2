using System.Diagnostics;
using System.Text.Json;
using EntitlementDecision.ControlPlane.Background;
using EntitlementDecision.ControlPlane.Metering;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.Redis;
using StackExchange.Redis;

namespace EntitlementDecision.ControlPlane.Healing;

/// <summary>
/// Notices that Redis lost its data and refills it from PostgreSQL without an operator. Each shard of the keyspace holds a generation
/// marker (<see cref="MarkerKeys"/>) that only this healer writes, after a complete heal; every <see cref="CheckInterval"/> (and at
/// start) a missing marker means a flush, a restart without persistence or a failover to an empty replica (on a Redis Cluster: of
/// the node holding that shard). The heal:
/// every tenant's snapshot republished (versions stay monotonic: Redis keeps the higher), usage counters and dedupe
/// markers rebuilt from the ledger, coverage declarations rewritten; then the marker, with counts and duration, a warning in the
/// log and an audit entry <c>redis.healed</c> (tenant <c>_system</c>). A failed heal leaves the marker unset, so the next pass
/// tries again; until the marker is back, usage is refused and metered checks answer by their degradation policy.
/// </summary>
internal sealed partial class RedisHealer(
    Microsoft.Extensions.Options.IOptions<Configuration.ControlPlaneOptions> options,
    RedisConnection redis,
    OutboxPublisher outbox,
    CoveragePublisher coverage,
    IServiceScopeFactory scopes,
    TimeProvider time,
    ILogger<RedisHealer> logger) : BackgroundLoop(logger)
{
    /// <summary>The generation markers, one per shard: JSON <c>{ healed_at, snapshots, counters, dedupe_markers, duration_ms }</c> of the
    /// last heal. While a shard's is missing the usage script refuses its events and counter reads say "rebuilding" (see
    /// <see cref="UsageStreamKeys.Generation"/>).</summary>
    public static readonly IReadOnlyList<string> MarkerKeys = UsageStreamKeys.Default.AllGenerations;

    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(2);

    protected override TimeProvider Time => time;

    protected override TimeSpan? InitialDelay => options.Value.RedisHeal ? TimeSpan.Zero : null;

    protected override async Task<TimeSpan?> PassAsync(CancellationToken ct)
    {
        var db = (await redis.GetAsync()).GetDatabase();
        var present = await Task.WhenAll(MarkerKeys.Select(key => db.KeyExistsAsync(key))).WaitAsync(OutboxPublisher.RedisCallTimeout, time, ct);
        if (present.Contains(false))
        {
            await HealAsync(ct);
        }

        return CheckInterval;
    }

    /// <summary>One complete heal; returns what it wrote. Throws (marker unset) when any step fails.</summary>
    internal async Task<HealReport> HealAsync(CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var connection = await redis.GetAsync();
        var snapshots = await outbox.PublishAllAsync(ct);
        int counters, markers;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var metering = scope.ServiceProvider.GetRequiredService<MeteringDbContext>();
            (counters, markers) = await CounterRebuild.RebuildAsync(metering, new UsageCounterAdmin(connection), time.GetUtcNow(), null, ct);
        }

        await coverage.PublishAsync();
        var report = new HealReport(time.GetUtcNow(), snapshots, counters, markers, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        var json = JsonSerializer.Serialize(report, JsonOptions);
        await Task.WhenAll(MarkerKeys.Select(key => connection.GetDatabase().StringSetAsync(key, json)));
        LogHealed(logger, report.Snapshots, report.Counters, report.DedupeMarkers, report.DurationMs);
        await using (var scope = scopes.CreateAsyncScope())
        {
            // The ops event, after the marker: usage flows again even if PostgreSQL refuses this row (the log line stands).
            var db = scope.ServiceProvider.GetRequiredService<Data.EntitlementsDbContext>();
            Audit.AuditLog.Add(db, Audit.AuditLog.SystemTenant, null, report.HealedAt, "system:redis-healer", "redis.healed", null, report,
                "redis: generation marker missing (data lost, or first start)");
            await db.SaveChangesAsync(ct);
        }

        return report;
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "Redis had no generation marker (data lost or first start): republished {Snapshots} snapshots, rebuilt {Counters} usage counters and {Markers} dedupe markers from the ledger, rewrote coverage, in {DurationMs} ms")]
    private static partial void LogHealed(ILogger logger, int snapshots, int counters, int markers, long durationMs);
}

/// <summary>What one heal wrote back into Redis, and how long it took (ms).</summary>
internal sealed record HealReport(DateTimeOffset HealedAt, int Snapshots, int Counters, int DedupeMarkers, long DurationMs);
