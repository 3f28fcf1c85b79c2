using Microsoft.Extensions.Logging;

namespace EntitlementDecision.Grpc.Internal;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "gRPC handler for {Method} threw; answering {Status}.")]
    public static partial void HandlerThrew(ILogger logger, string method, StatusCode status, Exception exception);

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "gRPC call {Method} answered {Status}: {Detail}")]
    public static partial void CallFailed(ILogger logger, string method, StatusCode status, string detail);

    [LoggerMessage(EventId = 3, Level = LogLevel.Debug, Message = "Ignoring malformed grpc-timeout '{Value}' on {Method}.")]
    public static partial void InvalidTimeout(ILogger logger, string method, string value);

    [LoggerMessage(EventId = 4, Level = LogLevel.Debug, Message = "gRPC call {Method} was cancelled by the client.")]
    public static partial void ClientCancelled(ILogger logger, string method);

    [LoggerMessage(EventId = 5, Level = LogLevel.Debug, Message = "Rejected a non-gRPC request to {Path}: HTTP {HttpStatus}.")]
    public static partial void RejectedRequest(ILogger logger, string path, int httpStatus);
}
