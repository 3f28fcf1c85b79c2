using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;
using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>
/// Usage counters per (environment, tenant, feature, window) with dedupe by event id, limit modes, coverage and the usage event
/// stream, all in ONE Lua script per event (one round trip, all or nothing). Stream format: README-usage-stream.md.
/// Counters expire <see cref="CounterRetention"/> after their window ends; event ids are remembered for <see cref="DedupeRetention"/>.
/// Every key the script touches is of the tenant's shard (<see cref="RedisKeys.ShardOf"/>): one hash slot, so it runs on a Redis
/// Cluster as on a single Redis.
/// </summary>
public sealed class RedisUsageCounter(IConnectionMultiplexer redis, UsageStreamKeys? keys = null) : IUsageCounter
{
    /// <summary>How long a counter outlives its window (for late reads and the ledger check): as long as a usage event may be back-dated.</summary>
    public static readonly TimeSpan CounterRetention = UsageEventValidation.MaxAge;

    /// <summary>The shortest counter lifetime set, so a counter is never given an expiry in the past (it would vanish and limit nothing).</summary>
    public static readonly TimeSpan MinCounterTtl = TimeSpan.FromHours(1);

    /// <summary>How long an event id is remembered: the idempotency horizon.</summary>
    public static readonly TimeSpan DedupeRetention = TimeSpan.FromDays(40);

    // KEYS: [1] counter, [2] dedupe marker, [3] events stream, [4] overages stream, [5] coverage hash, [6] generation marker.
    // ARGV: [1] quantity, [2] limit (-1 unlimited), [3] limit_mode (hard|soft|report_only), [4] counter ttl (s, > 0),
    //       [5] dedupe ttl (s), [6] tenant_id, [7] environment, [8] event_id, [9] feature, [10] unit, [11] service,
    //       [12] occurred_at_ms, [13] window, [14] request_id, [15] trace_id, [16] source_digest, [17] origin.
    // Returns { outcome (0 accepted, 1 duplicate, 2 limit_exceeded, 3 rejected_undeclared), used_after, overage, undeclared (0|1), entry id }.
    // All or nothing: every check that can fail (key types, counter value, overflow) runs before the first write; the first write is
    // also where Redis refuses a script when out of memory, and later writes in the same script are not refused.
    internal const string RecordScript = """
        if redis.call('EXISTS', KEYS[6]) == 0 then
          return redis.error_reply('ED_REBUILDING usage counters are being rebuilt after Redis lost its data; nothing was recorded')
        end
        local function wrong_type(key, want)
          local t = redis.call('TYPE', key)['ok']
          if t ~= 'none' and t ~= want then
            return 'ED_USAGE ' .. key .. ' holds a ' .. t .. ', not a ' .. want .. '; nothing was recorded'
          end
          return nil
        end
        local problem = wrong_type(KEYS[3], 'stream') or wrong_type(KEYS[4], 'stream') or wrong_type(KEYS[5], 'hash') or wrong_type(KEYS[1], 'string')
        if problem then return redis.error_reply(problem) end
        local used = 0
        local raw = redis.call('GET', KEYS[1])
        if raw then
          used = tonumber(raw)
          if used == nil or used ~= math.floor(used) or used < 0 then
            return redis.error_reply('ED_USAGE counter ' .. KEYS[1] .. ' holds ' .. raw .. ', not a count; nothing was recorded')
          end
        end
        local quantity = tonumber(ARGV[1])
        local limit = tonumber(ARGV[2])
        local mode = ARGV[3]
        local undeclared = '0'
        if redis.call('HEXISTS', KEYS[5], ARGV[11] .. '|' .. ARGV[9]) == 0 then undeclared = '1' end
        local outcome = 0
        local overage = 0
        if redis.call('EXISTS', KEYS[2]) == 1 then
          outcome = 1
        elseif undeclared == '1' and redis.call('HGET', KEYS[5], '__mode') == 'reject' then
          outcome = 3
        elseif limit >= 0 and used + quantity > limit then
          if mode == 'hard' then
            outcome = 2
          elseif mode == 'soft' then
            overage = used + quantity - math.max(limit, used)
          end
        end
        if outcome == 0 and used + quantity > 9007199254740991 then
          return redis.error_reply('ED_USAGE counter ' .. KEYS[1] .. ' would pass 2^53; nothing was recorded')
        end
        local t = redis.call('TIME')
        local received = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
        if outcome == 0 then
          used = redis.call('INCRBY', KEYS[1], ARGV[1])
          redis.call('EXPIRE', KEYS[1], ARGV[4])
          redis.call('SET', KEYS[2], '1', 'EX', ARGV[5])
        end
        local names = { 'accepted', 'duplicate', 'limit_exceeded', 'rejected_undeclared' }
        local fields = {
          'v', '1', 'outcome', names[outcome + 1], 'tenant_id', ARGV[6], 'environment', ARGV[7], 'event_id', ARGV[8],
          'feature', ARGV[9], 'quantity', ARGV[1], 'unit', ARGV[10], 'service', ARGV[11], 'occurred_at_ms', ARGV[12],
          'received_at_ms', received, 'window', ARGV[13], 'limit', ARGV[2], 'limit_mode', mode,
          'used_after', string.format('%d', used), 'overage', string.format('%d', overage), 'undeclared', undeclared,
          'request_id', ARGV[14], 'trace_id', ARGV[15], 'source_digest', ARGV[16], 'origin', ARGV[17] }
        local id = redis.call('XADD', KEYS[3], '*', unpack(fields))
        if overage > 0 then
          redis.call('XADD', KEYS[4], '*', unpack(fields))
        end
        return { outcome, used, overage, tonumber(undeclared), id }
        """;

