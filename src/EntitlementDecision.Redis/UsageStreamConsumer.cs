using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>One entry of a usage event stream: its ledger id (<see cref="UsageStreamConsumer.LedgerId"/>: "shard/stream id") and
/// its fields (null when the entry was deleted or trimmed while it was pending; such an entry only needs an XACK).</summary>
public sealed record UsageStreamEntry(string Id, IReadOnlyDictionary<string, string>? Fields);

/// <summary>
/// Consumer-group reads of one shard's usage event stream (<c>ed:usage-events:{tag}</c>, format in README-usage-stream.md) for
/// the control plane's ledger writer, on StackExchange.Redis's Streams API (XGROUP, XREADGROUP, XAUTOCLAIM, XACK, XPENDING, XTRIM
/// MINID; never BLOCK: the multiplexer's connection is shared, the caller polls). Delivery is at-least-once: the caller acknowledges
/// only after its own commit, so a crash between commit and XACK redelivers entries that the ledger then ignores (idempotent on the
/// event id and the ledger id). Stream ids are unique per stream only, so entries carry "shard/id" (<see cref="LedgerId"/>).
/// </summary>
public sealed class UsageStreamConsumer
{
    private readonly IConnectionMultiplexer _redis;
    private readonly string _stream;
    private readonly string _group;
    private readonly string _idPrefix;

    /// <summary>The consumer of shard <paramref name="shard"/>'s stream of <paramref name="keys"/> (default <see cref="UsageStreamKeys.Default"/>).</summary>
    public UsageStreamConsumer(IConnectionMultiplexer redis, int shard, UsageStreamKeys? keys = null, string group = RedisKeys.LedgerGroup)
        : this(redis, (keys ?? UsageStreamKeys.Default).Events(shard), group, $"{shard}/")
    {
    }

    private UsageStreamConsumer(IConnectionMultiplexer redis, string stream, string group, string idPrefix)
    {
        _redis = redis;
        _stream = stream;
        _group = group;
        _idPrefix = idPrefix;
    }

    /// <summary>One consumer per shard, shard 0 first.</summary>
    public static IReadOnlyList<UsageStreamConsumer> ForAllShards(IConnectionMultiplexer redis, UsageStreamKeys? keys = null, string group = RedisKeys.LedgerGroup) =>
        [.. Enumerable.Range(0, RedisKeys.Shards).Select(shard => new UsageStreamConsumer(redis, shard, keys, group))];

    /// <summary>The consumer of the unsharded stream <see cref="RedisKeys.LegacyUsageEvents"/> of earlier versions (entry ids unprefixed,
    /// as the ledger already holds them), so that an upgrade loses none of the entries left in it.</summary>
    public static UsageStreamConsumer Legacy(IConnectionMultiplexer redis) => new(redis, RedisKeys.LegacyUsageEvents, RedisKeys.LedgerGroup, "");

    /// <summary>The ledger's id of stream entry <paramref name="streamEntryId"/> of shard <paramref name="shard"/>: "shard/id" ("" stays "").</summary>
    public static string LedgerId(int shard, string streamEntryId) => streamEntryId.Length == 0 ? "" : $"{shard}/{streamEntryId}";

    public string Stream => _stream;

    public string Group => _group;

