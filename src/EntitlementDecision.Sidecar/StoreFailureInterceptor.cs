using EntitlementDecision.Engine.Snapshots;
using Grpc.Core;
using EntitlementDecision.Contracts.V1;
using Grpc.Core.Interceptors;

namespace EntitlementDecision.Sidecar;

/// <summary>
/// The one place that maps internal failures to gRPC statuses: a <see cref="StoreUnavailableException"/> becomes UNAVAILABLE
/// with a detail that says what could not be decided and whether retrying is safe; a <see cref="SnapshotVersionNotReachedException"/>
/// FAILED_PRECONDITION with the version held. Bad calls are already <see cref="RpcException"/>s;
/// any other exception is left to Grpc.AspNetCore, which answers UNKNOWN without the exception's text.
/// </summary>
internal sealed class StoreFailureInterceptor : Interceptor
{
    public const string SnapshotDetail = "snapshot store unreachable and this tenant is not cached";
    public const string CheckUsageDetail = "usage store unreachable: cannot tell how much of the limit is used";
    public const string RecordUsageDetail = "usage store unreachable: nothing was recorded, retry with the same event_id";
    public const string RebuildingDetail = "usage counters are being rebuilt after Redis lost its data: nothing was recorded, retry with the same event_id";

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Task<TResponse> call;
        try
        {
            call = continuation(request, context);
        }
        catch (StoreUnavailableException e)
        {
            throw ToStatus(e, request);
        }
        catch (SnapshotVersionNotReachedException e)
        {
            throw ToStatus(e);
        }

        // The hot path completes synchronously (an L1 hit): hand the finished task back without an async frame.
        return call.IsCompletedSuccessfully ? call : AwaitAsync(call, request);
    }

    private static async Task<TResponse> AwaitAsync<TRequest, TResponse>(Task<TResponse> call, TRequest request)
    {
        try
        {
            return await call.ConfigureAwait(false);
        }
        catch (StoreUnavailableException e)
        {
            throw ToStatus(e, request);
        }
        catch (SnapshotVersionNotReachedException e)
        {
            throw ToStatus(e);
        }
    }

    private static RpcException ToStatus(SnapshotVersionNotReachedException e) =>
        new(new Status(StatusCode.FailedPrecondition, e.Message, e));

    private static RpcException ToStatus<TRequest>(StoreUnavailableException e, TRequest request) =>
        new(new Status(StatusCode.Unavailable, Detail(e.Store, request is RecordUsageRequest), e));

    /// <summary>The UNAVAILABLE detail for a failure of <paramref name="store"/> during RecordUsage or a check.</summary>
    internal static string Detail(StoreKind store, bool recordingUsage) => store switch
    {
        StoreKind.Usage => recordingUsage ? RecordUsageDetail : CheckUsageDetail,
        StoreKind.UsageRebuilding => RebuildingDetail,
        _ => SnapshotDetail,
    };
}
