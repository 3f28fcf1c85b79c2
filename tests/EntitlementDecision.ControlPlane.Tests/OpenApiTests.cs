using System.Net;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace EntitlementDecision.ControlPlane.Tests;

public sealed class OpenApiTests(ControlPlaneFixture fx) : IClassFixture<ControlPlaneFixture>
{
    [Fact]
    public async Task Document_IsAnonymous_AndListsEveryMappedEndpoint_WithItsAuthAndProblemDetails()
    {
        var (response, json) = await fx.SendAsync(HttpMethod.Get, "/openapi/v1.json", token: null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var paths = json!["paths"]!.AsObject();

        var mapped = fx.Factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<HttpMethodMetadata>() is not null && !e.RoutePattern.RawText!.StartsWith("/openapi", StringComparison.Ordinal) && !e.RoutePattern.RawText.StartsWith("/scalar", StringComparison.Ordinal)
                && !e.RoutePattern.RawText.TrimStart('/').StartsWith("admin", StringComparison.Ordinal)) // the console: HTML, not API
            .SelectMany(e => e.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods.Select(m => (Method: m.ToLowerInvariant(), Path: DocumentPath(e.RoutePattern.RawText!), Endpoint: e)))
            .ToList();
        Assert.True(mapped.Count >= 30, $"only {mapped.Count} endpoints mapped");
        foreach (var (method, path, endpoint) in mapped)
        {
            var operation = paths[path]?[method]?.AsObject();
            Assert.True(operation is not null, $"{method.ToUpperInvariant()} {path} is missing from the document");
            Assert.NotNull(operation["responses"]!["default"]);
            var secured = endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Authorization.IAuthorizeData>() is not null
                && endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Authorization.IAllowAnonymous>() is null;
            Assert.Equal(secured, operation["security"] is JsonArray { Count: > 0 });
            if (secured)
            {
                Assert.NotNull(operation["responses"]!["401"]);
                Assert.NotNull(operation["responses"]!["403"]);
            }
        }

        Assert.Equal("bearer", (string?)json["components"]!["securitySchemes"]!["Bearer"]!["scheme"]);
        Assert.Null(paths["/billing/webhook"]!["post"]!["security"]); // Stripe signs it; no token
    }

    // "/runs/{runId:long}/" is documented as "/runs/{runId}".
    private static string DocumentPath(string route) =>
        "/" + System.Text.RegularExpressions.Regex.Replace(route.Trim('/'), @"\{([^}:]+)(:[^}]*)?\}", "{$1}");
}
