using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace EntitlementDecision.ControlPlane.Data;

/// <summary>
/// Builds <see cref="EntitlementsDbContext"/> for <c>dotnet ef</c> (found by reflection) without building the host, which needs
/// its ED_ settings: ED_POSTGRES when set (e.g. <c>dotnet ef database update</c>), else a placeholder, since
/// <c>migrations add</c> works from the model alone. Uses the catalog-less constructor.
/// </summary>
internal sealed class EntitlementsDesignTimeFactory : IDesignTimeDbContextFactory<EntitlementsDbContext>
{
    internal const string PlaceholderConnection = "Host=localhost;Database=design_time";

    public EntitlementsDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<EntitlementsDbContext>()
            .UseNpgsql(Environment.GetEnvironmentVariable(Configuration.ControlPlaneOptions.PostgresVariable) ?? PlaceholderConnection)
            .Options);
}
