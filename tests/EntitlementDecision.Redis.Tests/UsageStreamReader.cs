using StackExchange.Redis;

namespace EntitlementDecision.Redis.Tests;

/// <summary>Reads a test's own usage streams (XRANGE).</summary>
internal static class UsageStreamReader
{
    /// <summary>Fresh stream and coverage keys for one test, so tests can run side by side on one Redis.</summary>
    public static UsageStreamKeys NewKeys()
    {
        var id = Guid.NewGuid().ToString("N");
        return new UsageStreamKeys($"test:{id}:usage-events", $"test:{id}:usage-overages", $"test:{id}:coverage");
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
