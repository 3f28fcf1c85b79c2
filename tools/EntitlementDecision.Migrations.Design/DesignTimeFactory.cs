using EntitlementDecision.ControlPlane.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace EntitlementDecision.Migrations.Design;

/// <summary>Builds the context for `dotnet ef` without a database: migrations are scaffolded from the model alone.
/// ED_POSTGRES is used when set (e.g. for `dotnet ef database update`), else a placeholder.</summary>
public sealed class DesignTimeFactory : IDesignTimeDbContextFactory<EntitlementsDbContext>
{
    public EntitlementsDbContext CreateDbContext(string[] args) =>
        new(new DbContextOptionsBuilder<EntitlementsDbContext>()
            .UseNpgsql(Environment.GetEnvironmentVariable("ED_POSTGRES") ?? "Host=localhost;Database=design_time")
            .Options);
}

internal static class Program
{
    private static int Main()
    {
        Console.WriteLine("Design-time helper for dotnet ef; see the project file for usage.");
        return 0;
    }
}
