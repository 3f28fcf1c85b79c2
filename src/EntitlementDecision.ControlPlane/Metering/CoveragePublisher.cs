using EntitlementDecision.ControlPlane.Configuration;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Redis;
using Microsoft.Extensions.Options;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>
/// Start-up step (hosted service): writes the catalog's coverage declarations (<see cref="ServiceCoverage"/>, from the
/// <c>"services"</c> and <c>"undeclared_usage"</c> sections of catalog/plans.json) to the Redis hashes <c>ed:coverage:{shard}</c> that the usage
/// script reads. An invalid section fails start-up; while Redis is down it retries with back-off up to 30 s.
/// </summary>
internal sealed partial class CoveragePublisher(IOptions<ControlPlaneOptions> options, PlanCatalog catalog, RedisConnection redis, TimeProvider time, ILogger<CoveragePublisher> logger) : Background.BackgroundLoop(logger)
{
    protected override TimeProvider Time => time;

    private ServiceCoverage? _coverage;

    /// <summary>The parsed declarations (loaded at start).</summary>
    public ServiceCoverage Coverage => _coverage ??= ServiceCoverageLoader.LoadFile(options.Value.CatalogPath!, catalog);

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _ = Coverage; // a bad section stops start-up here
        return base.StartAsync(cancellationToken);
    }

    // Once written, done: the declarations change only with a new deployment.
    protected override async Task<TimeSpan?> PassAsync(CancellationToken stoppingToken)
    {
        var count = await PublishAsync().WaitAsync(TimeSpan.FromSeconds(5), time, stoppingToken);
        LogPublished(logger, count - 1, Coverage.Mode.ToString().ToLowerInvariant());
        return null;
    }

    /// <summary>Writes every shard's <c>ed:coverage:{shard}</c>; returns the number of fields per shard (declarations + the mode).</summary>
    public async Task<long> PublishAsync()
    {
        var store = new UsageCoverageStore(await redis.GetAsync());
        var declared = Coverage.Services.SelectMany(s => s.Value.Select(f => (s.Key, f)));
        return await store.ReplaceAsync(declared, Coverage.Mode == UndeclaredUsage.Reject ? "reject" : "warn");
    }

    [LoggerMessage(EventId = 4121, Level = LogLevel.Information, Message = "Coverage: {Count} declared (service, feature) pairs written to each shard's ed:coverage, undeclared usage: {Mode}")]
    private static partial void LogPublished(ILogger logger, long count, string mode);
}