    /// <summary>XGROUP CREATE stream group 0 MKSTREAM; an existing group is left as it is.</summary>
    public async Task EnsureGroupAsync()
    {
        try
        {
            await _redis.GetDatabase().StreamCreateConsumerGroupAsync(_stream, _group, "0-0", createStream: true).ConfigureAwait(false);
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
        var entries = await _redis.GetDatabase().StreamReadGroupAsync(
            _stream, _group, consumer, pendingOfThisConsumer ? "0-0" : StreamPosition.NewMessages, count).ConfigureAwait(false);
        return ToEntries(entries);
    }

    /// <summary>
    /// XAUTOCLAIM stream group consumer minIdle 0-0 COUNT count: takes over entries another consumer received and did not
    /// acknowledge within <paramref name="minIdle"/> (it crashed). Entries deleted meanwhile come back as ids with null fields
    /// (Redis 7 drops them from the pending list itself; acknowledging them again is harmless).
    /// </summary>
    public async Task<IReadOnlyList<UsageStreamEntry>> ClaimStaleAsync(string consumer, TimeSpan minIdle, int count)
    {
        var result = await _redis.GetDatabase().StreamAutoClaimAsync(
            _stream, _group, consumer, (long)minIdle.TotalMilliseconds, "0-0", count).ConfigureAwait(false);
        var list = ToEntries(result.ClaimedEntries);
        foreach (var deleted in result.DeletedIds ?? [])
        {
            list.Add(new UsageStreamEntry(_idPrefix + deleted.ToString(), null));
        }

        return list;
    }

    /// <summary>XACK stream group ids... (the entries' <see cref="UsageStreamEntry.Id"/>s); returns how many were pending.</summary>
    public async Task<long> AckAsync(IReadOnlyCollection<string> ids)
    {
        if (ids.Count == 0)
        {
            return 0;
        }

        return await _redis.GetDatabase().StreamAcknowledgeAsync(_stream, _group, [.. ids.Select(id => (RedisValue)StreamIdOf(id))]).ConfigureAwait(false);
    }

    private string StreamIdOf(string id) =>
        id.StartsWith(_idPrefix, StringComparison.Ordinal) ? id[_idPrefix.Length..] : throw new ArgumentException($"'{id}' is not an entry of {_stream}", nameof(id));

    // Deletes the stream once the ledger group has taken every entry (its last-delivered id is the stream's last entry) and
    // acknowledged them all (nothing pending), in one script, so that no entry added meanwhile is lost.
    private const string DeleteIfDrainedScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
        for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
          local info = {}
          for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
          if info['name'] == ARGV[1] then
            if info['pending'] > 0 then return 0 end
            if last and info['last-delivered-id'] ~= last[1] then return 0 end
            return redis.call('DEL', KEYS[1])
          end
        end
        return 0
        """;

    /// <summary>True when the stream exists (the legacy stream is drained only while it does).</summary>
    public Task<bool> ExistsAsync() => _redis.GetDatabase().KeyExistsAsync(_stream);

    /// <summary>Deletes the stream once the group has taken and acknowledged every entry (the legacy stream after its last entry); true when deleted.</summary>
    public async Task<bool> DeleteIfDrainedAsync() =>
        (long)await _redis.GetDatabase().ScriptEvaluateAsync(DeleteIfDrainedScript, [_stream], [_group]).ConfigureAwait(false) == 1;

    /// <summary>
    /// Removes the entries the group has acknowledged: XTRIM MINID up to the oldest entry still pending in the group, or with
    /// nothing pending up to the last entry delivered to it. Safe without a script: between the two reads pending entries can only
    /// be acknowledged and deliveries only move forward, so the bound never passes an unacknowledged entry. Returns how many.
    /// </summary>
    public async Task<long> TrimAcknowledgedAsync()
    {
        var db = _redis.GetDatabase();
        var pending = await db.StreamPendingAsync(_stream, _group).ConfigureAwait(false);
        RedisValue minId;
        if (pending.PendingMessageCount > 0)
        {
            minId = pending.LowestPendingMessageId;
        }
        else
        {
            var groups = await db.StreamGroupInfoAsync(_stream).ConfigureAwait(false);
            minId = groups.FirstOrDefault(g => g.Name == _group).LastDeliveredId;
        }

        if (minId.IsNullOrEmpty || minId == "0-0")
        {
            return 0;
        }

        return await db.StreamTrimByMinIdAsync(_stream, minId).ConfigureAwait(false);
    }

    /// <summary>
    /// When the oldest entry not yet acknowledged by the group was added (its stream id's milliseconds): the lowest pending id, else
    /// the first entry after the group's last-delivered id; null when the group has taken and acknowledged everything (or is absent).
    /// </summary>
    public async Task<DateTimeOffset?> OldestUnacknowledgedAsync()
    {
        var db = _redis.GetDatabase();
        var pending = await db.StreamPendingAsync(_stream, _group).ConfigureAwait(false);
        if (pending.PendingMessageCount > 0)
        {
            return IdTime(pending.LowestPendingMessageId.ToString());
        }

        var groups = await db.StreamGroupInfoAsync(_stream).ConfigureAwait(false);
        if (groups.FirstOrDefault(g => g.Name == _group) is not { Name: not null } info)
        {
            return null;
        }

        var next = await db.StreamRangeAsync(_stream, "(" + (info.LastDeliveredId ?? "0-0"), "+", count: 1).ConfigureAwait(false);
        return next.Length == 0 ? null : IdTime(next[0].Id.ToString());
    }

    private static DateTimeOffset? IdTime(string id) =>
        long.TryParse(id.AsSpan(0, id.IndexOf('-') is var dash and > 0 ? dash : id.Length), out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    /// <summary>XPENDING stream group: the number of entries delivered and not yet acknowledged.</summary>
    public async Task<long> PendingCountAsync() =>
        (await _redis.GetDatabase().StreamPendingAsync(_stream, _group).ConfigureAwait(false)).PendingMessageCount;

    private List<UsageStreamEntry> ToEntries(StreamEntry[] entries)
    {
        var list = new List<UsageStreamEntry>(entries.Length);
        foreach (var entry in entries)
        {
            var id = _idPrefix + entry.Id.ToString();
            if (entry.IsNull || entry.Values is null || entry.Values.Length == 0)
            {
                // Deleted or trimmed while pending: XREADGROUP answers the id with nil fields.
                list.Add(new UsageStreamEntry(id, null));
                continue;
            }

            var fields = new Dictionary<string, string>(entry.Values.Length, StringComparer.Ordinal);
            foreach (var pair in entry.Values)
            {
                fields[pair.Name.ToString()] = pair.Value.IsNull ? "" : pair.Value.ToString();
            }

            list.Add(new UsageStreamEntry(id, fields));
        }

        return list;
    }
}
