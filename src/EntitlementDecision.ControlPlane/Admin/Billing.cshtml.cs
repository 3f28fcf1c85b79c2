using EntitlementDecision.ControlPlane.Catalog;
using EntitlementDecision.ControlPlane.Reconciliation;
using EntitlementDecision.ControlPlane.Webhooks;
using Microsoft.AspNetCore.Mvc;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary>
/// <c>/admin/billing</c>: webhook events (filter by status, type, tenant; failed ones with their error and a retry), reconciliation runs
/// with drift by field, a run's mismatches and report downloads, and (<c>?gate=run</c>) the catalog gate against Stripe.
/// </summary>
internal sealed class BillingModel : ConsolePage
{
    [FromQuery(Name = "status")] public string? Status { get; set; }
    [FromQuery(Name = "type")] public string? Type { get; set; }
    [FromQuery(Name = "tenant_id")] public string? TenantId { get; set; }
    [FromQuery(Name = "run")] public long? Run { get; set; }
    [FromQuery(Name = "gate")] public string? Gate { get; set; }

    public WebhookStatsDto? Stats { get; private set; }
    public StripeEventPage? Events { get; private set; }
    public IReadOnlyList<ReconciliationRunDto> Runs { get; private set; } = [];
    public ReconciliationReport? Report { get; private set; }
    public CatalogGateDto? GateResult { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        var filters = string.Join("&", new[] { ("status", Status), ("type", Type), ("tenant_id", TenantId) }
            .Where(p => !string.IsNullOrEmpty(p.Item2)).Select(p => $"{p.Item1}={Esc(p.Item2!)}"));
        Stats = Take(await Api.GetAsync<WebhookStatsDto>("/billing/webhooks/stats", ct));
        Events = Take(await Api.GetAsync<StripeEventPage>("/billing/webhooks/events?limit=50" + (filters.Length > 0 ? "&" + filters : ""), ct));
        Runs = Take(await Api.GetAsync<List<ReconciliationRunDto>>("/billing/reconciliation/runs?limit=20", ct)) ?? [];
        if ((Run ?? Runs.FirstOrDefault()?.Id) is { } run)
        {
            Report = Take(await Api.GetAsync<ReconciliationReport>($"/billing/reconciliation/runs/{run}", ct));
        }

        if (Gate == "run")
        {
            GateResult = Take(await Api.GetAsync<CatalogGateDto>("/catalog/gate", ct));
        }
    }

    public async Task<IActionResult> OnPostRetryAsync(string eventId, CancellationToken ct)
    {
        var result = await Api.SendAsync(HttpMethod.Post, $"/billing/webhooks/events/{Esc(eventId)}/retry", null, ct);
        return await AfterAsync(result, $"Retry of {eventId}", ct);
    }

    public async Task<IActionResult> OnPostReconcileAsync(CancellationToken ct)
    {
        var result = await Api.SendAsync(HttpMethod.Post, "/billing/reconciliation/runs", new { }, ct);
        return await AfterAsync(result, "Reconciliation run", ct);
    }

    private async Task<IActionResult> AfterAsync(ApiResult<System.Text.Json.JsonElement> result, string what, CancellationToken ct)
    {
        if (!result.Ok)
        {
            Error = result.Error;
            await OnGetAsync(ct);
            return Page();
        }

        Flash = result.Status == 202 ? $"{what}: pending approval. It runs when another operator approves it." : $"{what}: done.";
        return Redirect("/admin/billing");
    }
}
