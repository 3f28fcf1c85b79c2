using EntitlementDecision.Engine.Catalog;
using Microsoft.EntityFrameworkCore;
using EntitlementDecision.ControlPlane.Data;

namespace EntitlementDecision.ControlPlane.Hosting;

/// <summary>
/// Start-up step (hosted service, runs before the outbox publisher and before requests are served): loads the catalog
/// (an invalid catalog fails start-up) and applies pending EF migrations (EntitlementsDbContext, then MeteringDbContext).
/// </summary>
internal sealed partial class DatabaseMigrator(IServiceScopeFactory scopes, ILogger<DatabaseMigrator> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var catalog = scope.ServiceProvider.GetRequiredService<PlanCatalog>();
        LogCatalog(logger, catalog.Version, catalog.ContentHash);
        var db = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
        var metering = scope.ServiceProvider.GetRequiredService<Metering.MeteringDbContext>();
        await MigrationHistory.EnsureKnownAsync(db, cancellationToken);
        await MigrationHistory.EnsureKnownAsync(metering, cancellationToken);
        await db.Database.MigrateAsync(cancellationToken);
        await metering.Database.MigrateAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 1910, Level = LogLevel.Information, Message = "Catalog {Version} loaded (sha256 {Hash})")]
    private static partial void LogCatalog(ILogger logger, string version, string hash);
}
