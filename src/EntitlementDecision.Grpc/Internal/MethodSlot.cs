using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace EntitlementDecision.Grpc.Internal;

/// <summary>
/// The route target of one method. Routes are registered when the service is mapped; MapUnary swaps the
/// UNIMPLEMENTED default for the real handler (one volatile read per call).
/// </summary>
internal sealed class MethodSlot
{
    private volatile ServerMethod _method;

    public MethodSlot(ServerMethod initial)
    {
        _method = initial;
        RequestDelegate = InvokeAsync;
    }

    public RequestDelegate RequestDelegate { get; }

    public bool IsMapped { get; private set; }

    public void Set(ServerMethod method)
    {
        _method = method;
        IsMapped = true;
    }

    private Task InvokeAsync(HttpContext httpContext) => _method.HandleAsync(httpContext);
}

/// <summary>Matches the catch-all route only for gRPC requests: POST with content-type application/grpc.</summary>
internal sealed class GrpcRequestRouteConstraint : IRouteConstraint
{
    public bool Match(HttpContext? httpContext, IRouter? route, string routeKey, RouteValueDictionary values, RouteDirection routeDirection)
    {
        if (routeDirection != RouteDirection.IncomingRequest || httpContext is null)
        {
            return false;
        }

        var request = httpContext.Request;
        return HttpMethods.IsPost(request.Method) && GrpcProtocol.IsGrpcContentType(request.ContentType);
    }
}

/// <summary>Registered by AddGrpcProtocol: which services are mapped and whether the catch-all route exists.</summary>
internal sealed class GrpcMappingState
{
    public object Sync { get; } = new();

    public HashSet<string> MappedServices { get; } = new(StringComparer.Ordinal);

    public bool CatchAllMapped { get; set; }
}
