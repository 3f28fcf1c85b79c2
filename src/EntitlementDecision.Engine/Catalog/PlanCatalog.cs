using System.Collections.Frozen;

namespace EntitlementDecision.Engine.Catalog;

/// <summary>How a feature is granted: on/off, or counted in units against a limit per reset window.</summary>
public enum FeatureKind
{
    Boolean = 1,
    Metered = 2,
}

/// <summary>When a metered feature's counter starts again (UTC calendar boundaries).</summary>
public enum ResetPeriod
{
    None = 0,
    Day = 1,
    Month = 2,

    /// <summary>The subscription's billing period [current_period_start, current_period_end); the calendar month without a subscription.</summary>
    BillingPeriod = 3,
}

/// <summary>What happens when a metered feature's usage reaches its limit (catalog <c>limit_mode</c>).</summary>
public enum LimitMode
{
    /// <summary>Usage beyond the limit is denied and not counted.</summary>
    Hard = 1,

    /// <summary>Usage beyond the limit is accepted, counted and flagged as overage.</summary>
    Soft = 2,

    /// <summary>Usage is counted and reported; never denied.</summary>
    ReportOnly = 3,
}

/// <summary>
/// How a feature answers when the sidecar cannot confirm its answer (catalog <c>"degradation"</c>): see
/// <see cref="Decisions.DegradationPolicy"/>. Values match entitlements.v1.Degradation.
/// </summary>
public enum Degradation
{
    /// <summary>Beyond max_staleness, or without a usage count, the feature is denied (FallbackDenied).</summary>
    FailClosed = 1,

    /// <summary>The last known answer keeps answering however old; a metered check without a usage count is allowed when the
    /// requested units alone fit the limit.</summary>
    FailOpen = 2,
}

/// <summary>
/// A feature the catalog knows: its key, kind and, for metered features, unit and reset period.
/// <paramref name="IsWrite"/>: catalog <c>"access": "write"</c>; write features are denied while a tenant is read-only under dunning.
/// <paramref name="Degradation"/> and <paramref name="MaxStalenessSeconds"/> (catalog <c>"degradation"</c>, <c>"max_staleness_seconds"</c>,
/// >= 0): how the sidecar answers for the feature when it cannot confirm its snapshot or usage count.
/// </summary>
public sealed record FeatureDefinition(
    string Key,
    FeatureKind Kind,
    string? Unit,
    ResetPeriod ResetPeriod,
    string Description,
    bool IsWrite = false,
    Degradation Degradation = Degradation.FailClosed,
    long MaxStalenessSeconds = Decisions.DegradationPolicy.DefaultMaxStalenessSeconds);

/// <summary>
/// A feature a plan grants. <paramref name="Limit"/>: units per window for metered features, -1 = unlimited; -1 for boolean features.
/// <paramref name="LimitMode"/>: what reaching the limit does (metered features only).
/// </summary>
public sealed record PlanFeature(FeatureDefinition Feature, long Limit, LimitMode LimitMode = LimitMode.Hard)
{
    public const long Unlimited = -1;
}

/// <summary>
/// A Stripe price that buys a plan, as the catalog declares it: <paramref name="UnitAmount"/> in the currency's minor unit
/// (cents for usd), <paramref name="Currency"/> lower-case ISO 4217, <paramref name="Interval"/> Stripe's recurring interval
/// (day, week, month, year). The catalog gate compares these with Stripe's Price object.
/// </summary>
public sealed record CatalogPrice(string Id, long UnitAmount, string Currency, string Interval);

/// <summary>A plan of the catalog and the Stripe prices that buy it.</summary>
public sealed record Plan(
    string Id,
    string Name,
    bool Active,
    bool Purchasable,
    int TrialDays,
    IReadOnlyList<CatalogPrice> Prices,
    FrozenDictionary<string, PlanFeature> Features)
{
    /// <summary>The ids of <see cref="Prices"/>.</summary>
    public IEnumerable<string> StripePriceIds => Prices.Select(p => p.Id);
}

/// <summary>
/// The versioned plan catalog (source: <c>catalog/plans.json</c> in the repository).
/// <see cref="Version"/> is the file's declared version; <see cref="ContentHash"/> the SHA-256 of its bytes,
/// so two deployments can prove they resolve entitlements from the same catalog.
/// </summary>
public sealed class PlanCatalog
{
    private readonly FrozenDictionary<string, Plan> _plans;
    private readonly FrozenDictionary<string, Plan> _plansByPrice;

    public PlanCatalog(string version, string contentHash, string baselinePlanId, IReadOnlyList<FeatureDefinition> features, IReadOnlyList<Plan> plans)
    {
        Version = version;
        ContentHash = contentHash;
        Features = features.ToFrozenDictionary(f => f.Key, StringComparer.Ordinal);
        _plans = plans.ToFrozenDictionary(p => p.Id, StringComparer.Ordinal);
        Plans = plans;
        if (!_plans.TryGetValue(baselinePlanId, out var baseline))
        {
            throw new CatalogException($"baseline_plan_id '{baselinePlanId}' is not a plan of the catalog");
        }

        Baseline = baseline;
        var byPrice = new Dictionary<string, Plan>(StringComparer.Ordinal);
        foreach (var plan in plans)
        {
            foreach (var price in plan.StripePriceIds)
            {
                if (!byPrice.TryAdd(price, plan))
                {
                    throw new CatalogException($"Stripe price '{price}' maps to both '{byPrice[price].Id}' and '{plan.Id}'");
                }
            }
        }

        _plansByPrice = byPrice.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>The catalog file's declared version, e.g. "2026-11-21.1".</summary>
    public string Version { get; }

    /// <summary>Lower-case hex SHA-256 of the catalog file's bytes.</summary>
    public string ContentHash { get; }

    /// <summary>The plan every tenant has without a subscription, override or comp.</summary>
    public Plan Baseline { get; }

    public IReadOnlyList<Plan> Plans { get; }

    public FrozenDictionary<string, FeatureDefinition> Features { get; }

    public bool TryGetPlan(string planId, out Plan plan) => _plans.TryGetValue(planId, out plan!);

    /// <summary>The plan a Stripe price id buys; false when the price is not in the catalog.</summary>
    public bool TryGetPlanByPrice(string stripePriceId, out Plan plan) => _plansByPrice.TryGetValue(stripePriceId, out plan!);
}

/// <summary>The catalog file is invalid; the message names the offending entry.</summary>
public sealed class CatalogException(string message) : Exception(message);
