using StackExchange.Redis;

namespace EntitlementDecision.Redis.Tests;

/// <summary>Reads a test's own usage streams (XRANGE).</summary>
internal static class UsageStreamReader
{
    /// <summary>Fresh stream, coverage and generation-marker keys for one test, so tests can run side by side on one Redis.
    /// The marker is written (as the control plane's healer does) unless <paramref name="healed"/> is false.</summary>
    public static UsageStreamKeys NewKeys(bool healed = true)
    {
        var id = Guid.NewGuid().ToString("N");
        var keys = new UsageStreamKeys($"test:{id}:usage-events", $"test:{id}:usage-overages", $"test:{id}:coverage", $"test:{id}:generation");
        if (healed)
        {
            TestRedis.Connection.GetDatabase().StringSet(keys.Generation, "{}", TimeSpan.FromHours(1));
        }

        return keys;
    }

    /// <summary>Every entry of <paramref name="key"/>, oldest first, as (id, field → value).</summary>
    public static async Task<List<(string Id, Dictionary<string, string> Fields)>> ReadAsync(string key)
    {
        var entries = await TestRedis.Connection.GetDatabase().StreamRangeAsync(key);
        return [.. entries.Select(e => (e.Id.ToString(), e.Values.ToDictionary(v => v.Name.ToString(), v => v.Value.ToString(), StringComparer.Ordinal)))];
    }

    /// <summary>Writes the coverage declarations the control plane writes at start-up.</summary>
    public static async Task DeclareAsync(UsageStreamKeys keys, string mode, params string[] serviceFeaturePairs)
    {
        var db = TestRedis.Connection.GetDatabase();
        await db.HashSetAsync(keys.Coverage, UsageStreamKeys.CoverageModeField, mode);
        foreach (var pair in serviceFeaturePairs)
        {
            await db.HashSetAsync(keys.Coverage, pair, "1");
        }
    }
}
