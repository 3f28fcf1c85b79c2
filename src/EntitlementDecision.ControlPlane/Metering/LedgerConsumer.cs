using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.Redis;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>
/// The ledger writer's loop (hosted service; off with ED_USAGE_LEDGER_CONSUMER=off). Each <see cref="PumpAsync"/>, for every
/// shard's stream <c>ed:usage-events:{tag}</c> in turn (first the unsharded stream of earlier versions while it exists): creates the
/// group <c>ledger</c> (MKSTREAM, from id 0) and deletes the retired overage streams once, then takes (1) what this consumer left pending (a crash between commit and XACK),
/// (2) entries pending longer than ED_USAGE_CLAIM_IDLE_SECONDS at other consumers (XAUTOCLAIM), (3) new entries, each batch written
/// by <see cref="LedgerWriter"/> in one transaction and acknowledged only after the commit; then trims the acknowledged entries. Polls every <see cref="PollInterval"/> when idle (no BLOCK: the Redis connection is shared); on errors
/// backs off exponentially up to 30 s and retries (nothing is acknowledged that was not committed).
/// </summary>
internal sealed partial class LedgerConsumer(
    IServiceScopeFactory scopes,
    RedisConnection redis,
    LedgerWriter writer,
    MeteringOptions options,
    RollupSignal rollups,
    TimeProvider time,
    ILogger<LedgerConsumer> logger) : Background.BackgroundLoop(logger)
{
    protected override TimeProvider Time => time;

    protected override TimeSpan? InitialDelay => options.ConsumerEnabled ? TimeSpan.Zero : null;

    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);
    private bool _groupsReady;

    protected override async Task<TimeSpan?> PassAsync(CancellationToken stoppingToken) =>
        await PumpAsync(stoppingToken) == 0 ? PollInterval : TimeSpan.Zero;

    /// <summary>Drains what is available now in every shard (own pending, stale claims, new entries); returns the number of entries handled.</summary>
    public async Task<int> PumpAsync(CancellationToken ct)
    {
        var connection = await redis.GetAsync();
        var shards = UsageStreamConsumer.ForAllShards(connection);
        if (!_groupsReady)
        {
            await Task.WhenAll(shards.Select(s => s.EnsureGroupAsync()));
            await DeleteRetiredOverageStreamsAsync(connection);
            _groupsReady = true;
        }

        try
        {
            // An upgrade from the unsharded keyspace: its older entries first, then delete the stream (in one script, once empty).
            var total = 0;
            var legacy = UsageStreamConsumer.Legacy(connection);
            if (await legacy.ExistsAsync())
            {
                await legacy.EnsureGroupAsync();
                total += await DrainAllAsync(legacy, ct);
                await legacy.DeleteIfDrainedAsync();
            }

            foreach (var shard in shards)
            {
                total += await DrainAllAsync(shard, ct);
            }

            return total;
        }
        catch (StackExchange.Redis.RedisServerException e) when (e.Message.StartsWith("NOGROUP", StringComparison.Ordinal))
        {
            // Redis lost its data (the healer refills it): create the groups again on the next pass instead of failing until restart.
            _groupsReady = false;
            throw;
        }
    }

    // Earlier versions copied each soft-limit overage to ed:usage-overages:{tag}, unbounded and read by nothing; the ledger has every
    // overage from the events stream, so an upgrade drops those streams (UNLINK: freed off the main thread; one key per call for a cluster).
    private async Task DeleteRetiredOverageStreamsAsync(StackExchange.Redis.IConnectionMultiplexer connection)
    {
        var db = connection.GetDatabase();
        var deleted = await Task.WhenAll(UsageStreamKeys.Default.AllRetiredOverages.Select(k => db.ExecuteAsync("UNLINK", (StackExchange.Redis.RedisKey)k)));
        if (deleted.Sum(d => (long)d) is var count and > 0)
        {
            LogRetired(logger, count);
        }
    }

    private async Task<int> DrainAllAsync(UsageStreamConsumer stream, CancellationToken ct)
    {
        var total = 0;
        total += await DrainAsync(stream, () => stream.ReadAsync(options.ConsumerName, options.BatchSize, pendingOfThisConsumer: true), ct);
        total += await DrainAsync(stream, () => stream.ClaimStaleAsync(options.ConsumerName, options.ClaimIdle, options.BatchSize), ct);
        total += await DrainAsync(stream, () => stream.ReadAsync(options.ConsumerName, options.BatchSize, pendingOfThisConsumer: false), ct);
        if (total > 0)
        {
            await stream.TrimAcknowledgedAsync();
            rollups.Notify();
        }

        return total;
    }

    private async Task<int> DrainAsync(UsageStreamConsumer stream, Func<Task<IReadOnlyList<UsageStreamEntry>>> read, CancellationToken ct)
    {
        var total = 0;
        while (!ct.IsCancellationRequested)
        {
            var entries = await read();
            if (entries.Count == 0)
            {
                break;
            }

            await using (var scope = scopes.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<MeteringDbContext>();
                var result = await writer.WriteAsync(db, entries, options.LateWindow, ct);
                LogBatch(logger, entries.Count, result.LedgerRows, result.AlreadyReceived);
            }

            await stream.AckAsync(entries.Select(e => e.Id).ToList());
            total += entries.Count;
            if (entries.Count < options.BatchSize)
            {
                break;
            }
        }

        return total;
    }

    [LoggerMessage(EventId = 4102, Level = LogLevel.Information, Message = "Deleted {Count} retired ed:usage-overages streams (overages are read from the usage events stream)")]
    private static partial void LogRetired(ILogger logger, long count);

    [LoggerMessage(EventId = 4101, Level = LogLevel.Debug, Message = "Usage ledger batch: {Entries} entries, {Rows} ledger rows, {Redelivered} already received")]
    private static partial void LogBatch(ILogger logger, int entries, int rows, int redelivered);
}
