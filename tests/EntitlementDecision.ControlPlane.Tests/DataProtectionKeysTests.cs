using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// The console's cookies and antiforgery tokens verify on every replica and after a restart: the data-protection key ring lives in
/// PostgreSQL (table data_protection_keys), not in the (read-only) container's file system or memory.
/// </summary>
public sealed class DataProtectionKeysTests : IAsyncLifetime
{
    private string _database = "";

    public async ValueTask InitializeAsync() => _database = await TestServices.CreateDatabaseAsync();

    public async ValueTask DisposeAsync() => await TestServices.DropDatabaseAsync(_database);

    [Fact]
    public void PayloadProtectedByOneReplica_UnprotectedByAnother_AndAfterARestart()
    {
        string protectedPayload;
        using (var first = new ControlPlaneFactory(ControlPlaneFactory.DefaultSettings(_database)))
        using (var second = new ControlPlaneFactory(ControlPlaneFactory.DefaultSettings(_database)))
        {
            _ = first.Server; // start both hosts (migrations applied by the first)
            _ = second.Server;
            protectedPayload = Protector(first).Protect("console session");

            Assert.Equal("console session", Protector(second).Unprotect(protectedPayload));
            // In the database, not in ~/.aspnet (which would also be shared here, on one machine, but not across pods).
            using var scope = first.Services.CreateScope();
            Assert.NotEmpty(scope.ServiceProvider.GetRequiredService<Data.EntitlementsDbContext>().DataProtectionKeys.ToList());
        }

        using var restarted = new ControlPlaneFactory(ControlPlaneFactory.DefaultSettings(_database));
        _ = restarted.Server;
        Assert.Equal("console session", Protector(restarted).Unprotect(protectedPayload));
    }

    private static IDataProtector Protector(ControlPlaneFactory host) =>
        host.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("DataProtectionKeysTests");
}
