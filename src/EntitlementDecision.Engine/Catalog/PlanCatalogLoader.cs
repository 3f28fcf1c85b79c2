using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text.Json;

namespace EntitlementDecision.Engine.Catalog;

/// <summary>
/// Reads the catalog JSON (<c>catalog/plans.json</c>):
/// <c>{ "version", "baseline_plan_id", "features": { key: { "kind": "boolean"|"metered", "unit", "reset_period": "day"|"month", "description" } },
/// "plans": [ { "id", "name", "active", "purchasable", "trial_days", "stripe_price_ids": [...], "features": { key: { "limit": n|null } } } ] }</c>.
/// Throws <see cref="CatalogException"/> naming the first invalid entry.
/// </summary>
public static class PlanCatalogLoader
{
    public static PlanCatalog LoadFile(string path) => Load(File.ReadAllBytes(path));

    public static PlanCatalog Load(ReadOnlySpan<byte> json)
    {
        var hash = Convert.ToHexStringLower(SHA256.HashData(json));
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException e)
        {
            throw new CatalogException($"catalog is not valid JSON: {e.Message}");
        }

        using (doc)
        {
            var root = doc.RootElement;
            var version = RequiredString(root, "version", "catalog");
            var baseline = RequiredString(root, "baseline_plan_id", "catalog");

            var features = new List<FeatureDefinition>();
            if (!root.TryGetProperty("features", out var featuresJson) || featuresJson.ValueKind != JsonValueKind.Object)
            {
                throw new CatalogException("catalog.features must be an object");
            }

            foreach (var f in featuresJson.EnumerateObject())
            {
                var where = $"features.{f.Name}";
                var kind = RequiredString(f.Value, "kind", where) switch
                {
                    "boolean" => FeatureKind.Boolean,
                    "metered" => FeatureKind.Metered,
                    var other => throw new CatalogException($"{where}.kind '{other}' is not 'boolean' or 'metered'"),
                };
                var reset = ResetPeriod.None;
                string? unit = null;
                if (kind == FeatureKind.Metered)
                {
                    reset = RequiredString(f.Value, "reset_period", where) switch
                    {
                        "day" => ResetPeriod.Day,
                        "month" => ResetPeriod.Month,
                        var other => throw new CatalogException($"{where}.reset_period '{other}' is not 'day' or 'month'"),
                    };
                    unit = RequiredString(f.Value, "unit", where);
                }

                var description = f.Value.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : "";
                features.Add(new FeatureDefinition(f.Name, kind, unit, reset, description));
            }

            var featureByKey = features.ToDictionary(f => f.Key, StringComparer.Ordinal);
            var plans = new List<Plan>();
            if (!root.TryGetProperty("plans", out var plansJson) || plansJson.ValueKind != JsonValueKind.Array)
            {
                throw new CatalogException("catalog.plans must be an array");
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in plansJson.EnumerateArray())
            {
                var id = RequiredString(p, "id", "plans[]");
                var where = $"plans.{id}";
                if (!seen.Add(id))
                {
                    throw new CatalogException($"{where} is declared twice");
                }

                var grants = new Dictionary<string, PlanFeature>(StringComparer.Ordinal);
                if (p.TryGetProperty("features", out var pf) && pf.ValueKind == JsonValueKind.Object)
                {
                    foreach (var g in pf.EnumerateObject())
                    {
                        if (!featureByKey.TryGetValue(g.Name, out var def))
                        {
                            throw new CatalogException($"{where}.features.{g.Name} is not a declared feature");
                        }

                        var limit = PlanFeature.Unlimited;
                        if (def.Kind == FeatureKind.Metered && g.Value.ValueKind == JsonValueKind.Object
                            && g.Value.TryGetProperty("limit", out var l) && l.ValueKind != JsonValueKind.Null)
                        {
                            // Anything but a whole number >= 0 or null is an error: a limit must never silently become unlimited.
                            if (l.ValueKind != JsonValueKind.Number || !l.TryGetInt64(out limit) || limit < 0)
                            {
                                throw new CatalogException($"{where}.features.{g.Name}.limit must be a whole number >= 0 (omit it or use null for unlimited), got {l.GetRawText()}");
                            }
                        }

                        grants.Add(g.Name, new PlanFeature(def, limit));
                    }
                }

                var prices = new List<string>();
                if (p.TryGetProperty("stripe_price_ids", out var pr) && pr.ValueKind == JsonValueKind.Array)
                {
                    foreach (var price in pr.EnumerateArray())
                    {
                        prices.Add(price.ValueKind == JsonValueKind.String ? price.GetString()! : throw new CatalogException($"{where}.stripe_price_ids holds a non-string"));
                    }
                }

                plans.Add(new Plan(
                    id,
                    p.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : id,
                    !p.TryGetProperty("active", out var a) || a.ValueKind != JsonValueKind.False,
                    p.TryGetProperty("purchasable", out var pu) && pu.ValueKind == JsonValueKind.True,
                    p.TryGetProperty("trial_days", out var t) && t.ValueKind == JsonValueKind.Number ? t.GetInt32() : 0,
                    prices,
                    grants.ToFrozenDictionary(StringComparer.Ordinal)));
            }

            return new PlanCatalog(version, hash, baseline, features, plans);
        }
    }

    private static string RequiredString(JsonElement obj, string name, string where)
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(v.GetString()))
        {
            throw new CatalogException($"{where}.{name} must be a non-empty string");
        }

        return v.GetString()!;
    }
}
