using EntitlementDecision.ControlPlane;
using EntitlementDecision.ControlPlane.Billing;
using EntitlementDecision.ControlPlane.Catalog;
using EntitlementDecision.ControlPlane.Configuration;
using EntitlementDecision.ControlPlane.Metering;
using EntitlementDecision.ControlPlane.Tenants;

// Commands: (none) serve | migrate | mint-token --tenant <id> --role <role> [--ttl-minutes 60] [--subject dev]
// | catalog-gate [--catalog path] (see Catalog/CatalogGate.cs) | ledger-verify | ledger-rebuild-counters | ledger-check-counters | usage-rollup (see Metering/MeteringCommands.cs)
switch (args.FirstOrDefault())
{
    case "migrate":
        return await Commands.MigrateAsync();
    case "mint-token":
        return Commands.MintToken(args[1..]);
    case CatalogGate.Command:
        return await CatalogGate.RunAsync(args[1..], Console.Out, Console.Error);
    case "ledger-verify" or "ledger-rebuild-counters" or "ledger-check-counters" or "usage-rollup":
        return await EntitlementDecision.ControlPlane.Metering.MeteringCommands.RunAsync(args[0], args[1..], Console.Out, Console.Error);
}

var builder = WebApplication.CreateBuilder(args);
// appsettings.json ships next to the binary, but run.sh and test.sh start the host from the repository root (the content root),
// where there is none: read the shipped one first, so every later source (environment variables) still overrides it.
builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.ChainedConfigurationSource
{
    Configuration = new ConfigurationBuilder().SetBasePath(AppContext.BaseDirectory).AddJsonFile("appsettings.json", optional: true).Build(),
});
builder.Services.AddControlPlane(builder.Configuration, builder.Environment.ContentRootPath);
builder.WebHost.UseUrls(builder.Configuration[ControlPlaneOptions.UrlVariable] is { Length: > 0 } url ? url : ControlPlaneOptions.DefaultUrl);

var app = builder.Build();
// Malformed JSON bodies and other bad requests surface as BadHttpRequestException: answer with its status (400/413), not 500.
app.UseExceptionHandler(new ExceptionHandlerOptions { StatusCodeSelector = e => e is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status500InternalServerError });
app.UseStatusCodePages();
app.UseAuthentication();
app.UseAuthorization();
app.UseRateLimiter();
app.MapCatalogEndpoints();
app.MapTenantEndpoints();
app.MapBillingEndpoints();
app.MapSelfServiceBillingEndpoints();
app.MapUsageEndpoints();
app.MapUsageIngestion();
app.MapGet("/healthz", Health.CheckAsync).AllowAnonymous();
await app.RunAsync();
return 0;

/// <summary>The control plane's host (<c>public partial</c> for WebApplicationFactory in tests).</summary>
public partial class Program;
