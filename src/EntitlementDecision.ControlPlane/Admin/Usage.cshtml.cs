using System.Globalization;
using EntitlementDecision.ControlPlane.Metering;
using Microsoft.AspNetCore.Mvc;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary><c>/admin/usage?tenant=&amp;month=&amp;environment=</c>: a tenant's monthly statement and integrity report, with JSON and CSV
/// downloads of each and of the statement pack.</summary>
internal sealed class UsageModel(TimeProvider time) : ConsolePage
{
    [FromQuery(Name = "tenant")] public string? Tenant { get; set; }
    [FromQuery(Name = "month")] public string? Month { get; set; }
    [FromQuery(Name = "environment")] public string Environment { get; set; } = "production";

    public UsageStatement? Statement { get; private set; }
    public List<DailyIntegrityDto> Integrity { get; private set; } = [];

    public string StatementPath => $"/tenants/{Tenant}/usage/statements/{Month}";
    public string IntegrityPath => $"/tenants/{Tenant}/usage/integrity";
    public string Range { get; private set; } = "";

    public async Task OnGetAsync(CancellationToken ct)
    {
        Month ??= time.GetUtcNow().UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);
        if (string.IsNullOrEmpty(Tenant))
        {
            return;
        }

        Statement = Take(await Api.GetAsync<UsageStatement>($"/tenants/{Esc(Tenant)}/usage/statements/{Esc(Month)}?environment={Esc(Environment)}", ct));
        if (Statement is not null)
        {
            var first = DateOnly.FromDateTime(Statement.PeriodStart.UtcDateTime);
            Range = $"environment={Esc(Environment)}&from={first:yyyy-MM-dd}&to={first.AddMonths(1).AddDays(-1):yyyy-MM-dd}";
            Integrity = Take(await Api.GetAsync<List<DailyIntegrityDto>>($"{IntegrityPath}?{Range}", ct)) ?? [];
        }
    }

    public static string Link(string path) => "/admin/download?path=" + Esc(path);
}
