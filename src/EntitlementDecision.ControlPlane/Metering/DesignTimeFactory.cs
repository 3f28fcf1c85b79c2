using EntitlementDecision.ControlPlane.Data;
using Microsoft.EntityFrameworkCore.Design;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>The same as <see cref="EntitlementsDesignTimeFactory"/> for <see cref="MeteringDbContext"/> (its own history table).</summary>
internal sealed class MeteringDesignTimeFactory : IDesignTimeDbContextFactory<MeteringDbContext>
{
    public MeteringDbContext CreateDbContext(string[] args) =>
        MeteringDbContext.Create(
            Environment.GetEnvironmentVariable(Configuration.ControlPlaneOptions.PostgresVariable) ?? EntitlementsDesignTimeFactory.PlaceholderConnection);
}
