using System.Collections.Frozen;
using System.Text.Json;

namespace EntitlementDecision.Engine.Catalog;

/// <summary>What happens to usage of a (service, feature) the catalog does not declare.</summary>
public enum UndeclaredUsage
{
    /// <summary>Accepted and counted, flagged undeclared (the integrity report counts it).</summary>
    Warn = 1,

    /// <summary>Answered rejected_undeclared; nothing counted.</summary>
    Reject = 2,
}

/// <summary>
/// Coverage declarations of the catalog: which metered features each service emits. Source: the catalog's
/// <c>"services": { "&lt;service&gt;": { "metrics": ["&lt;feature&gt;", ...] } }</c> and <c>"undeclared_usage": "warn" | "reject"</c>
/// (default warn; both optional: no section = nothing declared). Each metric must be a declared metered feature.
/// </summary>
public sealed record ServiceCoverage(FrozenDictionary<string, FrozenSet<string>> Services, UndeclaredUsage Mode)
{
    /// <summary>True when <paramref name="service"/> declared <paramref name="feature"/>.</summary>
    public bool IsDeclared(string service, string feature) => Services.TryGetValue(service, out var metrics) && metrics.Contains(feature);
}

/// <summary>Reads the coverage section of the catalog JSON; throws <see cref="CatalogException"/> naming the invalid entry.</summary>
public static class ServiceCoverageLoader
{
    public static ServiceCoverage LoadFile(string path, PlanCatalog catalog) => Load(File.ReadAllBytes(path), catalog);

    public static ServiceCoverage Load(ReadOnlySpan<byte> json, PlanCatalog catalog)
    {
        using var doc = JsonDocument.Parse(json.ToArray());
        var root = doc.RootElement;
        var mode = UndeclaredUsage.Warn;
        if (root.TryGetProperty("undeclared_usage", out var m))
        {
            mode = m.ValueKind == JsonValueKind.String ? m.GetString() switch
            {
                "warn" => UndeclaredUsage.Warn,
                "reject" => UndeclaredUsage.Reject,
                var other => throw new CatalogException($"catalog.undeclared_usage '{other}' is not 'warn' or 'reject'"),
            } : throw new CatalogException("catalog.undeclared_usage must be \"warn\" or \"reject\"");
        }

        var services = new Dictionary<string, FrozenSet<string>>(StringComparer.Ordinal);
        if (root.TryGetProperty("services", out var s))
        {
            if (s.ValueKind != JsonValueKind.Object)
            {
                throw new CatalogException("catalog.services must be an object");
            }

            foreach (var service in s.EnumerateObject())
            {
                var where = $"services.{service.Name}";
                if (service.Name.Length == 0 || service.Name.Contains('|', StringComparison.Ordinal))
                {
                    throw new CatalogException($"{where}: a service name must be non-empty and without '|'");
                }

                if (service.Value.ValueKind != JsonValueKind.Object || !service.Value.TryGetProperty("metrics", out var metrics) || metrics.ValueKind != JsonValueKind.Array)
                {
                    throw new CatalogException($"{where}.metrics must be an array of feature keys");
                }

                var set = new HashSet<string>(StringComparer.Ordinal);
                foreach (var metric in metrics.EnumerateArray())
                {
                    var key = metric.ValueKind == JsonValueKind.String ? metric.GetString()! : throw new CatalogException($"{where}.metrics holds a non-string");
                    if (!catalog.Features.TryGetValue(key, out var feature) || feature.Kind != FeatureKind.Metered)
                    {
                        throw new CatalogException($"{where}.metrics: '{key}' is not a metered feature of the catalog");
                    }

                    set.Add(key);
                }

                services.Add(service.Name, set.ToFrozenSet(StringComparer.Ordinal));
            }
        }

        return new ServiceCoverage(services.ToFrozenDictionary(StringComparer.Ordinal), mode);
    }
}
