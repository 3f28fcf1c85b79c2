using EntitlementDecision.ControlPlane.Catalog;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary><c>/admin/catalog</c>: the catalog this control plane resolves with (<c>GET /catalog/plans</c>): version, hash, plans
/// (active and legacy), their prices and features with limits.</summary>
internal sealed class CatalogModel : ConsolePage
{
    public CatalogDto? Catalog { get; private set; }

    public async Task OnGetAsync(CancellationToken ct) => Catalog = Take(await Api.GetAsync<CatalogDto>("/catalog/plans", ct));
}
