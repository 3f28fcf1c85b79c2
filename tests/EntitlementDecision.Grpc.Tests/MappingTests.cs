using EntitlementDecision.Contracts.V1;
using Grpc.Health.V1;
using Microsoft.AspNetCore.Builder;

namespace EntitlementDecision.Grpc.Tests;

public sealed class MappingTests
{
    private static readonly Google.Protobuf.Reflection.ServiceDescriptor Service = EntitlementDecisionReflection.Descriptor.Services[0];

    private static WebApplication CreateApp(bool addGrpc = true)
    {
        var builder = WebApplication.CreateSlimBuilder();
        if (addGrpc)
        {
            builder.Services.AddGrpcProtocol();
        }

        return builder.Build();
    }

    private static ValueTask<CheckEntitlementResponse> Handler(CheckEntitlementRequest request, ServerCallContext context)
        => ValueTask.FromResult(new CheckEntitlementResponse());

    [Fact]
    public async Task MapGrpcService_WithoutAddGrpcProtocol_Throws()
    {
        await using var app = CreateApp(addGrpc: false);

        var ex = Assert.Throws<InvalidOperationException>(() => app.MapGrpcService(Service));

        Assert.Contains("AddGrpcProtocol", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MapUnary_UnknownMethod_Throws()
    {
        await using var app = CreateApp();

        Assert.Throws<ArgumentException>(() => app.MapGrpcService(Service).MapUnary<CheckEntitlementRequest, CheckEntitlementResponse>("Nope", Handler));
    }

    [Fact]
    public async Task MapUnary_WrongMessageTypes_Throws()
    {
        await using var app = CreateApp();

        Assert.Throws<ArgumentException>(() => app.MapGrpcService(Service).MapUnary<CheckEntitlementRequest, CheckEntitlementResponse>("RecordUsage", Handler));
    }

    [Fact]
    public async Task MapUnary_SameMethodTwice_Throws()
    {
        await using var app = CreateApp();
        var service = app.MapGrpcService(Service).MapUnary<CheckEntitlementRequest, CheckEntitlementResponse>("CheckEntitlement", Handler);

        Assert.Throws<InvalidOperationException>(() => service.MapUnary<CheckEntitlementRequest, CheckEntitlementResponse>("CheckEntitlement", Handler));
    }

    [Fact]
    public async Task MapGrpcService_SameServiceTwice_Throws()
    {
        await using var app = CreateApp();
        app.MapGrpcService(Service);

        Assert.Throws<InvalidOperationException>(() => app.MapGrpcService(Service));
    }

    [Fact]
    public void HealthRegistry_UnknownUntilMappedOrSet()
    {
        var registry = new HealthStatusRegistry();

        Assert.True(registry.TryGetStatus("", out var all) && all);
        Assert.False(registry.TryGetStatus(HealthReflection.Descriptor.Services[0].FullName, out _));
        registry.SetStatus("x.Y", serving: false);
        Assert.True(registry.TryGetStatus("x.Y", out var xy));
        Assert.False(xy);
    }
}
