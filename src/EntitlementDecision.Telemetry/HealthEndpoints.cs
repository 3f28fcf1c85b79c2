using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace EntitlementDecision.Telemetry;

/// <summary>
/// Kubernetes-style probes as middleware (ahead of authentication, outside the API's endpoints): <c>GET /livez</c> runs no check
/// (200 while the process serves requests); <c>GET /readyz</c> runs every health check tagged <see cref="ReadyTag"/>: 200 when all
/// are Healthy or Degraded, 503 when any is Unhealthy. Body: {"status":"Healthy","checks":[{"name","status","description","duration_ms"}]}.
/// </summary>
internal static class HealthEndpoints
{
    public const string ReadyTag = "ready";

    public static IApplicationBuilder UseLivezReadyz(this IApplicationBuilder app)
    {
        app.UseHealthChecks("/livez", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteAsync, AllowCachingResponses = false });
        app.UseHealthChecks("/readyz", new HealthCheckOptions { Predicate = r => r.Tags.Contains(ReadyTag), ResponseWriter = WriteAsync, AllowCachingResponses = false });
        return app;
    }

    private static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.Select(e => new
            {
                name = e.Key,
                status = e.Value.Status.ToString(),
                description = e.Value.Description,
                duration_ms = Math.Round(e.Value.Duration.TotalMilliseconds, 1),
            }),
        };
        return JsonSerializer.SerializeAsync(context.Response.Body, body, cancellationToken: context.RequestAborted);
    }
}
