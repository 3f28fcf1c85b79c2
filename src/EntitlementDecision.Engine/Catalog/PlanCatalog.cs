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
}

/// <summary>A feature the catalog knows: its key, kind and, for metered features, unit and reset period.</summary>
public sealed record FeatureDefinition(string Key, FeatureKind Kind, string? Unit, ResetPeriod ResetPeriod, string Description);

/// <summary>A feature a plan grants. <paramref name="Limit"/>: units per window for metered features, -1 = unlimited; -1 for boolean features.</summary>
public sealed record PlanFeature(FeatureDefinition Feature, long Limit)
{
    public const long Unlimited = -1;
}

/// <summary>A plan of the catalog and the Stripe price ids that buy it.</summary>
public sealed record Plan(
    string Id,
    string Name,
    bool Active,
    bool Purchasable,
    int TrialDays,
    IReadOnlyList<string> StripePriceIds,
    FrozenDictionary<string, PlanFeature> Features);

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
