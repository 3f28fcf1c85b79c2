using System.Security.Cryptography;
using System.Text;
using EntitlementDecision.Engine.Catalog;

namespace EntitlementDecision.Engine.Tests;

public sealed class PlanCatalogLoaderTests
{
    [Fact]
    public void RepositoryCatalog_Loads()
    {
        var path = Path.Combine(RepoPaths.Root, "catalog", "plans.json");

        var catalog = PlanCatalogLoader.LoadFile(path);

        Assert.Equal("2026-11-21.1", catalog.Version);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))), catalog.ContentHash);
        Assert.Equal("free", catalog.Baseline.Id);
        Assert.Equal(["free", "pro", "business"], catalog.Plans.Select(p => p.Id));
        Assert.True(catalog.TryGetPlanByPrice("price_1PgafmB7WZ01zgkW6dKueIc5", out var pro));
        Assert.Equal("pro", pro.Id);
        Assert.Equal(14, pro.TrialDays);
        Assert.True(pro.Purchasable);
        Assert.False(catalog.Baseline.Purchasable);
        Assert.Equal(FeatureKind.Metered, catalog.Features["api_calls"].Kind);
        Assert.Equal(ResetPeriod.Month, catalog.Features["api_calls"].ResetPeriod);
        Assert.Equal(ResetPeriod.Day, catalog.Features["exports"].ResetPeriod);
        Assert.True(catalog.TryGetPlan("business", out var business));
        Assert.Equal(PlanFeature.Unlimited, business.Features["api_calls"].Limit);
        Assert.Equal(1000, catalog.Baseline.Features["api_calls"].Limit);
        Assert.Equal(PlanFeature.Unlimited, catalog.Baseline.Features["projects"].Limit);
        Assert.False(catalog.TryGetPlanByPrice("price_unknown", out _));
    }

    [Fact]
    public void SameBytes_SameContentHash()
    {
        var a = PlanCatalogLoader.Load(Encoding.UTF8.GetBytes(Valid));
        var b = PlanCatalogLoader.Load(Encoding.UTF8.GetBytes(Valid));
        var c = PlanCatalogLoader.Load(Encoding.UTF8.GetBytes(Valid + " "));

        Assert.Equal(a.ContentHash, b.ContentHash);
        Assert.NotEqual(a.ContentHash, c.ContentHash);
    }

    [Fact]
    public void LimitOmittedOrNull_Unlimited()
    {
        var catalog = PlanCatalogLoader.Load(Encoding.UTF8.GetBytes(Build(plans: """
            { "id": "free", "features": { "flag": {}, "calls": { "limit": null } } },
            { "id": "pro", "features": { "calls": {} } },
            { "id": "zero", "features": { "calls": { "limit": 0 } } }
            """)));

        Assert.True(catalog.TryGetPlan("free", out var free));
        Assert.True(catalog.TryGetPlan("pro", out var pro));
        Assert.True(catalog.TryGetPlan("zero", out var zero));
        Assert.Equal(PlanFeature.Unlimited, free.Features["calls"].Limit);
        Assert.Equal(PlanFeature.Unlimited, pro.Features["calls"].Limit);
        Assert.Equal(0, zero.Features["calls"].Limit);
    }

    private const string Features = """
        "flag": { "kind": "boolean" },
        "calls": { "kind": "metered", "unit": "call", "reset_period": "month" }
        """;

    private const string Plans = """
        { "id": "free", "features": { "flag": {}, "calls": { "limit": 10 } } },
        { "id": "pro", "stripe_price_ids": ["price_pro"], "features": { "flag": {}, "calls": { "limit": 100 } } }
        """;

    private static readonly string Valid = Build();

    private static string Build(string features = Features, string plans = Plans, string baseline = "free") =>
        $$"""{ "version": "t.1", "baseline_plan_id": "{{baseline}}", "features": { {{features}} }, "plans": [ {{plans}} ] }""";

    public static TheoryData<string, string, string> BrokenCatalogs() => new()
    {
        { "unknown feature in a plan", Build(plans: """{ "id": "free", "features": { "flag": {}, "nope": {} } }"""), "plans.free.features.nope" },
        { "duplicate plan", Build(plans: Plans + """, { "id": "pro" }"""), "plans.pro is declared twice" },
        {
            "duplicate price across plans",
            Build(plans: """{ "id": "free" }, { "id": "pro", "stripe_price_ids": ["price_x"] }, { "id": "biz", "stripe_price_ids": ["price_x"] }"""),
            "'price_x' maps to both 'pro' and 'biz'"
        },
        { "bad kind", Build(features: """ "flag": { "kind": "toggle" } """, plans: """{ "id": "free" }"""), "features.flag.kind 'toggle'" },
        { "missing kind", Build(features: """ "flag": { } """, plans: """{ "id": "free" }"""), "features.flag.kind" },
        {
            "bad reset period",
            Build(features: """ "calls": { "kind": "metered", "unit": "call", "reset_period": "week" } """, plans: """{ "id": "free" }"""),
            "features.calls.reset_period 'week'"
        },
        {
            "metered without unit",
            Build(features: """ "calls": { "kind": "metered", "reset_period": "day" } """, plans: """{ "id": "free" }"""),
            "features.calls.unit"
        },
        { "negative limit", Build(plans: """{ "id": "free", "features": { "calls": { "limit": -1 } } }"""), "plans.free.features.calls.limit" },
        { "string limit", Build(plans: """{ "id": "free", "features": { "calls": { "limit": "10" } } }"""), "plans.free.features.calls.limit" },
        { "fractional limit", Build(plans: """{ "id": "free", "features": { "calls": { "limit": 1.5 } } }"""), "plans.free.features.calls.limit" },
        { "non-string price", Build(plans: """{ "id": "free", "stripe_price_ids": [42] }"""), "plans.free.stripe_price_ids" },
        { "missing baseline", Build(baseline: "gold"), "baseline_plan_id 'gold'" },
        { "empty baseline", Build(baseline: ""), "catalog.baseline_plan_id" },
        { "plan without id", Build(plans: """{ "name": "x" }"""), "plans[].id" },
        { "not JSON", "{ nope", "not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(BrokenCatalogs))]
    public void BrokenCatalog_CatalogExceptionNamingTheEntry(string scenario, string json, string expectedInMessage)
    {
        var e = Assert.Throws<CatalogException>(() => PlanCatalogLoader.Load(Encoding.UTF8.GetBytes(json)));

        Assert.True(e.Message.Contains(expectedInMessage, StringComparison.Ordinal), $"{scenario}: '{e.Message}' should contain '{expectedInMessage}'");
    }
}
