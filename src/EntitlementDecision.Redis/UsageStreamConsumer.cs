using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>One entry of the usage event stream: its stream id and its fields (null when the entry was deleted or trimmed
/// while it was pending; such an entry only needs an XACK).</summary>
public sealed record UsageStreamEntry(string Id, IReadOnlyDictionary<string, string>? Fields);

/// <summary>
/// Consumer-group reads of the usage event stream (<c>ed:usage-events</c>, format in README-usage-stream.md) for the control
/// plane's ledger writer, on StackExchange.Redis's Streams API (XGROUP, XREADGROUP, XAUTOCLAIM, XACK, XPENDING, XTRIM MINID;
/// never BLOCK: the multiplexer's connection is shared, the caller polls). Delivery is at-least-once: the caller acknowledges
/// only after its own commit, so a crash between commit and XACK redelivers entries that the ledger then ignores (idempotent
/// on the event id and the stream id). Single stream key: fine on one Redis; Redis Cluster would need one stream per slot.
/// </summary>
public sealed class UsageStreamConsumer(IConnectionMultiplexer redis, string stream = RedisKeys.UsageEvents, string group = RedisKeys.LedgerGroup)
{
    public string Stream => stream;

    public string Group => group;

    /// <summary>XGROUP CREATE stream group 0 MKSTREAM; an existing group is left as it is.</summary>
    public async Task EnsureGroupAsync()
    {
        try
        {
            await redis.GetDatabase().StreamCreateConsumerGroupAsync(stream, group, "0-0", createStream: true).ConfigureAwait(false);
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
        var entries = await redis.GetDatabase().StreamReadGroupAsync(
            stream, group, consumer, pendingOfThisConsumer ? "0-0" : StreamPosition.NewMessages, count).ConfigureAwait(false);
        return ToEntries(entries);
    }

    /// <summary>
    /// XAUTOCLAIM stream group consumer minIdle 0-0 COUNT count: takes over entries another consumer received and did not
    /// acknowledge within <paramref name="minIdle"/> (it crashed). Entries deleted meanwhile come back as ids with null fields
    /// (Redis 7 drops them from the pending list itself; acknowledging them again is harmless).
    /// </summary>
    public async Task<IReadOnlyList<UsageStreamEntry>> ClaimStaleAsync(string consumer, TimeSpan minIdle, int count)
    {
        var result = await redis.GetDatabase().StreamAutoClaimAsync(
            stream, group, consumer, (long)minIdle.TotalMilliseconds, "0-0", count).ConfigureAwait(false);
        var list = ToEntries(result.ClaimedEntries);
        foreach (var deleted in result.DeletedIds ?? [])
        {
            list.Add(new UsageStreamEntry(deleted.ToString(), null));
        }

        return list;
    }

    /// <summary>XACK stream group ids...; returns how many were pending.</summary>
    public async Task<long> AckAsync(IReadOnlyCollection<string> ids)
    {
        if (ids.Count == 0)
        {
            return 0;
        }

        return await redis.GetDatabase().StreamAcknowledgeAsync(stream, group, [.. ids.Select(id => (RedisValue)id)]).ConfigureAwait(false);
    }

    /// <summary>
    /// Removes the entries the group has acknowledged: XTRIM MINID up to the oldest entry still pending in the group, or with
    /// nothing pending up to the last entry delivered to it. Safe without a script: between the two reads pending entries can only
    /// be acknowledged and deliveries only move forward, so the bound never passes an unacknowledged entry. Returns how many.
    /// </summary>
    public async Task<long> TrimAcknowledgedAsync()
    {
        var db = redis.GetDatabase();
        var pending = await db.StreamPendingAsync(stream, group).ConfigureAwait(false);
        RedisValue minId;
        if (pending.PendingMessageCount > 0)
        {
            minId = pending.LowestPendingMessageId;
        }
        else
        {
            var groups = await db.StreamGroupInfoAsync(stream).ConfigureAwait(false);
            minId = groups.FirstOrDefault(g => g.Name == group).LastDeliveredId;
        }

        if (minId.IsNullOrEmpty || minId == "0-0")
        {
            return 0;
        }

        return await db.StreamTrimByMinIdAsync(stream, minId).ConfigureAwait(false);
    }

    /// <summary>
    /// When the oldest entry not yet acknowledged by the group was added (its stream id's milliseconds): the lowest pending id, else
    /// the first entry after the group's last-delivered id; null when the group has taken and acknowledged everything (or is absent).
    /// </summary>
    public async Task<DateTimeOffset?> OldestUnacknowledgedAsync()
    {
        var db = redis.GetDatabase();
        var pending = await db.StreamPendingAsync(stream, group).ConfigureAwait(false);
        if (pending.PendingMessageCount > 0)
        {
            return IdTime(pending.LowestPendingMessageId.ToString());
        }

        var groups = await db.StreamGroupInfoAsync(stream).ConfigureAwait(false);
        if (groups.FirstOrDefault(g => g.Name == group) is not { Name: not null } info)
        {
            return null;
        }

        var next = await db.StreamRangeAsync(stream, "(" + (info.LastDeliveredId ?? "0-0"), "+", count: 1).ConfigureAwait(false);
        return next.Length == 0 ? null : IdTime(next[0].Id.ToString());
    }

    private static DateTimeOffset? IdTime(string id) =>
        long.TryParse(id.AsSpan(0, id.IndexOf('-') is var dash and > 0 ? dash : id.Length), out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    /// <summary>XPENDING stream group: the number of entries delivered and not yet acknowledged.</summary>
    public async Task<long> PendingCountAsync() =>
        (await redis.GetDatabase().StreamPendingAsync(stream, group).ConfigureAwait(false)).PendingMessageCount;

    private static List<UsageStreamEntry> ToEntries(StreamEntry[] entries)
    {
        var list = new List<UsageStreamEntry>(entries.Length);
        foreach (var entry in entries)
        {
            var id = entry.Id.ToString();
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
