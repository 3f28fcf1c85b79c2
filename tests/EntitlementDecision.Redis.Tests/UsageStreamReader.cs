using StackExchange.Redis;

namespace EntitlementDecision.Redis.Tests;

/// <summary>Reads a test's own usage streams (XRANGE through ExecuteAsync: StackExchange.Redis 1.2.6 has no stream API).</summary>
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
        var result = await TestRedis.Connection.GetDatabase().ExecuteAsync("XRANGE", key, "-", "+");
        var entries = new List<(string, Dictionary<string, string>)>();
        foreach (var entry in (RedisResult[])result!)
        {
            var parts = (RedisResult[])entry!;
            var values = (RedisResult[])parts[1]!;
            var fields = new Dictionary<string, string>(StringComparer.Ordinal);
            for (var i = 0; i < values.Length; i += 2)
            {
                fields.Add((string)values[i]!, (string)values[i + 1]!);
            }

            entries.Add(((string)parts[0]!, fields));
        }

        return entries;
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
