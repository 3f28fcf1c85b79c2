using System.Reflection;
using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;

namespace EntitlementDecision.Sidecar;

/// <summary>
/// Binds each service mapped with <c>MapGrpcService&lt;T&gt;</c> (entitlements.v1, grpc.health.v1, reflection) the way
/// Grpc.AspNetCore's own binder does (the generated <c>BindService</c>, the same handlers and endpoint metadata), with one change:
/// a request message that does not parse (<see cref="InvalidProtocolBufferException"/>) is INVALID_ARGUMENT
/// "request is not a valid {message}: {parser's reason}" instead of UNKNOWN "Exception was thrown by handler." and an error log.
/// The request marshaller is the one place that sees every parse: Grpc.AspNetCore reads unary and server-streaming requests before
/// any interceptor runs. Registered by <see cref="ParseCheckedMethodProvider.Replace"/> instead of the library's <c>BinderServiceMethodProvider&lt;T&gt;</c>.
/// </summary>
internal sealed class ParseCheckedMethodProvider<TService> : IServiceMethodProvider<TService>
    where TService : class
{
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<TService> context)
    {
        // The generated base carries [BindServiceMethod(typeof(Service), "BindService")]; BindService(binder, null) lists the methods.
        for (var type = typeof(TService); type is not null; type = type.BaseType)
        {
            if (type.GetCustomAttribute<BindServiceMethodAttribute>(inherit: false) is { } bind)
            {
                var bindService = bind.BindType.GetMethod(bind.BindMethodName, BindingFlags.Public | BindingFlags.Static, [typeof(ServiceBinderBase), type])
                    ?? throw new InvalidOperationException($"{bind.BindType}.{bind.BindMethodName}(ServiceBinderBase, {type.Name}) not found for {typeof(TService)}");
                bindService.Invoke(null, [new Binder(context, type), null]);
                return;
            }
        }

        // No generated base (e.g. Grpc.AspNetCore's marker for a ServerServiceDefinition): the library's other provider binds it.
    }

    private static Method<TRequest, TResponse> ParseChecked<TRequest, TResponse>(Method<TRequest, TResponse> method)
    {
        var name = typeof(TRequest).GetProperty("Descriptor", BindingFlags.Public | BindingFlags.Static)?.GetValue(null) is Google.Protobuf.Reflection.MessageDescriptor descriptor
            ? descriptor.FullName : typeof(TRequest).Name;
        var parse = method.RequestMarshaller.ContextualDeserializer;
        var marshaller = new Marshaller<TRequest>(method.RequestMarshaller.ContextualSerializer, context =>
        {
            try
            {
                return parse(context);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw ParseCheckedMethodProvider.Malformed(name, e);
            }
        });
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, marshaller, method.ResponseMarshaller);
    }

    /// <summary>Receives the generated BindService's methods (handlers are null: the service is activated per call) and adds
    /// each with the parse-checked marshaller and an invoker of <typeparamref name="TService"/>'s override.</summary>
    private sealed class Binder(ServiceMethodProviderContext<TService> context, Type serviceBase) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler) =>
            context.AddUnaryMethod(ParseChecked(method), Metadata(method.Name, [typeof(TRequest), typeof(ServerCallContext)], out var target),
                target.CreateDelegate<UnaryServerMethod<TService, TRequest, TResponse>>());

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler) =>
            context.AddServerStreamingMethod(ParseChecked(method), Metadata(method.Name, [typeof(TRequest), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext)], out var target),
                target.CreateDelegate<ServerStreamingServerMethod<TService, TRequest, TResponse>>());

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler) =>
            context.AddClientStreamingMethod(ParseChecked(method), Metadata(method.Name, [typeof(IAsyncStreamReader<TRequest>), typeof(ServerCallContext)], out var target),
                target.CreateDelegate<ClientStreamingServerMethod<TService, TRequest, TResponse>>());

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler) =>
            context.AddDuplexStreamingMethod(ParseChecked(method), Metadata(method.Name, [typeof(IAsyncStreamReader<TRequest>), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext)], out var target),
                target.CreateDelegate<DuplexStreamingServerMethod<TService, TRequest, TResponse>>());

        // The override of the generated virtual (not a method that hides it), and the library's endpoint metadata: the service's
        // attributes, then the method's, then POST (accepting a CORS preflight, answered 405 without CORS middleware).
        private List<object> Metadata(string name, Type[] parameters, out MethodInfo target)
        {
            target = typeof(TService).GetMethods(BindingFlags.Public | BindingFlags.Instance).SingleOrDefault(m =>
                    m.Name == name && m.GetBaseDefinition().DeclaringType == serviceBase && m.GetParameters().Select(p => p.ParameterType).SequenceEqual(parameters))
                ?? throw new InvalidOperationException($"could not find '{name}' on {typeof(TService)}");
            List<object> metadata = [.. typeof(TService).GetCustomAttributes(inherit: true), .. target.GetCustomAttributes(inherit: true)];
            metadata.Add(new HttpMethodMetadata(["POST"], acceptCorsPreflight: true));
            return metadata;
        }
    }
}

/// <summary>Registration and the status of <see cref="ParseCheckedMethodProvider{TService}"/>.</summary>
internal static class ParseCheckedMethodProvider
{
    private const string DefaultProviderName = "Grpc.AspNetCore.Server.Model.Internal.BinderServiceMethodProvider`1";

    /// <summary>Swaps Grpc.AspNetCore's default binder for this one; call after <c>AddGrpc</c>. Throws when the library's
    /// registration is not found (a renamed internal), so the sidecar never serves its services twice or not at all.</summary>
    public static void Replace(IServiceCollection services)
    {
        var defaults = services.Where(d => d.ServiceType == typeof(IServiceMethodProvider<>) && d.ImplementationType?.FullName == DefaultProviderName).ToList();
        if (defaults.Count != 1)
        {
            throw new InvalidOperationException($"expected one {DefaultProviderName} registration from AddGrpc, found {defaults.Count}");
        }

        services.Remove(defaults[0]);
        services.Add(ServiceDescriptor.Singleton(typeof(IServiceMethodProvider<>), typeof(ParseCheckedMethodProvider<>)));
    }

    /// <summary>The status for a request of <paramref name="messageName"/> that failed to parse.</summary>
    internal static RpcException Malformed(string messageName, InvalidProtocolBufferException e) =>
        new(new Status(StatusCode.InvalidArgument, $"request is not a valid {messageName}: {e.Message}"));
}
