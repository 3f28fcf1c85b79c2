using EntitlementDecision.ControlPlane.Catalog;
using EntitlementDecision.ControlPlane.Tenants;
using Microsoft.AspNetCore.Mvc;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary><c>/admin/tenants</c>: <c>GET /tenants</c> with its search and filters (status, plan, access mode, region).</summary>
internal sealed class TenantsModel : ConsolePage
{
    [FromQuery(Name = "q")] public string? Q { get; set; }
    [FromQuery(Name = "status")] public string? Status { get; set; }
    [FromQuery(Name = "plan")] public string? Plan { get; set; }
    [FromQuery(Name = "access_mode")] public string? AccessMode { get; set; }
    [FromQuery(Name = "region")] public string? Region { get; set; }

    public List<TenantListItem>? Tenants { get; private set; }

    public List<string> Plans { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken ct)
    {
        var query = string.Join("&", new[] { ("q", Q), ("status", Status), ("plan", Plan), ("access_mode", AccessMode), ("region", Region) }
            .Where(p => !string.IsNullOrEmpty(p.Item2)).Select(p => $"{p.Item1}={Esc(p.Item2!)}"));
        Tenants = Take(await Api.GetAsync<List<TenantListItem>>("/tenants" + (query.Length > 0 ? "?" + query : ""), ct));
        Plans = Take(await Api.GetAsync<CatalogDto>("/catalog/plans", ct))?.Plans.Select(p => p.Id).ToList() ?? [];
    }
}
