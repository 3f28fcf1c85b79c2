using EntitlementDecision.ControlPlane.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace EntitlementDecision.Migrations.Design;

/// <summary>Builds the context for `dotnet ef` without a database: migrations are scaffolded from the model alone.
/// ED_POSTGRES is used when set (e.g. for `dotnet ef database update`), else a placeholder.</summary>
internal sealed class DesignTimeFactory : IDesignTimeDbContextFactory<EntitlementsDbContext>
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

/// <summary>The same for the metering context (migrations in Metering/Migrations, history table __ef_metering_migrations):
/// <c>dotnet ef migrations add &lt;Name&gt; -c MeteringDbContext -p src/EntitlementDecision.ControlPlane -s tools/EntitlementDecision.Migrations.Design -o Metering/Migrations</c>.</summary>
internal sealed class MeteringDesignTimeFactory : IDesignTimeDbContextFactory<EntitlementDecision.ControlPlane.Metering.MeteringDbContext>
{
    public EntitlementDecision.ControlPlane.Metering.MeteringDbContext CreateDbContext(string[] args) =>
        EntitlementDecision.ControlPlane.Metering.MeteringDbContext.Create(Environment.GetEnvironmentVariable("ED_POSTGRES") ?? "Host=localhost;Database=design_time");
}
