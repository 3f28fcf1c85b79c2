using System.Net;
using System.Net.Sockets;
using EntitlementDecision.Contracts.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace EntitlementDecision.Client.Tests;

/// <summary>The client's caller-side degradation against a sidecar that is not there (a closed port), and bad calls.</summary>
public sealed class DegradationTests
{
    private static Uri ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return new Uri($"http://127.0.0.1:{port}");
    }

    private static IEntitlementClient Client(Action<EntitlementClientOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddEntitlementDecisionClient(o =>
        {
            o.Address = ClosedPort();
            o.Fallbacks["projects"] = FallbackMode.FailOpen;
            configure?.Invoke(o);
        });
        return services.BuildServiceProvider().GetRequiredService<IEntitlementClient>();
    }

    [Fact]
    public async Task SidecarUnreachable_PerFeatureFallbackFlagged()
    {
        var client = Client();

        var open = await client.CheckAsync("t1", "projects", cancellationToken: TestContext.Current.CancellationToken);
        var closed = await client.CheckAsync("t1", "advanced_reports", cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal((true, true, DecisionReason.Unspecified), (open.Allowed, open.Fallback, open.Reason));
        Assert.Equal((false, true), (closed.Allowed, closed.Fallback));
        Assert.StartsWith("Unavailable", closed.FallbackCause, StringComparison.Ordinal);
        Assert.Null(closed.Response);
    }

    [Fact]
    public async Task SidecarUnreachable_BatchAndUsageFallBackPerFeature_UsageNeverRecorded()
    {
        var client = Client(o => o.DefaultFallback = FallbackMode.FailClosed);

        var many = await client.CheckManyAsync([new("t1", "projects"), new("t1", "sso")], TestContext.Current.CancellationToken);
        var usage = await client.RecordUsageAsync(new RecordUsageRequest { TenantId = "t1", FeatureKey = "api_calls", Quantity = 1, EventId = "e1" }, TestContext.Current.CancellationToken);

        Assert.Equal([(true, true), (false, true)], many.Select(r => (r.Allowed, r.Fallback)));
        Assert.Equal((false, false, true), (usage.Accepted, usage.Recorded, usage.Fallback));
    }

    [Theory]
    [InlineData(StatusCode.Unavailable, true)]
    [InlineData(StatusCode.DeadlineExceeded, true)]
    [InlineData(StatusCode.ResourceExhausted, true)]
    [InlineData(StatusCode.InvalidArgument, false)]
    [InlineData(StatusCode.PermissionDenied, false)]
    [InlineData(StatusCode.Unimplemented, false)]
    public void OnlyStatusesWhereTheSidecarCouldNotDecide_FallBack(StatusCode status, bool fallsBack)
    {
        Assert.Equal(fallsBack, EntitlementClient.IsUnanswered(new RpcException(new Status(status, "x")), CancellationToken.None));
    }

    [Fact]
    public async Task CallerCancelled_NotAFallback()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        var client = Client();

        await Assert.ThrowsAnyAsync<Exception>(() => client.CheckAsync("t1", "projects", cancellationToken: cancelled.Token));
    }
}

/// <summary>The endpoint inventory: every endpoint with its entitlement; protected endpoints without one fail the gate.</summary>
[Collection(nameof(SampleHostCollection))]
public sealed class InventoryTests
{
    [Fact]
    public async Task Sample_EveryProtectedEndpointNamesItsEntitlement()
    {
        await using var sample = SampleAuthenticationTests.Sample();
        _ = sample.Server; // builds the host and its endpoints
        var sources = sample.Services.GetServices<EndpointDataSource>();
        var output = new StringWriter();

        var exit = EntitlementInventory.Report(sources, output);

        Assert.True(exit == 0, output.ToString());
        var entries = EntitlementInventory.List(sample.Services.GetServices<EndpointDataSource>());
        Assert.Contains(new InventoryEntry("/api/reports/advanced", "GET", true, "advanced_reports"), entries);
        Assert.Contains(new InventoryEntry("/api/exports", "POST", true, "exports"), entries);
        Assert.Contains(new InventoryEntry("/healthz", "GET", false, null), entries);
    }

    [Fact]
    public async Task ProtectedEndpointWithoutEntitlement_FailsAndIsNamed()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddEntitlementDecisionClient();
        await using var app = builder.Build();
        var api = app.MapGroup("/api").MarkEntitlementProtected();
        api.MapGet("/checked", () => "ok").RequireEntitlement("projects");
        api.MapDelete("/forgotten", () => "oops");
        app.MapGet("/public", () => "ok");
        var output = new StringWriter();

        var exit = EntitlementInventory.Report(((IEndpointRouteBuilder)app).DataSources, output);

        Assert.Equal(1, exit);
        Assert.Contains("DELETE /api/forgotten is marked protected but requires no entitlement", output.ToString(), StringComparison.Ordinal);
        Assert.Equal(["/api/forgotten"], EntitlementInventory.List(((IEndpointRouteBuilder)app).DataSources).Where(e => e.Violation).Select(e => e.Route));
    }

    [Fact]
    public void RequireEntitlement_RejectsEmptyFeatureAndNegativeQuantity()
    {
        var app = WebApplication.CreateSlimBuilder().Build();
        Assert.Throws<ArgumentException>(() => app.MapGet("/x", () => "x").RequireEntitlement(""));
        Assert.Throws<ArgumentOutOfRangeException>(() => app.MapGet("/y", () => "y").RequireEntitlement("f", -1));
    }
}
