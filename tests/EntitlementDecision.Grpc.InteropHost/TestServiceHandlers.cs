using EntitlementDecision.Contracts.V1;
using Google.Protobuf.WellKnownTypes;
using Microsoft.AspNetCore.Routing;

namespace EntitlementDecision.Grpc.InteropHost;

/// <summary>
/// Test handlers for entitlements.v1.EntitlementDecisionService, shared by the xunit tests and the grpc-js
/// conformance suite. CheckEntitlement switches on tenant_id:
/// "invalid" → INVALID_ARGUMENT <see cref="InvalidDetail"/>; "slow" → waits on the call's token;
/// "slow-ignore" → waits <see cref="IgnoringDelay"/> ignoring the token; "meta" → echoes x-request-id as a
/// response header and trailer; "throw" → an unexpected exception; "async" → completes asynchronously;
/// "big-response" → a response larger than 64 KiB; "encoding" → plan_id = the request's grpc-encoding;
/// "context" → plan_id = "{Method}|deadline or none|{x-trace-bin as hex}"; anything else → OK with plan_id = tenant_id.
/// CheckEntitlements answers each check the same way; RecordUsage is left unmapped (UNIMPLEMENTED).
/// </summary>
public static class TestServiceHandlers
{
    public const string InvalidDetail = "tenant_id must not be empty: ü%";
    public const string SecretExceptionText = "secret connection string: Password=hunter2";
    public const long SnapshotVersion = 42;
    public static readonly TimeSpan IgnoringDelay = TimeSpan.FromSeconds(5);
    public static readonly Timestamp ResetsAt = Timestamp.FromDateTimeOffset(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));

    /// <summary>Maps the test EntitlementDecisionService and the health service.</summary>
    public static void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGrpcService(EntitlementDecisionReflection.Descriptor.Services[0])
            .MapUnary<CheckEntitlementRequest, CheckEntitlementResponse>("CheckEntitlement", CheckEntitlement)
            .MapUnary<CheckEntitlementsRequest, CheckEntitlementsResponse>("CheckEntitlements", CheckEntitlementsAsync);
        endpoints.MapGrpcHealthService();
    }

    public static ValueTask<CheckEntitlementResponse> CheckEntitlement(CheckEntitlementRequest request, ServerCallContext context)
    {
        switch (request.TenantId)
        {
            case "invalid":
                throw new RpcException(StatusCode.InvalidArgument, InvalidDetail);
            case "slow":
                return SlowAsync(request, context);
            case "slow-ignore":
                return SlowIgnoringTokenAsync(request);
            case "throw":
                throw new InvalidOperationException(SecretExceptionText);
            case "async":
                return YieldAsync(request);
            case "meta":
                var requestId = context.GetRequestHeader("x-request-id") ?? "missing";
                context.AddResponseHeader("x-request-id", requestId);
                context.AddResponseTrailer("x-request-id", requestId);
                return ValueTask.FromResult(Grant(request));
            case "encoding":
                var echo = Grant(request);
                echo.PlanId = context.GetRequestHeader("grpc-encoding") ?? "identity";
                return ValueTask.FromResult(echo);
            case "context":
                var described = Grant(request);
                var bin = context.GetRequestHeader("x-trace-bin") is null ? [] : context.GetRequestHeaderBytes("x-trace-bin")!;
                described.PlanId = $"{context.Method}|{(context.Deadline.HasValue ? "deadline" : "none")}|{Convert.ToHexString(bin)}";
                return ValueTask.FromResult(described);
            case "big-response":
                var big = Grant(request);
                big.PlanId = new string('x', 100_000);
                return ValueTask.FromResult(big);
            default:
                return ValueTask.FromResult(Grant(request));
        }
    }

    private static async ValueTask<CheckEntitlementsResponse> CheckEntitlementsAsync(CheckEntitlementsRequest request, ServerCallContext context)
    {
        var response = new CheckEntitlementsResponse();
        foreach (var check in request.Checks)
        {
            response.Results.Add(await CheckEntitlement(check, context).ConfigureAwait(false));
        }

        return response;
    }

    public static CheckEntitlementResponse Grant(CheckEntitlementRequest request) => new()
    {
        Allowed = true,
        Reason = DecisionReason.Granted,
        SnapshotVersion = SnapshotVersion,
        PlanId = request.TenantId,
        Metered = true,
        Limit = 1000,
        Used = request.RequestedQuantity,
        Remaining = 1000 - request.RequestedQuantity,
        ResetsAt = ResetsAt,
    };

    private static async ValueTask<CheckEntitlementResponse> SlowAsync(CheckEntitlementRequest request, ServerCallContext context)
    {
        await Task.Delay(Timeout.Infinite, context.CancellationToken).ConfigureAwait(false);
        return Grant(request);
    }

    private static async ValueTask<CheckEntitlementResponse> SlowIgnoringTokenAsync(CheckEntitlementRequest request)
    {
        await Task.Delay(IgnoringDelay).ConfigureAwait(false);
        return Grant(request);
    }

    private static async ValueTask<CheckEntitlementResponse> YieldAsync(CheckEntitlementRequest request)
    {
        await Task.Yield();
        return Grant(request);
    }
}
