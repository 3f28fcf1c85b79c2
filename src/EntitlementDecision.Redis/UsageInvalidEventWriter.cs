using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Snapshots;
using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>
/// Appends a usage event that the control plane's HTTP batch ingestion rejected as invalid to the usage event stream, as an entry with
/// <c>outcome</c> = <c>invalid</c> (format: README-usage-stream.md), so that the ledger writer receipts it and the integrity report
/// counts it. Nothing is counted and no dedupe marker is written. The sidecar never writes such entries: its invalid calls are
/// INVALID_ARGUMENT answers.
/// </summary>
public sealed class UsageInvalidEventWriter(IConnectionMultiplexer redis, UsageStreamKeys? keys = null)
{
    /// <summary>Longest value kept per field; longer values are cut (the entry records what was sent, not an unbounded copy).</summary>
    public const int MaxFieldLength = 256;

    // KEYS[1] events stream; ARGV: field/value pairs (received_at_ms is added from Redis TIME, as the usage script does).
    private const string AppendScript = """
        local t = redis.call('TIME')
        local received = t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / 1000))
        return redis.call('XADD', KEYS[1], '*', 'received_at_ms', received, unpack(ARGV))
        """;

    private readonly UsageStreamKeys _keys = keys ?? UsageStreamKeys.Default;

    /// <summary>
    /// XADDs <c>v</c>=1, <c>outcome</c>=invalid, <c>origin</c>=http, <c>reason</c>, <c>field</c> (the schema field at fault) and the
    /// event's fields as the producer sent them (<paramref name="fields"/>: tenant_id, environment, event_id, feature, quantity, unit,
    /// service, timestamp, request_id, trace_id, source_digest; each cut to <see cref="MaxFieldLength"/> characters). Returns the entry id.
    /// Throws <see cref="StoreUnavailableException"/> when Redis cannot be reached or refuses the write (nothing was appended, or
    /// the reply was lost).
    /// </summary>
    public async Task<string> AppendAsync(string reason, string field, IReadOnlyDictionary<string, string> fields)
    {
        var args = new List<RedisValue> { "v", "1", "outcome", "invalid", "origin", "http", "reason", Cut(reason), "field", Cut(field) };
        foreach (var (name, value) in fields)
        {
            if (name is "v" or "outcome" or "origin" or "reason" or "field" or "received_at_ms")
            {
                continue;
            }

            args.Add(name);
            args.Add(Cut(value));
        }

        try
        {
            // The stream of the shard the event names (any strings: an invalid event may name no tenant).
            var shard = RedisKeys.ShardOf(new TenantKey(fields.GetValueOrDefault("environment", ""), fields.GetValueOrDefault("tenant_id", "")));
            var id = await redis.GetDatabase().ScriptEvaluateAsync(AppendScript, [_keys.Events(shard)], args.ToArray()).ConfigureAwait(false);
            return UsageStreamConsumer.LedgerId(shard, (string?)id ?? "");
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            throw new StoreUnavailableException("Redis did not append the invalid usage event to the stream", e, StoreKind.Usage);
        }
    }

    private static string Cut(string value) =>
        value.Length <= MaxFieldLength ? value : value[..MaxFieldLength];
}
