using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace EntitlementDecision.Client;

/// <summary>One endpoint of a host: its route, HTTP methods, whether it is marked protected, and the entitlement it requires.</summary>
public sealed record InventoryEntry(string Route, string Methods, bool Protected, string? FeatureKey)
{
    /// <summary>Marked protected (<see cref="RequireEntitlementExtensions.MarkEntitlementProtected"/>) yet naming no entitlement.</summary>
    public bool Violation => Protected && FeatureKey is null;
}

/// <summary>
/// Lists every endpoint of a host with the entitlement it requires, and finds the protected endpoints that name none (the
/// release gate: a protected action without an entitlement check is a leak). Use it in a test or behind a command.
/// </summary>
public static class EntitlementInventory
{
    /// <summary>The endpoints of <paramref name="sources"/> (a host's <see cref="EndpointDataSource"/>s), ordered by route.</summary>
    public static IReadOnlyList<InventoryEntry> List(IEnumerable<EndpointDataSource> sources) =>
        [.. sources.SelectMany(s => s.Endpoints).OfType<RouteEndpoint>()
            .Select(e => new InventoryEntry(
                "/" + (e.RoutePattern.RawText ?? "").TrimStart('/'),
                string.Join(",", e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["*"]),
                e.Metadata.GetMetadata<EntitlementProtectedMetadata>() is not null,
                e.Metadata.GetMetadata<RequiresEntitlementMetadata>()?.FeatureKey))
            .OrderBy(e => e.Route, StringComparer.Ordinal).ThenBy(e => e.Methods, StringComparer.Ordinal)];

    /// <summary>Writes the inventory as a table and returns 0, or 1 when an endpoint is protected without an entitlement (listed last).</summary>
    public static int Report(IEnumerable<EndpointDataSource> sources, TextWriter output)
    {
        var entries = List(sources);
        output.WriteLine($"{"method",-8} {"route",-40} {"protected",-9} entitlement");
        foreach (var e in entries)
        {
            output.WriteLine($"{e.Methods,-8} {e.Route,-40} {(e.Protected ? "yes" : "no"),-9} {e.FeatureKey ?? (e.Violation ? "MISSING" : "-")}");
        }

        var violations = entries.Where(e => e.Violation).ToList();
        foreach (var v in violations)
        {
            output.WriteLine($"inventory: {v.Methods} {v.Route} is marked protected but requires no entitlement: add .RequireEntitlement(\"feature\")");
        }

        return violations.Count == 0 ? 0 : 1;
    }
}
