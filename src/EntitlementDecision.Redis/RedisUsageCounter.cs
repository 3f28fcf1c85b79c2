using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;
using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>
/// Usage counters per (environment, tenant, feature, window) with dedupe by event id, limit modes, coverage and the usage event
/// stream, all in ONE Lua script call per shard and batch of concurrent events (each event all or nothing). Stream format:
/// README-usage-stream.md.
/// Counters expire <see cref="CounterRetention"/> after their window ends; event ids are remembered for <see cref="DedupeRetention"/>.
/// Every key the script touches is of the tenant's shard (<see cref="RedisKeys.ShardOf"/>): one hash slot, so it runs on a Redis
/// Cluster as on a single Redis.
/// </summary>
public sealed class RedisUsageCounter(IConnectionMultiplexer redis, UsageStreamKeys? keys = null) : IUsageCounter
{
    /// <summary><see cref="UsageCounting.CounterRetention"/>: how long a counter outlives its window.</summary>
    public static readonly TimeSpan CounterRetention = UsageCounting.CounterRetention;

    /// <summary><see cref="UsageCounting.MinCounterTtl"/>: the shortest counter lifetime set.</summary>
    public static readonly TimeSpan MinCounterTtl = UsageCounting.MinCounterTtl;

    /// <summary><see cref="UsageCounting.DedupeRetention"/>: how long an event id is remembered.</summary>
    public static readonly TimeSpan DedupeRetention = UsageCounting.DedupeRetention;

    // One call records a batch of events of ONE shard (every key in its hash slot), in arrival order, as if one by one.
    // KEYS: [1] events stream, [2] coverage hash, [3] generation marker; then per event i = 0..n-1:
    //       [4 + 2i] counter, [5 + 2i] dedupe marker.
    // ARGV: per event i, from a = 17i: [a+1] quantity, [a+2] limit (-1 unlimited), [a+3] limit_mode (hard|soft|report_only),
    //       [a+4] counter ttl (s, > 0), [a+5] dedupe ttl (s), [a+6] tenant_id, [a+7] environment, [a+8] event_id, [a+9] feature,
    //       [a+10] unit, [a+11] service, [a+12] occurred_at_ms, [a+13] window, [a+14] request_id, [a+15] trace_id,
    //       [a+16] source_digest, [a+17] origin.
    // The decision is UsageCounting.Decide's, made here because it must be atomic with the counter's read and write (the contract
    // tests, UsageCounterContract, prove the two agree); the mode name, lifetimes and MaxCount come from UsageCounting.
    // Returns 5 values per event: { outcome (0 accepted, 1 duplicate, 2 limit_exceeded, 3 rejected_undeclared, -1 refused),
    //   used_after, overage, undeclared (0|1), entry id or, when refused, the reason }.
    // A shared-key problem (no generation marker, a stream or the coverage of the wrong type) refuses the whole batch before any
    // write. Each event is all or nothing: its checks (counter type and value, overflow) run before its first write; a refused
    // event writes nothing and the next one goes on. Out of memory is refused at the batch's first write, so nothing is written.
    internal const string RecordScript = """
        if redis.call('EXISTS', KEYS[3]) == 0 then
          return redis.error_reply('ED_REBUILDING usage counters are being rebuilt after Redis lost its data; nothing was recorded')
        end
        local function wrong_type(key, want)
          local t = redis.call('TYPE', key)['ok']
          if t ~= 'none' and t ~= want then
            return 'ED_USAGE ' .. key .. ' holds a ' .. t .. ', not a ' .. want .. '; nothing was recorded'
          end
          return nil
        end
        local problem = wrong_type(KEYS[1], 'stream') or wrong_type(KEYS[2], 'hash')
        if problem then return redis.error_reply(problem) end
        local reject = redis.call('HGET', KEYS[2], '__mode') == 'reject'
        local declared = {}
        local t = redis.call('TIME')
        local received = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
        local names = { 'accepted', 'duplicate', 'limit_exceeded', 'rejected_undeclared' }
        local out = {}
        for i = 0, (#KEYS - 3) / 2 - 1 do
          local counter, marker, a = KEYS[4 + 2 * i], KEYS[5 + 2 * i], 17 * i
          local refused = wrong_type(counter, 'string')
          local used = 0
          if not refused then
            local raw = redis.call('GET', counter)
            if raw then
              used = tonumber(raw)
              if used == nil or used ~= math.floor(used) or used < 0 then
                refused = 'ED_USAGE counter ' .. counter .. ' holds ' .. raw .. ', not a count; nothing was recorded'
              end
            end
          end
          if refused then
            out[#out + 1] = -1; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = refused
          else
            local quantity = tonumber(ARGV[a + 1])
            local limit = tonumber(ARGV[a + 2])
            local mode = ARGV[a + 3]
            local pair = ARGV[a + 11] .. '|' .. ARGV[a + 9]
            local undeclared = declared[pair]
            if undeclared == nil then
              undeclared = redis.call('HEXISTS', KEYS[2], pair) == 0 and '1' or '0'
              declared[pair] = undeclared
            end
            local outcome = 0
            local overage = 0
            if redis.call('EXISTS', marker) == 1 then
              outcome = 1
            elseif undeclared == '1' and reject then
              outcome = 3
            elseif limit >= 0 and used + quantity > limit then
              if mode == 'hard' then
                outcome = 2
              elseif mode == 'soft' then
                overage = used + quantity - math.max(limit, used)
              end
            end
            if outcome == 0 and used + quantity > 9007199254740991 then -- UsageCounting.MaxCount
              out[#out + 1] = -1; out[#out + 1] = 0; out[#out + 1] = 0; out[#out + 1] = 0
              out[#out + 1] = 'ED_USAGE counter ' .. counter .. ' would pass 2^53; nothing was recorded'
            else
              if outcome == 0 then
                used = redis.call('INCRBY', counter, ARGV[a + 1])
                redis.call('EXPIRE', counter, ARGV[a + 4])
                redis.call('SET', marker, '1', 'EX', ARGV[a + 5])
              end
              local fields = {
                'v', '1', 'outcome', names[outcome + 1], 'tenant_id', ARGV[a + 6], 'environment', ARGV[a + 7], 'event_id', ARGV[a + 8],
                'feature', ARGV[a + 9], 'quantity', ARGV[a + 1], 'unit', ARGV[a + 10], 'service', ARGV[a + 11], 'occurred_at_ms', ARGV[a + 12],
                'received_at_ms', received, 'window', ARGV[a + 13], 'limit', ARGV[a + 2], 'limit_mode', mode,
                'used_after', string.format('%d', used), 'overage', string.format('%d', overage), 'undeclared', undeclared,
                'request_id', ARGV[a + 14], 'trace_id', ARGV[a + 15], 'source_digest', ARGV[a + 16], 'origin', ARGV[a + 17] }
              local id = redis.call('XADD', KEYS[1], '*', unpack(fields))
              out[#out + 1] = outcome; out[#out + 1] = used; out[#out + 1] = overage; out[#out + 1] = tonumber(undeclared); out[#out + 1] = id
            end
          end
        end
        return out
        """;

