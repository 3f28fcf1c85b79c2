using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>One entry of the usage event stream: its stream id and its fields (null when the entry was deleted or trimmed
/// while it was pending; such an entry only needs an XACK).</summary>
public sealed record UsageStreamEntry(string Id, IReadOnlyDictionary<string, string>? Fields);

/// <summary>
/// Consumer-group reads of the usage event stream (<c>ed:usage-events</c>, format in README-usage-stream.md) for the control
/// plane's ledger writer. StackExchange.Redis 1.2.6 has no Streams API: every command goes through
/// <see cref="IDatabaseAsync.ExecuteAsync(string, object[])"/> (never BLOCK: the multiplexer's connection is shared; the
/// caller polls). Delivery is at-least-once: the caller acknowledges only after its own commit, so a crash between commit
/// and XACK redelivers entries that the ledger then ignores (idempotent on the event id and the stream id).
/// Single stream key: fine on one Redis; Redis Cluster would need one stream per slot.
/// </summary>
public sealed class UsageStreamConsumer(IConnectionMultiplexer redis, string stream = RedisKeys.UsageEvents, string group = RedisKeys.LedgerGroup)
{
    // XTRIM up to the oldest entry still pending in the group (or, with nothing pending, to the last entry delivered to it):
    // every entry before that was acknowledged. KEYS[1] stream; ARGV[1] group. Returns the number of entries removed.
    private const string TrimScript = """
        local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
        local minid = nil
        if tonumber(pending[1]) > 0 then
          minid = pending[2]
        else
          local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
          for _, g in ipairs(groups) do
            local name, last = nil, nil
            for i = 1, #g, 2 do
              if g[i] == 'name' then name = g[i + 1] end
              if g[i] == 'last-delivered-id' then last = g[i + 1] end
            end
            if name == ARGV[1] then minid = last end
          end
        end
        if not minid or minid == '0-0' then
          return 0
        end
        return redis.call('XTRIM', KEYS[1], 'MINID', minid)
        """;

    public string Stream => stream;

    public string Group => group;

    /// <summary>XGROUP CREATE stream group 0 MKSTREAM; an existing group is left as it is.</summary>
    public async Task EnsureGroupAsync()
    {
        try
        {
            await redis.GetDatabase().ExecuteAsync("XGROUP", "CREATE", stream, group, "0", "MKSTREAM").ConfigureAwait(false);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
        {
            // exists
        }
    }

    /// <summary>
    /// XREADGROUP GROUP group consumer COUNT count STREAMS stream id: with <paramref name="pendingOfThisConsumer"/> the entries
    /// already delivered to <paramref name="consumer"/> and not acknowledged (id 0: what a crashed run of this consumer left),
    /// else new entries (id &gt;). Empty when there is nothing.
    /// </summary>
    public async Task<IReadOnlyList<UsageStreamEntry>> ReadAsync(string consumer, int count, bool pendingOfThisConsumer)
    {
        var result = await redis.GetDatabase().ExecuteAsync(
            "XREADGROUP", "GROUP", group, consumer, "COUNT", count, "STREAMS", stream, pendingOfThisConsumer ? "0" : ">").ConfigureAwait(false);
        if (result.IsNull)
        {
            return [];
        }

        var streams = (RedisResult[])result!;
        if (streams.Length == 0)
        {
            return [];
        }

        var perStream = (RedisResult[])streams[0]!;
        return ParseEntries((RedisResult[])perStream[1]!);
    }

    /// <summary>
    /// XAUTOCLAIM stream group consumer minIdle 0-0 COUNT count: takes over entries another consumer received and did not
    /// acknowledge within <paramref name="minIdle"/> (it crashed). Entries deleted meanwhile come back with null fields (Redis 6.2)
    /// or are dropped from the pending list by Redis itself (7.0).
    /// </summary>
    public async Task<IReadOnlyList<UsageStreamEntry>> ClaimStaleAsync(string consumer, TimeSpan minIdle, int count)
    {
        var result = await redis.GetDatabase().ExecuteAsync(
            "XAUTOCLAIM", stream, group, consumer, (long)minIdle.TotalMilliseconds, "0-0", "COUNT", count).ConfigureAwait(false);
        var parts = (RedisResult[])result!;
        return ParseEntries((RedisResult[])parts[1]!);
    }

    /// <summary>XACK stream group ids...; returns how many were pending.</summary>
    public async Task<long> AckAsync(IReadOnlyCollection<string> ids)
    {
        if (ids.Count == 0)
        {
            return 0;
        }

        var args = new List<object>(ids.Count + 2) { stream, group };
        args.AddRange(ids);
        return (long)await redis.GetDatabase().ExecuteAsync("XACK", args.ToArray()).ConfigureAwait(false);
    }

    /// <summary>Removes the entries the group has acknowledged (XTRIM MINID, see the script); returns how many.</summary>
    public async Task<long> TrimAcknowledgedAsync()
    {
        var result = await redis.GetDatabase().ScriptEvaluateAsync(TrimScript, [stream], [group]).ConfigureAwait(false);
        return (long)result;
    }

    /// <summary>XPENDING stream group: the number of entries delivered and not yet acknowledged.</summary>
    public async Task<long> PendingCountAsync()
    {
        var result = (RedisResult[])(await redis.GetDatabase().ExecuteAsync("XPENDING", stream, group).ConfigureAwait(false))!;
        return (long)result[0];
    }

    private static List<UsageStreamEntry> ParseEntries(RedisResult[] entries)
    {
        var list = new List<UsageStreamEntry>(entries.Length);
        foreach (var raw in entries)
        {
            if (raw.IsNull)
            {
                continue;
            }

            var entry = (RedisResult[])raw!;
            var id = (string)entry[0]!;
            if (entry.Length < 2 || entry[1].IsNull)
            {
                list.Add(new UsageStreamEntry(id, null));
                continue;
            }

            var pairs = (RedisResult[])entry[1]!;
            var fields = new Dictionary<string, string>(pairs.Length / 2, StringComparer.Ordinal);
            for (var i = 0; i + 1 < pairs.Length; i += 2)
            {
                fields[(string)pairs[i]!] = (string?)pairs[i + 1] ?? "";
            }

            list.Add(new UsageStreamEntry(id, fields));
        }

        return list;
    }
}
