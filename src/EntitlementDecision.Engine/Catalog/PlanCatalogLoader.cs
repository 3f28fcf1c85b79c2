using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text.Json;

namespace EntitlementDecision.Engine.Catalog;

/// <summary>
/// Reads the catalog JSON (<c>catalog/plans.json</c>):
/// <c>{ "version", "baseline_plan_id", "features": { key: { "kind": "boolean"|"metered", "unit", "reset_period": "day"|"month"|"billing_period",
/// "access": "read"|"write" (default read), "degradation": "fail_closed"|"fail_open" (default fail_closed),
/// "max_staleness_seconds": n >= 0 (default 900), "description" } },
/// "plans": [ { "id", "name", "active", "purchasable", "trial_days",
/// "prices": [ { "id": "price_...", "unit_amount": 2000, "currency": "usd", "interval": "month" } ],
/// "features": { key: { "limit": n|null, "limit_mode": "hard"|"soft"|"report_only" (default hard) } } } ] }</c>.
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
                        "billing_period" => ResetPeriod.BillingPeriod,
                        var other => throw new CatalogException($"{where}.reset_period '{other}' is not 'day', 'month' or 'billing_period'"),
                    };
                    unit = RequiredString(f.Value, "unit", where);
                }

                var description = f.Value.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : "";
                var isWrite = OptionalString(f.Value, "access", where) switch
                {
                    null or "read" => false,
                    "write" => true,
                    var other => throw new CatalogException($"{where}.access '{other}' is not 'read' or 'write'"),
                };
                var degradation = OptionalString(f.Value, "degradation", where) switch
                {
                    null or "fail_closed" => Degradation.FailClosed,
                    "fail_open" => Degradation.FailOpen,
                    var other => throw new CatalogException($"{where}.degradation '{other}' is not 'fail_closed' or 'fail_open'"),
                };
                var maxStaleness = Decisions.DegradationPolicy.DefaultMaxStalenessSeconds;
                if (f.Value.TryGetProperty("max_staleness_seconds", out var ms)
                    && (ms.ValueKind != JsonValueKind.Number || !ms.TryGetInt64(out maxStaleness) || maxStaleness < 0))
                {
                    throw new CatalogException($"{where}.max_staleness_seconds must be a whole number >= 0");
                }

                features.Add(new FeatureDefinition(f.Name, kind, unit, reset, description, isWrite, degradation, maxStaleness));
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

                        var mode = LimitMode.Hard;
                        if (g.Value.ValueKind == JsonValueKind.Object && OptionalString(g.Value, "limit_mode", $"{where}.features.{g.Name}") is { } m)
                        {
                            if (def.Kind != FeatureKind.Metered)
                            {
                                throw new CatalogException($"{where}.features.{g.Name}.limit_mode is only for metered features");
                            }

                            mode = m switch
                            {
                                "hard" => LimitMode.Hard,
                                "soft" => LimitMode.Soft,
                                "report_only" => LimitMode.ReportOnly,
                                _ => throw new CatalogException($"{where}.features.{g.Name}.limit_mode '{m}' is not 'hard', 'soft' or 'report_only'"),
                            };
                        }

                        grants.Add(g.Name, new PlanFeature(def, limit, mode));
                    }
                }

                var prices = new List<CatalogPrice>();
                if (p.TryGetProperty("stripe_price_ids", out _))
                {
                    throw new CatalogException($"{where}.stripe_price_ids is no longer read: declare \"prices\": [{{\"id\", \"unit_amount\", \"currency\", \"interval\"}}]");
                }

                if (p.TryGetProperty("prices", out var pr))
                {
                    if (pr.ValueKind != JsonValueKind.Array)
                    {
                        throw new CatalogException($"{where}.prices must be an array");
                    }

                    var i = 0;
                    foreach (var price in pr.EnumerateArray())
                    {
                        prices.Add(ReadPrice(price, $"{where}.prices[{i++}]"));
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

    private static CatalogPrice ReadPrice(JsonElement price, string where)
    {
        var id = RequiredString(price, "id", where);
        if (!price.TryGetProperty("unit_amount", out var amount) || amount.ValueKind != JsonValueKind.Number || !amount.TryGetInt64(out var unitAmount) || unitAmount < 0)
        {
            throw new CatalogException($"{where}.unit_amount must be a whole number >= 0 (minor currency units)");
        }

        var currency = RequiredString(price, "currency", where);
        if (currency.Length != 3 || !currency.All(char.IsAsciiLetterLower))
        {
            throw new CatalogException($"{where}.currency '{currency}' must be a lower-case ISO 4217 code such as 'usd'");
        }

        var interval = RequiredString(price, "interval", where);
        if (interval is not ("day" or "week" or "month" or "year"))
        {
            throw new CatalogException($"{where}.interval '{interval}' is not day, week, month or year");
        }

        return new CatalogPrice(id, unitAmount, currency, interval);
    }

    private static string? OptionalString(JsonElement obj, string name, string where)
    {
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw new CatalogException($"{where}.{name} must be a string");
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