    /// <summary>The most events one script call records (more wait for the next call of their shard).</summary>
    internal const int MaxBatch = 64;

    private readonly UsageStreamKeys _keys = keys ?? UsageStreamKeys.Default;

    /// <summary>The stream field value of a limit mode (<see cref="UsageCounting.LimitModeName"/>).</summary>
    public static string LimitModeName(LimitMode mode) => UsageCounting.LimitModeName(mode);

    /// <summary><see cref="UsageCounting.CounterLifetime"/> in whole seconds (rounded up), as EXPIRE takes it.</summary>
    internal static long CounterTtlSeconds(QuotaWindow window, DateTimeOffset receivedAt) =>
        (long)Math.Ceiling(UsageCounting.CounterLifetime(window, receivedAt).TotalSeconds);

    /// <summary>The counter and the generation marker in one MGET: without the marker the counter may have restarted at zero.</summary>
    public async ValueTask<long> GetUsedAsync(TenantKey tenant, string featureKey, QuotaWindow window, CancellationToken cancellationToken)
    {
        RedisValue[] values;
        try
        {
            values = await redis.GetDatabase().StringGetAsync(
                [RedisKeys.UsageCounter(tenant, featureKey, window.Key), _keys.Generation(RedisKeys.ShardOf(tenant))]).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw new StoreUnavailableException("Redis did not answer the usage counter read", e, StoreKind.Usage);
        }

        if (values[1].IsNull)
        {
            throw new StoreUnavailableException(RebuildingMessage, null, StoreKind.UsageRebuilding);
        }

        return values[0].IsNull ? 0 : (long)values[0];
    }

    private const string RebuildingMessage = "usage counters are being rebuilt after Redis lost its data (no generation marker)";

    /// <summary>
    /// Queues <paramref name="command"/> on its shard; calls that arrive while the shard's script call is in flight go together in
    /// the next one (up to <see cref="MaxBatch"/>), so under load one round trip and one script run serve many events, and a lone
    /// call goes at once. The outcome is the event's own, as if recorded alone.
    /// </summary>
    public ValueTask<UsageRecordOutcome> RecordAsync(UsageRecordCommand command, CancellationToken cancellationToken)
    {
        if (command.Event.Timestamp is null)
        {
            throw new ArgumentException("the usage event must be normalized (timestamp set)", nameof(command));
        }

        var shard = RedisKeys.ShardOf(new TenantKey(command.Event.Environment, command.Event.TenantId));
        var pending = new PendingRecord(command);
        var queue = LazyInitializer.EnsureInitialized(ref _queues[shard]);
        queue.Items.Enqueue(pending);
        if (Interlocked.CompareExchange(ref queue.Flushing, 1, 0) == 0)
        {
            _ = FlushAsync(shard, queue);
        }

        return new ValueTask<UsageRecordOutcome>(pending.Outcome.Task);
    }

    /// <summary>Script calls made so far (each records a batch of one or more events); for tests of the batching.</summary>
    internal long ScriptCalls => Interlocked.Read(ref _scriptCalls);

    private long _scriptCalls;

