using System.Text.Json.Nodes;
using EntitlementDecision.ControlPlane.Catalog;
using EntitlementDecision.FakeStripe;
using EntitlementDecision.Stripe.Api;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>The catalog-gate command against the fake Stripe API (seeded with the catalog's two prices): exit codes, table and named mismatches.</summary>
public sealed class CatalogGateTests : IAsyncLifetime
{
    private FakeStripeServer _stripe = null!;
    private HttpClient _http = null!;
    private readonly List<string> _files = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string RepoCatalog => Path.Combine(RepoPaths.Root, "catalog", "plans.json");

    public async ValueTask InitializeAsync()
    {
        _stripe = await FakeStripeServer.StartAsync(new FakeStripeOptions(), cancellationToken: Ct);
        _http = new HttpClient();
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _stripe.DisposeAsync();
        foreach (var file in _files)
        {
            File.Delete(file);
        }
    }

    private async Task<(int Exit, string Output, string Error)> RunAsync(string[] args, Dictionary<string, string?>? overrides = null)
    {
        var variables = new Dictionary<string, string?>
        {
            ["STRIPE_API_KEY"] = "sk_test_gate_0123456789",
            ["STRIPE_API_BASE"] = _stripe.BaseUrl.ToString(),
            ["ED_CATALOG_PATH"] = RepoCatalog,
        };
        foreach (var (k, v) in overrides ?? [])
        {
            variables[k] = v;
        }

        var output = new StringWriter();
        var error = new StringWriter();
        var catalog = args is ["--catalog", var path] ? path : null;
        var exit = await CatalogGate.RunAsync(catalog, name => variables.GetValueOrDefault(name), o => { o.MaxNetworkRetries = 0; return new StripeNetBilling(_http, o); }, output, error, Ct);
        return (exit, output.ToString(), error.ToString());
    }

    /// <summary>The repository's catalog with <paramref name="edit"/> applied, written to a temporary file.</summary>
    private string CatalogWith(Action<JsonObject> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(RepoCatalog))!.AsObject();
        edit(json);
        var path = Path.Combine(Path.GetTempPath(), $"catalog-gate-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json.ToJsonString());
        _files.Add(path);
        return path;
    }

    private static JsonObject PlanPrice(JsonObject catalog, string plan) =>
        catalog["plans"]!.AsArray().Single(p => (string?)p!["id"] == plan)!["prices"]![0]!.AsObject();

    [Fact]
    public async Task RepositoryCatalog_MatchesStripe_Exit0WithATable()
    {
        var (exit, output, error) = await RunAsync([]);
        Assert.True(exit == 0, output + error);
        Assert.Contains("OK: 2 prices match", output);
        Assert.Matches(@"pro\s+price_1PgafmB7WZ01zgkW6dKueIc5\s+2000 usd/month\s+2000 usd/month\s+ok", output);
        Assert.Matches(@"business\s+price_1PgbusinessMonthlyDev01\s+9900 usd/month\s+9900 usd/month\s+ok", output);
        Assert.DoesNotContain("sk_test_gate", output + error);
        Assert.All(_stripe.State.Requests, r => Assert.Equal("GET", r.Method));
    }

    [Fact]
    public async Task MissingPriceAndDifferingAmount_Exit1NamingEach()
    {
        var path = CatalogWith(c =>
        {
            PlanPrice(c, "pro")["unit_amount"] = 2500;
            PlanPrice(c, "business")["id"] = "price_notInStripe01";
        });
        var (exit, output, _) = await RunAsync(["--catalog", path]);
        Assert.Equal(1, exit);
        Assert.Contains("MISMATCH pro/price_1PgafmB7WZ01zgkW6dKueIc5: unit_amount: catalog 2500, Stripe 2000", output);
        Assert.Contains("MISMATCH business/price_notInStripe01: price does not exist in Stripe", output);
        Assert.Contains("FAILED: 2 of 2 catalog prices do not match Stripe", output);
    }

    [Fact]
    public async Task InactiveOrDifferentIntervalOrCurrency_Exit1()
    {
        _stripe.State.AddPrice(new FakePrice("price_gateYearlyEur01", 9900, "eur", "year", Active: false));
        var path = CatalogWith(c => PlanPrice(c, "business")["id"] = "price_gateYearlyEur01");
        var (exit, output, _) = await RunAsync([], new() { ["ED_CATALOG_PATH"] = path });
        Assert.Equal(1, exit);
        Assert.Contains("MISMATCH business/price_gateYearlyEur01: price is not active in Stripe; currency: catalog usd, Stripe eur; interval: catalog month, Stripe year", output);
        Assert.DoesNotContain("MISMATCH pro/", output);
    }

    [Fact]
    public async Task InactivePlans_AreNotChecked()
    {
        var path = CatalogWith(c =>
        {
            PlanPrice(c, "business")["id"] = "price_notInStripe02";
            c["plans"]!.AsArray().Single(p => (string?)p!["id"] == "business")!["active"] = false;
        });
        var (exit, output, _) = await RunAsync(["--catalog", path]);
        Assert.True(exit == 0, output);
        Assert.Contains("OK: 1 prices match", output);
    }

    [Fact]
    public async Task UsageAndConfigurationErrors_Exit2()
    {
        Assert.NotEmpty(Cli.ControlPlaneCli.Build().Parse(["catalog-gate", "--bogus"]).Errors);
        Assert.NotEmpty(Cli.ControlPlaneCli.Build().Parse(["catalog-gate", "--catalog"]).Errors);
        var noKey = await RunAsync([], new() { ["STRIPE_API_KEY"] = null });
        Assert.Equal(2, noKey.Exit);
        Assert.Contains("STRIPE_API_KEY is required", noKey.Error);
        Assert.Equal(2, (await RunAsync(["--catalog", "/nonexistent/plans.json"])).Exit);
        var invalid = Path.Combine(Path.GetTempPath(), $"catalog-gate-{Guid.NewGuid():N}.json");
        File.WriteAllText(invalid, "{ not json");
        _files.Add(invalid);
        Assert.Equal(2, (await RunAsync(["--catalog", invalid])).Exit);

        _stripe.State.AddFault(new FakeFault("/v1/prices/*", 500, Count: 10));
        var down = await RunAsync([]);
        Assert.Equal(2, down.Exit);
        Assert.Contains("cannot decide", down.Error);
    }
}
