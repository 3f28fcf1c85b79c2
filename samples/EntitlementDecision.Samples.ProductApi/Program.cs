// A minimal product API that asks the sidecar before protected actions.
//   dotnet run                 serves on ED_SAMPLE_URL (default http://127.0.0.1:5290), sidecar at ED_SIDECAR_URL
//   dotnet run -- inventory    prints every endpoint with the entitlement it requires; exits 1 if a protected one has none
// The tenant comes from the X-Tenant-Id header here, as if a gateway had authenticated the caller and set it; a real service
// takes it from its own authentication (the default: the user's tenant_id claim).
using EntitlementDecision.Client;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Services.AddProblemDetails();
builder.Services.AddEntitlementDecisionClient(o =>
{
    o.Address = new Uri(builder.Configuration["ED_SIDECAR_URL"] is { Length: > 0 } url ? url : "http://127.0.0.1:50051");
    o.ResolveTenant = http => http.Request.Headers["X-Tenant-Id"].FirstOrDefault();
    // Listing projects must keep working through a sidecar outage; everything else fails closed.
    o.Fallbacks["projects"] = FallbackMode.FailOpen;
});
builder.WebHost.UseUrls(builder.Configuration["ED_SAMPLE_URL"] is { Length: > 0 } own ? own : "http://127.0.0.1:5290");

var app = builder.Build();
app.MapGet("/healthz", () => Results.Ok("ok"));

var api = app.MapGroup("/api").MarkEntitlementProtected();
api.MapGet("/projects", () => Results.Ok(new[] { "alpha", "beta" })).RequireEntitlement("projects");
api.MapGet("/reports/advanced", () => Results.Ok(new { report = "advanced", rows = 42 })).RequireEntitlement("advanced_reports");
api.MapPost("/exports", () => Results.Accepted()).RequireEntitlement("exports", requestedQuantity: 1);

if (args.Length > 0 && args[0] == "inventory")
{
    return EntitlementInventory.Report(((IEndpointRouteBuilder)app).DataSources, Console.Out);
}

await app.RunAsync();
return 0;

/// <summary>The sample's entry point, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
