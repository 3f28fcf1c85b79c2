using EntitlementDecision.Contracts.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EntitlementDecision.Client;

/// <summary>Endpoint metadata: the endpoint may run only when the request's tenant is entitled to <see cref="FeatureKey"/>.</summary>
/// <param name="FeatureKey">the feature checked before the handler, 1..128 chars of [A-Za-z0-9._-]</param>
/// <param name="RequestedQuantity">units of its meter the call would use, >= 0 (checked, not recorded)</param>
public sealed record RequiresEntitlementMetadata(string FeatureKey, long RequestedQuantity = 0);

/// <summary>Endpoint metadata: this endpoint (or every endpoint of a group) must carry a <see cref="RequiresEntitlementMetadata"/>;
/// <see cref="EntitlementInventory"/> reports those that do not.</summary>
public sealed class EntitlementProtectedMetadata
{
    public static readonly EntitlementProtectedMetadata Instance = new();
}

/// <summary>
/// <c>.RequireEntitlement("feature")</c> for minimal APIs: before the handler, the request's tenant
/// (<see cref="EntitlementClientOptions.ResolveTenant"/>) is checked with <see cref="IEntitlementClient.CheckAsync(string, string, long, string?, CancellationToken)"/>.
/// Answers: no tenant 401 ProblemDetails; denied 403 ProblemDetails with <c>feature</c>, <c>reason</c> (the DecisionReason name,
/// e.g. DECISION_REASON_NOT_IN_PLAN or DECISION_REASON_LIMIT_EXCEEDED) and <c>fallback</c>. Every denial is 403, plan and limit
/// alike: the body's reason tells them apart (402 is reserved by HTTP and clients treat it inconsistently).
/// </summary>
public static class RequireEntitlementExtensions
{
    /// <summary>Checks <paramref name="featureKey"/> (and <paramref name="requestedQuantity"/> units, >= 0) before the handler.</summary>
    public static TBuilder RequireEntitlement<TBuilder>(this TBuilder builder, string featureKey, long requestedQuantity = 0)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentException.ThrowIfNullOrEmpty(featureKey);
        ArgumentOutOfRangeException.ThrowIfNegative(requestedQuantity);
        var metadata = new RequiresEntitlementMetadata(featureKey, requestedQuantity);
        builder.WithMetadata(metadata);
        builder.AddEndpointFilterFactory((_, next) => async context =>
        {
            var http = context.HttpContext;
            var options = http.RequestServices.GetRequiredService<IOptions<EntitlementClientOptions>>().Value;
            if (options.ResolveTenant(http) is not { Length: > 0 } tenant)
            {
                return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "No tenant",
                    detail: $"the request names no tenant, so '{featureKey}' cannot be checked");
            }

            var client = http.RequestServices.GetRequiredService<IEntitlementClient>();
            var result = await client.CheckAsync(tenant, metadata.FeatureKey, metadata.RequestedQuantity, cancellationToken: http.RequestAborted).ConfigureAwait(false);
            if (result.Allowed)
            {
                return await next(context).ConfigureAwait(false);
            }

            return Results.Problem(
                statusCode: StatusCodes.Status403Forbidden,
                title: "Not entitled",
                detail: result.Fallback
                    ? $"'{featureKey}' could not be checked ({result.FallbackCause}) and fails closed"
                    : $"tenant '{tenant}' is not entitled to '{featureKey}': {ReasonName(result.Reason)}",
                extensions: new Dictionary<string, object?>
                {
                    ["feature"] = featureKey,
                    ["reason"] = ReasonName(result.Reason),
                    ["fallback"] = result.Fallback,
                });
        });
        return builder;
    }

    /// <summary>Marks the endpoint (or group) as one that must name an entitlement; see <see cref="EntitlementInventory"/>.</summary>
    public static TBuilder MarkEntitlementProtected<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(EntitlementProtectedMetadata.Instance);

    private static readonly Google.Protobuf.Reflection.EnumDescriptor Reasons =
        EntitlementDecisionReflection.Descriptor.EnumTypes.First(e => e.ClrType == typeof(DecisionReason));

    /// <summary>The proto name of a reason, e.g. DECISION_REASON_NOT_IN_PLAN.</summary>
    public static string ReasonName(DecisionReason reason) =>
        Reasons.FindValueByNumber((int)reason)?.Name ?? reason.ToString();
}
