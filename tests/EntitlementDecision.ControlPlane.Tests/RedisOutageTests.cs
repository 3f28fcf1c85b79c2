using System.Net;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>The control plane with ED_REDIS pointing at a closed port: writes still commit, the outbox keeps the rows.</summary>
public sealed class RedisOutageTests : IAsyncLifetime
{
    private string _database = "";
    private ControlPlaneFactory _factory = null!;
    private ControlPlaneFixture _fx = null!;

    public async ValueTask InitializeAsync()
    {
        _database = await TestServices.CreateDatabaseAsync();
        var settings = ControlPlaneFactory.DefaultSettings(_database);
        settings["ED_REDIS"] = "127.0.0.1:1,connectTimeout=200";
        _factory = new ControlPlaneFactory(settings);
        _fx = new ControlPlaneFixture(_factory);
    }

    public async ValueTask DisposeAsync()
    {
        await _factory.DisposeAsync();
        await TestServices.DropDatabaseAsync(_database);
    }

    [Fact]
    public async Task RedisDown_HealthIs503_WritesCommit_OutboxRowsStayUnpublishedWithAttempts()
    {
        var (health, json) = await _fx.SendAsync(HttpMethod.Get, "/healthz", token: null);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Contains("redis", (string?)json?["detail"]);

        var tenant = await _fx.CreateTenantAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        int attempts;
        do
        {
            attempts = await _fx.DbAsync(db => db.OutboxMessages.Where(o => o.TenantId == tenant).Select(o => o.Attempts).SingleAsync());
            if (attempts > 0)
            {
                break;
            }

            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
        while (DateTime.UtcNow < deadline);

        Assert.True(attempts > 0, "the publisher never tried");
        Assert.Null(await _fx.DbAsync(db => db.OutboxMessages.Where(o => o.TenantId == tenant).Select(o => o.PublishedAt).SingleAsync()));
    }
}
