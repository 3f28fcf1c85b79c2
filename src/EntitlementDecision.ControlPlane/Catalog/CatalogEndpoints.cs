using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;
using Microsoft.AspNetCore.Http.HttpResults;

namespace EntitlementDecision.ControlPlane.Catalog;

/// <summary>
/// A feature as the API shows it. <c>limit</c>: units per reset period, null = unlimited (and for boolean features); <c>unit</c>,
/// <c>reset_period</c> ("day" | "month" | "billing_period") and <c>limit_mode</c> ("hard" | "soft" | "report_only") only for metered
/// features; <c>access</c>: "read" or "write" (writes are denied while the tenant is read-only under dunning).
/// </summary>
internal sealed record FeatureDto(string Key, string Kind, long? Limit, string? Unit, string? ResetPeriod, string? LimitMode, string Access)
{
    public static FeatureDto From(PlanFeature f) => new(
        f.Feature.Key, KindName(f.Feature.Kind), f.Limit < 0 ? null : f.Limit, f.Feature.Unit, Reset(f.Feature.ResetPeriod),
        f.Feature.Kind == FeatureKind.Metered ? Mode(f.LimitMode) : null, f.Feature.IsWrite ? "write" : "read");

    public static FeatureDto From(FeatureGrant g, PlanCatalog catalog) => new(
        g.FeatureKey, KindName(g.Kind), g.Limit < 0 ? null : g.Limit, g.Unit ?? (catalog.Features.TryGetValue(g.FeatureKey, out var def) ? def.Unit : null),
        Reset(g.ResetPeriod), g.IsMetered ? Mode(g.LimitMode) : null, g.Write ? "write" : "read");

    private static string KindName(FeatureKind kind) => kind == FeatureKind.Metered ? "metered" : "boolean";

    private static string? Reset(Engine.Catalog.ResetPeriod period) => period switch
    {
        Engine.Catalog.ResetPeriod.Day => "day",
        Engine.Catalog.ResetPeriod.Month => "month",
        Engine.Catalog.ResetPeriod.BillingPeriod => "billing_period",
        _ => null,
    };

    private static string Mode(Engine.Catalog.LimitMode mode) => mode switch
    {
        Engine.Catalog.LimitMode.Soft => "soft",
        Engine.Catalog.LimitMode.ReportOnly => "report_only",
        _ => "hard",
    };
}

/// <summary>A Stripe price of a plan as the catalog declares it: <c>{ id, unit_amount (minor units), currency, interval }</c>.</summary>
internal sealed record PriceDto(string Id, long UnitAmount, string Currency, string Interval);

/// <summary>A catalog plan: <c>{ id, name, active, purchasable, trial_days, prices: [PriceDto], features: [FeatureDto] }</c>.</summary>
internal sealed record PlanDto(string Id, string Name, bool Active, bool Purchasable, int TrialDays, IReadOnlyList<PriceDto> Prices, IReadOnlyList<FeatureDto> Features);

/// <summary><c>GET /catalog/plans</c>: <c>{ version, content_hash (hex SHA-256 of plans.json), baseline_plan_id, plans: [PlanDto] }</c>.</summary>
internal sealed record CatalogDto(string Version, string ContentHash, string BaselinePlanId, IReadOnlyList<PlanDto> Plans);

/// <summary><c>GET /catalog/gate</c>: <c>{ catalog_version, ok, checked_at, rows: [{ plan_id, price_id, catalog, stripe, problem (null when it
/// matches) }] }</c>, the <see cref="CatalogGate"/> table for the catalog this control plane serves, asked of Stripe now.</summary>
internal sealed record CatalogGateDto(string CatalogVersion, bool Ok, DateTimeOffset CheckedAt, IReadOnlyList<CatalogGateRow> Rows);

/// <summary>Anonymous catalog read: the plans, features and Stripe prices the control plane resolves with; and the catalog gate (staff).</summary>
internal static class CatalogEndpoints
{
    public static void MapCatalogEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/catalog/plans", GetPlans).AllowAnonymous().WithName("GetCatalogPlans");
        app.MapGet("/catalog/gate", GetGate).RequireAuthorization(Auth.Policies.Staff);
    }

    /// <summary>200 with the gate's rows (ok: every price matches); 502 ProblemDetails when Stripe could not be asked.</summary>
    public static async Task<Results<Ok<CatalogGateDto>, ProblemHttpResult>> GetGate(PlanCatalog catalog, EntitlementDecision.Stripe.Api.IStripeBilling stripe, TimeProvider time, CancellationToken ct)
    {
        try
        {
            var rows = await CatalogGate.CheckAsync(catalog, stripe, ct);
            return TypedResults.Ok(new CatalogGateDto(catalog.Version, rows.All(r => r.Problem is null), time.GetUtcNow(), rows));
        }
        catch (global::Stripe.StripeException e)
        {
            return TypedResults.Problem(statusCode: 502, title: "Stripe could not be asked", detail: $"The catalog gate cannot decide: {e.StripeError?.Type ?? "no answer"} from Stripe.");
        }
    }

    public static Ok<CatalogDto> GetPlans(PlanCatalog catalog) => TypedResults.Ok(new CatalogDto(
        catalog.Version,
        catalog.ContentHash,
        catalog.Baseline.Id,
        catalog.Plans.Select(p => new PlanDto(
            p.Id, p.Name, p.Active, p.Purchasable, p.TrialDays, p.Prices.Select(x => new PriceDto(x.Id, x.UnitAmount, x.Currency, x.Interval)).ToList(),
            p.Features.Values.OrderBy(f => f.Feature.Key, StringComparer.Ordinal).Select(FeatureDto.From).ToList())).ToList()));
}