    // Made on a shard's first event: the control plane builds a counter per ingestion request, most touching one or two shards.
    private readonly ShardQueue?[] _queues = new ShardQueue?[RedisKeys.Shards];

    private sealed class ShardQueue
    {
        public readonly System.Collections.Concurrent.ConcurrentQueue<PendingRecord> Items = new();

        // 1 while a flush loop owns this shard's script calls.
        public int Flushing;
    }

    private sealed class PendingRecord(UsageRecordCommand command)
    {
        public UsageRecordCommand Command { get; } = command;

        public TaskCompletionSource<UsageRecordOutcome> Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    // One loop per busy shard: takes what is queued, one script call at a time, until the queue is empty.
    private async Task FlushAsync(int shard, ShardQueue queue)
    {
        var batch = new List<PendingRecord>(MaxBatch);
        while (true)
        {
            while (batch.Count < MaxBatch && queue.Items.TryDequeue(out var next))
            {
                batch.Add(next);
            }

            if (batch.Count == 0)
            {
                Volatile.Write(ref queue.Flushing, 0);
                // An item queued after the last TryDequeue but before the flag dropped would otherwise wait for the next call.
                if (queue.Items.IsEmpty || Interlocked.CompareExchange(ref queue.Flushing, 1, 0) != 0)
                {
                    return;
                }

                continue;
            }

            try
            {
                await RecordBatchAsync(shard, batch).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // A bug, not Redis (RecordBatchAsync turns Redis failures into outcomes): the callers see it; the loop goes on.
                foreach (var item in batch)
                {
                    item.Outcome.TrySetException(e);
                }
            }

            batch.Clear();
        }
    }

    // Runs the script for batch (one shard) and completes every item: its outcome, or the exception it would have seen alone.
    private async Task RecordBatchAsync(int shard, List<PendingRecord> batch)
    {
        var keys = new RedisKey[3 + 2 * batch.Count];
        keys[0] = _keys.Events(shard);
        keys[1] = _keys.Coverage(shard);
        keys[2] = _keys.Generation(shard);
        var args = new RedisValue[17 * batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            var command = batch[i].Command;
            var e = command.Event;
            var tenant = new TenantKey(e.Environment, e.TenantId);
            keys[3 + 2 * i] = RedisKeys.UsageCounter(tenant, e.FeatureKey, command.Window.Key);
            keys[4 + 2 * i] = RedisKeys.UsageEvent(tenant, e.EventId);
            var a = 17 * i;
            args[a] = e.Quantity;
            args[a + 1] = command.Limit;
            args[a + 2] = LimitModeName(command.LimitMode);
            args[a + 3] = CounterTtlSeconds(command.Window, command.ReceivedAt);
            args[a + 4] = (long)DedupeRetention.TotalSeconds;
            args[a + 5] = e.TenantId;
            args[a + 6] = e.Environment;
            args[a + 7] = e.EventId;
            args[a + 8] = e.FeatureKey;
            args[a + 9] = command.Unit;
            args[a + 10] = e.Service;
            args[a + 11] = e.Timestamp!.Value.ToUnixTimeMilliseconds();
            args[a + 12] = command.Window.Key;
            args[a + 13] = e.RequestId;
            args[a + 14] = e.TraceId;
            args[a + 15] = e.SourceDigest;
            args[a + 16] = command.Origin == UsageOrigin.Http ? "http" : "grpc";
        }

        RedisResult[] result;
        Interlocked.Increment(ref _scriptCalls);
        try
        {
            result = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(RecordScript, keys, args).ConfigureAwait(false))!;
        }
        catch (Exception ex)
        {
            var failure = ex switch
            {
                RedisServerException when ex.Message.Contains("ED_REBUILDING", StringComparison.Ordinal) =>
                    new StoreUnavailableException(RebuildingMessage, ex, StoreKind.UsageRebuilding),
                RedisServerException when ex.Message.Contains("ED_USAGE", StringComparison.Ordinal) =>
                    new StoreUnavailableException($"the usage script refused the event: {ex.Message}", ex, StoreKind.Usage),
                RedisException or TimeoutException => new StoreUnavailableException("Redis did not answer the usage record script", ex, StoreKind.Usage),
                _ => ex,
            };
            foreach (var item in batch)
            {
                item.Outcome.TrySetException(failure);
            }

            return;
        }

        for (var i = 0; i < batch.Count; i++)
        {
            var r = 5 * i;
            var code = (int)result[r];
            if (code < 0)
            {
                batch[i].Outcome.TrySetException(new StoreUnavailableException($"the usage script refused the event: {(string?)result[r + 4]}", null, StoreKind.Usage));
                continue;
            }

            var outcome = code switch
            {
                0 => UsageOutcome.Accepted,
                1 => UsageOutcome.Duplicate,
                2 => UsageOutcome.LimitExceeded,
                _ => UsageOutcome.RejectedUndeclared,
            };
            batch[i].Outcome.TrySetResult(new UsageRecordOutcome(
                outcome, (long)result[r + 1], (long)result[r + 2], (int)result[r + 3] == 1, UsageStreamConsumer.LedgerId(shard, (string?)result[r + 4] ?? "")));
        }
    }
}
