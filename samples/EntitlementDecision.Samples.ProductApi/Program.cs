// A minimal product API that asks the sidecar before protected actions.
//   dotnet run                 serves on ED_SAMPLE_URL (default http://127.0.0.1:5290), sidecar at ED_SIDECAR_URL; needs ED_TOKEN_SIGNING_KEY
//   dotnet run -- inventory    prints every endpoint with the entitlement it requires; exits 1 if a protected one has none
// Callers authenticate with a bearer token of the control plane's dev issuer (mint-token, see CallerAuthentication); the
// tenant is the token's tenant_id claim (the SDK's default resolver), never a header the caller could set.
using EntitlementDecision.Client;
using EntitlementDecision.Samples.ProductApi;

var builder = WebApplication.CreateSlimBuilder(args);
builder.Services.AddProblemDetails();
builder.Services.AddCallerAuthentication();
builder.Services.AddEntitlementDecisionClient(o =>
{
    o.Address = new Uri(builder.Configuration["ED_SIDECAR_URL"] is { Length: > 0 } url ? url : "http://127.0.0.1:50051");
    // o.ResolveTenant stays the default: the authenticated caller's tenant_id claim.
    // Listing projects must keep working through a sidecar outage; everything else fails closed.
    o.Fallbacks["projects"] = FallbackMode.FailOpen;
});
builder.WebHost.UseUrls(builder.Configuration["ED_SAMPLE_URL"] is { Length: > 0 } own ? own : "http://127.0.0.1:5290");

var app = builder.Build();
app.UseStatusCodePages(); // the bodiless 401 of a missing or invalid token becomes a ProblemDetails
app.UseAuthentication();
app.UseAuthorization();
app.MapGet("/healthz", () => Results.Ok("ok"));

// Every /api call needs a valid token (401 otherwise) before its entitlement is checked for the token's tenant.
var api = app.MapGroup("/api").MarkEntitlementProtected().RequireAuthorization();
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
