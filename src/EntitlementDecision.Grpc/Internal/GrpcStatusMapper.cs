namespace EntitlementDecision.Grpc.Internal;

/// <summary>The one place where server-side exceptions become wire statuses.</summary>
internal static class GrpcStatusMapper
{
    /// <summary>Sent for an exception that is not an <see cref="RpcException"/>; its text is logged, never sent.</summary>
    public const string UnknownErrorDetail = "Exception was thrown by handler.";

    public const string DeadlineExceededDetail = "Deadline Exceeded";

    public const string CancelledDetail = "Cancelled";

    /// <summary>
    /// RpcException → its status and detail. OperationCanceledException once the deadline passed →
    /// DEADLINE_EXCEEDED; once the client reset the stream → CANCELLED. Anything else → UNKNOWN with
    /// <see cref="UnknownErrorDetail"/> (<paramref name="isUnexpected"/> tells the caller to log it).
    /// </summary>
    public static StatusCode Map(Exception exception, bool deadlineExceeded, bool clientCancelled, out string detail, out bool isUnexpected)
    {
        isUnexpected = false;
        switch (exception)
        {
            case RpcException rpc:
                detail = rpc.Detail;
                return rpc.Status;
            case OperationCanceledException when clientCancelled:
                detail = CancelledDetail;
                return StatusCode.Cancelled;
            case OperationCanceledException when deadlineExceeded:
                detail = DeadlineExceededDetail;
                return StatusCode.DeadlineExceeded;
            default:
                isUnexpected = true;
                detail = UnknownErrorDetail;
                return StatusCode.Unknown;
        }
    }
}
