using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Cli;
using EntitlementDecision.ControlPlane.Hosting;
using EntitlementDecision.ControlPlane.Configuration;
using EntitlementDecision.ControlPlane.Observability;
using EntitlementDecision.Telemetry;

// A command (migrate, mint-token, catalog-gate, the ledger commands; --help lists them) runs and exits; anything else serves.
if (ControlPlaneCli.Handles(args))
{
    return await ControlPlaneCli.RunAsync(args);
}

var builder = WebApplication.CreateBuilder(HostArgs.WithoutConfigReload(args));
// appsettings.json ships next to the binary, but run.sh and test.sh start the host from the repository root (the content root),
// where there is none: read the shipped one first, so every later source (environment variables) still overrides it.
builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.ChainedConfigurationSource
{
    Configuration = new ConfigurationBuilder().SetBasePath(AppContext.BaseDirectory).AddJsonFile("appsettings.json", optional: true).Build(),
});
builder.AddEntitlementTelemetry(ControlPlaneTelemetrySetup.Settings);
builder.Services.AddControlPlane(builder.Configuration, builder.Environment.ContentRootPath);
builder.Services.AddControlPlaneOpenApi();
builder.WebHost.UseUrls(builder.Configuration[ControlPlaneOptions.UrlVariable] is { Length: > 0 } url ? url : ControlPlaneOptions.DefaultUrl);

var app = builder.Build();
// Malformed JSON bodies and other bad requests surface as BadHttpRequestException: answer with its status (400/413), not 500.
app.UseExceptionHandler(new ExceptionHandlerOptions { StatusCodeSelector = e => e is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError });
app.UseStatusCodePages();
// Probes and the Prometheus scrape ahead of authentication; keep them off the public ingress (see deploy/README.md).
app.UseLivezReadyz();
app.UseOpenTelemetryPrometheusScrapingEndpoint();
app.UseDeniedRequestMetrics();
app.UseAuthentication();
app.UseTenantStatusGate();
app.UseAuthorization();
app.UseRateLimiter();
app.MapControlPlane();
await app.RunAsync();
return 0;

/// <summary>The control plane's host (<c>public partial</c> for WebApplicationFactory in tests).</summary>
public partial class Program;
