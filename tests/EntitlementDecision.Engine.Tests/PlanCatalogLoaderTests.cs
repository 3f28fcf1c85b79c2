using System.Security.Cryptography;
using System.Text;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Resolution;

namespace EntitlementDecision.Engine.Tests;

public sealed class PlanCatalogLoaderTests
{
    [Fact]
    public void RepositoryCatalog_Loads()
    {
        var path = Path.Combine(RepoPaths.Root, "catalog", "plans.json");

        var catalog = PlanCatalogLoader.LoadFile(path);

        Assert.Equal("2026-11-21.2", catalog.Version);
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
        Assert.Equal([new CatalogPrice("price_1PgafmB7WZ01zgkW6dKueIc5", 2000, "usd", "month")], pro.Prices);
        Assert.True(catalog.Features["projects"].IsWrite);
        Assert.False(catalog.Features["advanced_reports"].IsWrite);
    }

    [Fact]
    public void DegradationPolicy_ParsedWithDefaults_AndCarriedIntoTheResolvedGrant()
    {
        var catalog = PlanCatalogLoader.Load(Encoding.UTF8.GetBytes(Build(
            features: """
                "flag": { "kind": "boolean", "degradation": "fail_open", "max_staleness_seconds": 60 },
                "calls": { "kind": "metered", "unit": "call", "reset_period": "month" }
                """,
            plans: """{ "id": "free", "features": { "flag": {}, "calls": { "limit": 10 } } }""")));

        Assert.Equal((Degradation.FailOpen, 60L), (catalog.Features["flag"].Degradation, catalog.Features["flag"].MaxStalenessSeconds));
        Assert.Equal((Degradation.FailClosed, 900L), (catalog.Features["calls"].Degradation, catalog.Features["calls"].MaxStalenessSeconds));
        var snapshot = EntitlementResolver.Resolve(catalog, new EntitlementState("t1", "production", null, null, null, false, null, false), 1, DateTimeOffset.UnixEpoch);
        Assert.Equal((Degradation.FailOpen, 60L), (snapshot.Features["flag"].Degradation, snapshot.Features["flag"].MaxStalenessSeconds));
    }

    [Fact]
    public void AccessLimitModeBillingPeriodAndPrices_Parsed()
    {
        var catalog = PlanCatalogLoader.Load(Encoding.UTF8.GetBytes(Build(
            features: """
                "flag": { "kind": "boolean", "access": "write" },
                "reads": { "kind": "boolean", "access": "read" },
                "calls": { "kind": "metered", "unit": "call", "reset_period": "billing_period" }
                """,
            plans: """
                { "id": "free", "features": { "flag": {}, "reads": {}, "calls": { "limit": 10 } } },
                { "id": "soft", "prices": [{ "id": "price_s", "unit_amount": 1500, "currency": "eur", "interval": "year" }], "features": { "calls": { "limit": 100, "limit_mode": "soft" } } },
                { "id": "report", "features": { "calls": { "limit": 100, "limit_mode": "report_only" } } }
                """)));

        Assert.True(catalog.Features["flag"].IsWrite);
        Assert.False(catalog.Features["reads"].IsWrite);
        Assert.Equal(ResetPeriod.BillingPeriod, catalog.Features["calls"].ResetPeriod);
        Assert.Equal(LimitMode.Hard, catalog.Baseline.Features["calls"].LimitMode);
        Assert.True(catalog.TryGetPlan("soft", out var soft));
        Assert.Equal(LimitMode.Soft, soft.Features["calls"].LimitMode);
        Assert.Equal([new CatalogPrice("price_s", 1500, "eur", "year")], soft.Prices);
        Assert.True(catalog.TryGetPlanByPrice("price_s", out _));
        Assert.True(catalog.TryGetPlan("report", out var report));
        Assert.Equal(LimitMode.ReportOnly, report.Features["calls"].LimitMode);
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
        { "id": "pro", "prices": [{ "id": "price_pro", "unit_amount": 1000, "currency": "usd", "interval": "month" }], "features": { "flag": {}, "calls": { "limit": 100 } } }
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
            Build(plans: """{ "id": "free" }, { "id": "pro", "prices": [{ "id": "price_x", "unit_amount": 1, "currency": "usd", "interval": "month" }] }, { "id": "biz", "prices": [{ "id": "price_x", "unit_amount": 2, "currency": "usd", "interval": "month" }] }"""),
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
        { "legacy price ids", Build(plans: """{ "id": "free", "stripe_price_ids": ["price_x"] }"""), "plans.free.stripe_price_ids is no longer read" },
        { "prices not an array", Build(plans: """{ "id": "free", "prices": "price_x" }"""), "plans.free.prices must be an array" },
        { "price without id", Build(plans: """{ "id": "free", "prices": [{ "unit_amount": 1, "currency": "usd", "interval": "month" }] }"""), "plans.free.prices[0].id" },
        { "price without amount", Build(plans: """{ "id": "free", "prices": [{ "id": "p", "currency": "usd", "interval": "month" }] }"""), "plans.free.prices[0].unit_amount" },
        { "negative amount", Build(plans: """{ "id": "free", "prices": [{ "id": "p", "unit_amount": -5, "currency": "usd", "interval": "month" }] }"""), "plans.free.prices[0].unit_amount" },
        { "upper-case currency", Build(plans: """{ "id": "free", "prices": [{ "id": "p", "unit_amount": 5, "currency": "USD", "interval": "month" }] }"""), "plans.free.prices[0].currency 'USD'" },
        { "bad interval", Build(plans: """{ "id": "free", "prices": [{ "id": "p", "unit_amount": 5, "currency": "usd", "interval": "fortnight" }] }"""), "plans.free.prices[0].interval 'fortnight'" },
        { "bad degradation", Build(features: """ "flag": { "kind": "boolean", "degradation": "fail_sometimes" } """, plans: """{ "id": "free" }"""), "features.flag.degradation 'fail_sometimes'" },
        { "negative staleness", Build(features: """ "flag": { "kind": "boolean", "max_staleness_seconds": -1 } """, plans: """{ "id": "free" }"""), "features.flag.max_staleness_seconds must be a whole number >= 0" },
        { "bad access", Build(features: """ "flag": { "kind": "boolean", "access": "admin" } """, plans: """{ "id": "free" }"""), "features.flag.access 'admin'" },
        { "bad limit mode", Build(plans: """{ "id": "free", "features": { "calls": { "limit": 1, "limit_mode": "lenient" } } }"""), "plans.free.features.calls.limit_mode 'lenient'" },
        { "limit mode on a boolean", Build(plans: """{ "id": "free", "features": { "flag": { "limit_mode": "soft" } } }"""), "plans.free.features.flag.limit_mode is only for metered" },
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
