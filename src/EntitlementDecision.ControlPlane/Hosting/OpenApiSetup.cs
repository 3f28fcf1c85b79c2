using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace EntitlementDecision.ControlPlane.Hosting;

/// <summary>
/// The OpenAPI document at <c>GET /openapi/v1.json</c> (Microsoft.AspNetCore.OpenApi), anonymous; every endpoint that
/// needs a token is marked with the bearer scheme and its 401/403 ProblemDetails answers. Scalar's browsable reference
/// at <c>/scalar</c> in Development only.
/// </summary>
internal static class OpenApiSetup
{
    private const string Scheme = "Bearer";

    public static IServiceCollection AddControlPlaneOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(options =>
        {
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "EntitlementDecision control plane",
                    Version = "v1",
                    Description = "Tenants, entitlements, Stripe checkout/portal/webhooks, usage and reconciliation. Errors are RFC 9457 ProblemDetails.",
                };
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[Scheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    BearerFormat = "JWT",
                    Description = "A JWT with sub, role (operator, support, owner, admin, member) and tenant_id; dev tokens from `mint-token`.",
                };
                return Task.CompletedTask;
            });
            options.AddOperationTransformer((operation, context, _) =>
            {
                operation.Responses ??= new OpenApiResponses();
                operation.Responses.TryAdd("default", Problem("An error as an RFC 9457 ProblemDetails: 400 (invalid input, naming the field), 404, 409, 413, 429, 502/503 (Stripe, PostgreSQL or Redis unavailable)."));
                var metadata = context.Description.ActionDescriptor.EndpointMetadata;
                if (metadata.OfType<IAllowAnonymous>().Any() || !metadata.OfType<IAuthorizeData>().Any())
                {
                    return Task.CompletedTask;
                }

                var policies = metadata.OfType<IAuthorizeData>().Select(a => a.Policy).OfType<string>().Distinct().ToList();
                operation.Security ??= [];
                operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(Scheme, context.Document)] = [] });
                operation.Description = (operation.Description is { Length: > 0 } d ? d + "\n\n" : "")
                    + $"Requires a bearer token{(policies.Count > 0 ? " (policy: " + string.Join(", ", policies) + ")" : "")}.";
                operation.Responses.TryAdd("401", Problem("No valid bearer token."));
                operation.Responses.TryAdd("403", Problem("The token's role or tenant does not allow this operation."));
                return Task.CompletedTask;
            });
        });

    public static void MapControlPlaneOpenApi(this WebApplication app)
    {
        app.MapOpenApi().AllowAnonymous();
        if (app.Environment.IsDevelopment())
        {
            app.MapScalarApiReference().AllowAnonymous();
        }
    }

    private static OpenApiResponse Problem(string description) => new()
    {
        Description = description,
        Content = new Dictionary<string, OpenApiMediaType> { ["application/problem+json"] = new() },
    };
}
