using EntitlementDecision.Contracts.V1;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EntitlementDecision.Sidecar.Tests;

/// <summary>
/// Test handlers for the grpc-js conformance suite (tests/interop/conformance.mjs), served by the sidecar's own gRPC composition
/// (<see cref="SidecarGrpc"/>: Grpc.AspNetCore, the interceptor, limits, health, reflection). CheckEntitlement switches on tenant_id:
/// "invalid" INVALID_ARGUMENT <see cref="InvalidDetail"/>; "slow" waits on the call's token; "slow-ignore" waits 5 s ignoring it;
/// "meta" echoes x-request-id as a response header and trailer; "throw" an unexpected exception; "store-down" a store failure;
/// "big-response" a response larger than 64 KiB; "encoding" plan_id = the request's grpc-encoding; else OK with plan_id = tenant_id.
/// RecordUsage is not overridden (UNIMPLEMENTED).
/// </summary>
internal sealed class ConformanceService : EntitlementDecisionService.EntitlementDecisionServiceBase
{
    public const string InvalidDetail = "tenant_id must not be empty: ü%";
    public const string SecretExceptionText = "secret connection string: Password=hunter2";

    public override async Task<CheckEntitlementResponse> CheckEntitlement(CheckEntitlementRequest request, ServerCallContext context)
    {
        switch (request.TenantId)
        {
            case "invalid":
                throw CheckValidation.Invalid(InvalidDetail);
            case "slow":
                await Task.Delay(Timeout.Infinite, context.CancellationToken);
                return Grant(request);
            case "slow-ignore":
                await Task.Delay(TimeSpan.FromSeconds(5), CancellationToken.None);
                return Grant(request);
            case "throw":
                throw new InvalidOperationException(SecretExceptionText);
            case "store-down":
                throw new Engine.Snapshots.StoreUnavailableException(SecretExceptionText);
            case "meta":
                var requestId = context.RequestHeaders.GetValue("x-request-id") ?? "missing";
                await context.WriteResponseHeadersAsync(new Metadata { { "x-request-id", requestId } });
                context.ResponseTrailers.Add("x-request-id", requestId);
                return Grant(request);
            case "encoding":
                var echo = Grant(request);
                // Grpc.AspNetCore keeps grpc-* headers out of RequestHeaders: read the HTTP request's.
                echo.PlanId = context.GetHttpContext().Request.Headers["grpc-encoding"].FirstOrDefault() ?? "identity";
                return echo;
            case "big-response":
                var big = Grant(request);
                big.PlanId = new string('x', 100_000);
                return big;
            default:
                return Grant(request);
        }
    }

    public override async Task<CheckEntitlementsResponse> CheckEntitlements(CheckEntitlementsRequest request, ServerCallContext context)
    {
        var response = new CheckEntitlementsResponse();
        foreach (var check in request.Checks)
        {
            response.Results.Add(await CheckEntitlement(check, context));
        }

        return response;
    }

    private static CheckEntitlementResponse Grant(CheckEntitlementRequest request) => new()
    {
        Allowed = true,
        Reason = DecisionReason.Granted,
        SnapshotVersion = 42,
        PlanId = request.TenantId,
        Metered = true,
        Limit = 1000,
        Used = request.RequestedQuantity,
        Remaining = 1000 - request.RequestedQuantity,
        ResetsAt = Timestamp.FromDateTimeOffset(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero)),
    };

    /// <summary>Kestrel on 127.0.0.1:0 (HTTP/2 only) with the sidecar's gRPC composition and these handlers; the invalidation
    /// subscription reported live unless <paramref name="live"/> is false; logs go to <paramref name="logs"/> when given, else nowhere.</summary>
    public static async Task<(WebApplication App, int Port)> StartAsync(bool live = true, string? responseCompression = null, ILoggerProvider? logs = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }

        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddSidecarGrpc(responseCompression);
        var app = builder.Build();
        app.MapSidecarGrpc<ConformanceService>();
        app.Services.GetRequiredService<InvalidationHealth>().SetLive(live);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return (app, new Uri(address).Port);
    }
}
