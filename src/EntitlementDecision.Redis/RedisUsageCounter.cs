using EntitlementDecision.Engine.Snapshots;
using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>
/// Usage counters per (environment, tenant, feature, window) with dedupe by event id, in one Lua script per record.
/// Counters expire <see cref="CounterRetention"/> after their window ends; event ids are remembered for <see cref="DedupeRetention"/>.
/// </summary>
public sealed class RedisUsageCounter(IConnectionMultiplexer redis) : IUsageCounter
{
    /// <summary>How long a counter outlives its window (for late reads and the ledger check).</summary>
    public static readonly TimeSpan CounterRetention = TimeSpan.FromDays(35);

    /// <summary>How long an event id is remembered: the idempotency horizon.</summary>
    public static readonly TimeSpan DedupeRetention = TimeSpan.FromDays(40);

    // KEYS[1] counter, KEYS[2] event marker; ARGV[1] quantity, ARGV[2] limit (-1 unlimited), ARGV[3] counter expiry (unix s), ARGV[4] dedupe ttl (s).
    // Returns { outcome, used }: outcome 0 counted, 1 duplicate, 2 limit exceeded.
    private const string RecordScript = """
        local used = tonumber(redis.call('GET', KEYS[1]) or '0')
        if redis.call('EXISTS', KEYS[2]) == 1 then
          return {1, used}
        end
        local quantity = tonumber(ARGV[1])
        local limit = tonumber(ARGV[2])
        if limit >= 0 and used + quantity > limit then
          return {2, used}
        end
        used = redis.call('INCRBY', KEYS[1], quantity)
        redis.call('EXPIREAT', KEYS[1], ARGV[3])
        redis.call('SET', KEYS[2], '1', 'EX', ARGV[4])
        return {0, used}
        """;

    public async ValueTask<long> GetUsedAsync(string tenantId, string environment, string featureKey, QuotaWindow window, CancellationToken cancellationToken)
    {
        RedisValue value;
        try
        {
            value = await redis.GetDatabase().StringGetAsync(RedisKeys.UsageCounter(environment, tenantId, featureKey, window.Key)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw new StoreUnavailableException("Redis did not answer the usage counter read", e);
        }

        return value.IsNull ? 0 : (long)value;
    }

    public async ValueTask<UsageRecordOutcome> RecordAsync(string tenantId, string environment, string featureKey, QuotaWindow window, long quantity, long limit, string eventId, CancellationToken cancellationToken)
    {
        RedisResult[] result;
        try
        {
            result = (RedisResult[])(await redis.GetDatabase().ScriptEvaluateAsync(
                RecordScript,
                [RedisKeys.UsageCounter(environment, tenantId, featureKey, window.Key), RedisKeys.UsageEvent(environment, tenantId, eventId)],
                [quantity, limit, (window.End + CounterRetention).ToUnixTimeSeconds(), (long)DedupeRetention.TotalSeconds]).ConfigureAwait(false))!;
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw new StoreUnavailableException("Redis did not answer the usage record script", e);
        }

        var outcome = (int)result[0];
        var used = (long)result[1];
        return outcome switch
        {
            0 => new UsageRecordOutcome(true, false, false, used),
            1 => new UsageRecordOutcome(true, true, false, used),
            _ => new UsageRecordOutcome(false, false, true, used),
        };
    }
}
