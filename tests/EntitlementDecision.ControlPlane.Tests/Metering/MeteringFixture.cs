using EntitlementDecision.ControlPlane.Healing;
using EntitlementDecision.Engine;
using System.Globalization;
using EntitlementDecision.ControlPlane.Metering;
using EntitlementDecision.Redis;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace EntitlementDecision.ControlPlane.Tests.Metering;

/// <summary>
/// A control plane on a fresh database whose Redis connection uses its own logical database (<paramref name="redisDatabase"/>), so
/// the usage stream, counters and FLUSHDB of one metering test class never reach another class or another project's tests.
/// The background ledger consumer is off (ED_USAGE_LEDGER_CONSUMER=off): tests pump the stream explicitly, so nothing is timed.
/// </summary>
public abstract class MeteringFixture(int redisDatabase) : IAsyncLifetime
{
    public const string ConsumerName = "ledger-test";
    private string _database = "";

    public ControlPlaneFixture Host { get; private set; } = null!;

    public ConnectionMultiplexer Redis { get; private set; } = null!;

    public IDatabase RedisDb => Redis.GetDatabase(redisDatabase);

    public string RedisConfiguration => $"{TestServices.Redis},defaultDatabase={redisDatabase}";

    protected virtual void Configure(Dictionary<string, string?> settings)
    {
    }

    /// <summary>True when the host runs the healer (it then writes the generation marker itself).</summary>
    protected virtual bool HealsRedis => false;

    public async ValueTask InitializeAsync()
    {
        _database = await TestServices.CreateDatabaseAsync();
        var settings = ControlPlaneFactory.DefaultSettings(_database);
        settings["ED_REDIS"] = RedisConfiguration;
        settings[MeteringOptions.ConsumerVariable] = "off";
        settings[MeteringOptions.ConsumerNameVariable] = ConsumerName;
        Configure(settings);
        Host = new ControlPlaneFixture(new ControlPlaneFactory(settings));
        var config = ConfigurationOptions.Parse(RedisConfiguration);
        config.AbortOnConnectFail = false;
        config.AllowAdmin = true;
        Redis = await ConnectionMultiplexer.ConnectAsync(config);
        await RedisDb.ExecuteAsync("FLUSHDB");
        if (!HealsRedis)
        {
            // What the healer writes after a complete heal; without it usage is refused as "counters being rebuilt".
            foreach (var marker in RedisHealer.MarkerKeys)
            {
                await RedisDb.StringSetAsync(marker, "{}");
            }
        }

        _ = Host.Client; // starts the host: migrations applied
        await Host.SendAsync(HttpMethod.Get, "/healthz", null);
    }

    public virtual async ValueTask DisposeAsync()
    {
        Host.Client.Dispose();
        await Host.Factory.DisposeAsync();
        Redis?.Dispose();
        if (_database.Length > 0)
        {
            await TestServices.DropDatabaseAsync(_database);
        }
    }

    public string Postgres => _database;

    /// <summary>A stream entry in the agreed format (all fields strings), accepted by default.</summary>
    public static Dictionary<string, string> Entry(
        string tenant, string eventId, string feature, long quantity, DateTimeOffset occurredAt, DateTimeOffset? receivedAt = null,
        string outcome = "accepted", string environment = "production", string? window = null, long limit = -1, string limitMode = "hard",
        long usedAfter = 0, long overage = 0, bool undeclared = false, string service = "api-gateway") => new(StringComparer.Ordinal)
    {
        ["v"] = "1",
        ["outcome"] = outcome,
        ["tenant_id"] = tenant,
        ["environment"] = environment,
        ["event_id"] = eventId,
        ["feature"] = feature,
        ["quantity"] = quantity.ToString(CultureInfo.InvariantCulture),
        ["unit"] = feature == "exports" ? "export" : "call",
        ["service"] = service,
        ["occurred_at_ms"] = occurredAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
        ["received_at_ms"] = (receivedAt ?? occurredAt).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
        ["window"] = window ?? (feature == "exports" ? $"d{occurredAt.UtcDateTime:yyyyMMdd}" : $"m{occurredAt.UtcDateTime:yyyyMM}"),
        ["limit"] = limit.ToString(CultureInfo.InvariantCulture),
        ["limit_mode"] = limitMode,
        ["used_after"] = usedAfter.ToString(CultureInfo.InvariantCulture),
        ["overage"] = overage.ToString(CultureInfo.InvariantCulture),
        ["undeclared"] = undeclared ? "1" : "0",
        ["request_id"] = "req-" + eventId,
        ["trace_id"] = "",
        ["source_digest"] = "sha256:" + eventId,
        ["origin"] = "grpc",
    };

    /// <summary>XADD ed:usage-events:{shard} * fields... on the shard of <paramref name="shardOf"/> (default: the entry's tenant_id) in
    /// production; returns the ledger id ("shard/id").</summary>
    public async Task<string> XAddAsync(IReadOnlyDictionary<string, string> fields, string? shardOf = null)
    {
        var shard = RedisKeys.ShardOf(new TenantKey("production", shardOf ?? fields.GetValueOrDefault("tenant_id", "")));
        var entries = fields.Select(f => new NameValueEntry(f.Key, f.Value)).ToArray();
        return UsageStreamConsumer.LedgerId(shard, (await RedisDb.StreamAddAsync(UsageStreamKeys.Default.Events(shard), entries)).ToString());
    }

    public T Service<T>() where T : notnull => Host.Factory.Services.GetRequiredService<T>();

    /// <summary>Runs the ledger consumer until the stream has nothing left for it.</summary>
    public async Task<int> PumpAsync()
    {
        var total = 0;
        int n;
        do
        {
            n = await Service<LedgerConsumer>().PumpAsync(TestContext.Current.CancellationToken);
            total += n;
        }
        while (n > 0);
        return total;
    }

    /// <summary>
    /// Runs the rollups until the queue is empty. The host's own rollup job, woken by the ledger's commits, may hold queue rows in an
    /// open transaction (SKIP LOCKED hides them from this pass): a row leaves the queue only when its rollup is committed, so an empty
    /// queue means every rollup is visible.
    /// </summary>
    public async Task RollupAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        await Service<RollupJob>().RunOnceAsync(TestContext.Current.CancellationToken);
        while (await MeteringAsync(db => Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.AnyAsync(db.RollupQueue, TestContext.Current.CancellationToken)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the rollup queue did not drain within 10 s");
            await Task.Delay(20, TestContext.Current.CancellationToken);
            await Service<RollupJob>().RunOnceAsync(TestContext.Current.CancellationToken);
        }
    }

    internal async Task<T> MeteringAsync<T>(Func<MeteringDbContext, Task<T>> query)
    {
        await using var scope = Host.Factory.Services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<MeteringDbContext>());
    }

    /// <summary>The ledger group's consumer of the stream of <paramref name="tenant"/>'s shard (production).</summary>
    public UsageStreamConsumer Stream(string tenant) => new(Redis, RedisKeys.ShardOf(new TenantKey("production", tenant)));
}
