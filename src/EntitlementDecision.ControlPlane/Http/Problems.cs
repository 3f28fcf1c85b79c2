using EntitlementDecision.Engine;
using Microsoft.AspNetCore.Http.HttpResults;

namespace EntitlementDecision.ControlPlane.Http;

/// <summary>The ProblemDetails answers endpoints of several features share (400, 403, 409), so that none calls another's endpoint class.</summary>
internal static class Problems
{
    internal static ProblemHttpResult BadRequest(string detail) =>
        TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid request", detail: detail);

    internal static ProblemHttpResult Conflict(string detail, IDictionary<string, object?>? extensions = null) =>
        TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Conflict", detail: detail, extensions: extensions);

    /// <summary>403 for a token of another tenant (or without the role the tenant's data needs).</summary>
    internal static ProblemHttpResult Forbidden() =>
        TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: "The token does not grant access to this tenant.");

    /// <summary>400 naming <paramref name="environment"/> when it breaks <see cref="Identifiers.IsEnvironment"/>; null when it is valid.</summary>
    internal static ProblemHttpResult? InvalidEnvironment(string environment) =>
        Identifiers.IsEnvironment(environment) ? null : BadRequest($"environment '{environment}' is not a valid environment name.");
}