    private readonly UsageStreamKeys _keys = keys ?? UsageStreamKeys.Default;

    /// <summary>The stream field value of a limit mode: hard, soft or report_only.</summary>
    public static string LimitModeName(LimitMode mode) => mode switch
    {
        LimitMode.Soft => "soft",
        LimitMode.ReportOnly => "report_only",
        _ => "hard",
    };

    /// <summary>
    /// Seconds the window's counter lives from <paramref name="receivedAt"/>: until <see cref="CounterRetention"/> after the window ends,
    /// at least <see cref="MinCounterTtl"/>. Relative to the caller's clock, so a test clock or a skewed Redis clock cannot expire it early.
    /// </summary>
    internal static long CounterTtlSeconds(QuotaWindow window, DateTimeOffset receivedAt) =>
        (long)Math.Ceiling(Math.Max((window.End + CounterRetention - receivedAt).TotalSeconds, MinCounterTtl.TotalSeconds));

    /// <summary>The counter and the generation marker in one MGET: without the marker the counter may have restarted at zero.</summary>
    public async ValueTask<long> GetUsedAsync(string tenantId, string environment, string featureKey, QuotaWindow window, CancellationToken cancellationToken)
    {
        RedisValue[] values;
        try
        {
            values = await redis.GetDatabase().StringGetAsync(
                [RedisKeys.UsageCounter(environment, tenantId, featureKey, window.Key), _keys.Generation(RedisKeys.ShardOf(environment, tenantId))]).ConfigureAwait(false);
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

    public async ValueTask<UsageRecordOutcome> RecordAsync(UsageRecordCommand command, CancellationToken cancellationToken)
    {
        var e = command.Event;
        var occurredAt = e.Timestamp ?? throw new ArgumentException("the usage event must be normalized (timestamp set)", nameof(command));
        var shard = RedisKeys.ShardOf(e.Environment, e.TenantId);
        RedisResult[] result;
        try
        {
            result = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(
                RecordScript,
                [
                    RedisKeys.UsageCounter(e.Environment, e.TenantId, e.FeatureKey, command.Window.Key),
                    RedisKeys.UsageEvent(e.Environment, e.TenantId, e.EventId),
                    _keys.Events(shard),
                    _keys.Overages(shard),
                    _keys.Coverage(shard),
                    _keys.Generation(shard),
                ],
                [
                    e.Quantity,
                    command.Limit,
                    LimitModeName(command.LimitMode),
                    CounterTtlSeconds(command.Window, command.ReceivedAt),
                    (long)DedupeRetention.TotalSeconds,
                    e.TenantId,
                    e.Environment,
                    e.EventId,
                    e.FeatureKey,
                    command.Unit,
                    e.Service,
                    occurredAt.ToUnixTimeMilliseconds(),
                    command.Window.Key,
                    e.RequestId,
                    e.TraceId,
                    e.SourceDigest,
                    command.Origin == UsageOrigin.Http ? "http" : "grpc",
                ]).ConfigureAwait(false))!;
        }
        catch (RedisServerException ex) when (ex.Message.Contains("ED_REBUILDING", StringComparison.Ordinal))
        {
            throw new StoreUnavailableException(RebuildingMessage, ex, StoreKind.UsageRebuilding);
        }
        catch (RedisServerException ex) when (ex.Message.Contains("ED_USAGE", StringComparison.Ordinal))
        {
            throw new StoreUnavailableException($"the usage script refused the event: {ex.Message}", ex, StoreKind.Usage);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            throw new StoreUnavailableException("Redis did not answer the usage record script", ex, StoreKind.Usage);
        }

        var outcome = (int)result[0] switch
        {
            0 => UsageOutcome.Accepted,
            1 => UsageOutcome.Duplicate,
            2 => UsageOutcome.LimitExceeded,
            _ => UsageOutcome.RejectedUndeclared,
        };
        return new UsageRecordOutcome(outcome, (long)result[1], (long)result[2], (int)result[3] == 1, UsageStreamConsumer.LedgerId(shard, (string?)result[4] ?? ""));
    }
}
