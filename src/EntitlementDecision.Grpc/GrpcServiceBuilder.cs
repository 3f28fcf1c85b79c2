using EntitlementDecision.Grpc.Internal;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.Extensions.Logging;

namespace EntitlementDecision.Grpc;

/// <summary>Attaches handlers to the methods of a mapped service; unmapped methods answer UNIMPLEMENTED.</summary>
public sealed class GrpcServiceBuilder
{
    private readonly Dictionary<string, MethodSlot> _slots;
    private readonly GrpcServerOptions _options;
    private readonly ILogger _logger;

    internal GrpcServiceBuilder(ServiceDescriptor service, Dictionary<string, MethodSlot> slots, GrpcServerOptions options, ILogger logger)
    {
        Service = service;
        _slots = slots;
        _options = options;
        _logger = logger;
    }

    /// <summary>The mapped service.</summary>
    public ServiceDescriptor Service { get; }

    /// <summary>
    /// Handles the unary method <paramref name="methodName"/> (as in the .proto, e.g. "CheckEntitlement").
    /// Throws at startup when the method does not exist, is streaming, is already mapped, or when
    /// TRequest/TResponse are not its message types.
    /// </summary>
    public GrpcServiceBuilder MapUnary<TRequest, TResponse>(string methodName, Func<TRequest, ServerCallContext, ValueTask<TResponse>> handler)
        where TRequest : class, IMessage<TRequest>, new()
        where TResponse : class, IMessage<TResponse>
    {
        ArgumentException.ThrowIfNullOrEmpty(methodName);
        ArgumentNullException.ThrowIfNull(handler);
        var method = Service.FindMethodByName(methodName)
            ?? throw new ArgumentException($"Service '{Service.FullName}' has no method '{methodName}'.", nameof(methodName));
        if (method.IsClientStreaming || method.IsServerStreaming)
        {
            throw new NotSupportedException($"'{Service.FullName}/{methodName}' is a streaming method; only unary methods are supported.");
        }

        if (method.InputType.ClrType != typeof(TRequest) || method.OutputType.ClrType != typeof(TResponse))
        {
            throw new ArgumentException(
                $"'{Service.FullName}/{methodName}' takes {method.InputType.ClrType?.Name} and returns {method.OutputType.ClrType?.Name}, not {typeof(TRequest).Name} → {typeof(TResponse).Name}.",
                nameof(handler));
        }

        var slot = _slots[method.Name];
        if (slot.IsMapped)
        {
            throw new InvalidOperationException($"'{Service.FullName}/{methodName}' already has a handler.");
        }

        var path = "/" + Service.FullName + "/" + method.Name;
        slot.Set(new UnaryServerMethod<TRequest, TResponse>(path, handler, _options, _logger));
        return this;
    }
}
