using System.Globalization;
using EntitlementDecision.ControlPlane.Approvals;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Catalog;
using EntitlementDecision.ControlPlane.Entitlements;
using EntitlementDecision.ControlPlane.Invoices;
using EntitlementDecision.ControlPlane.Metering;
using EntitlementDecision.ControlPlane.Notices;
using EntitlementDecision.ControlPlane.Tenants;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary>One environment of the 360: the resolved entitlements and this period's usage from the daily rollups.</summary>
internal sealed record EnvironmentView(EntitlementDto Entitlements, DateOnly From, DateOnly To, IReadOnlyList<UsageView> Usage);

/// <summary>A metered feature's usage: <c>Used</c> in its current window (today for daily limits, else the period) against <c>Limit</c>
/// (null = unlimited), and per day of the period for the chart.</summary>
internal sealed record UsageView(string Feature, string? Unit, string? ResetPeriod, long? Limit, long Used, IReadOnlyList<(DateOnly Day, long Quantity)> Days);

/// <summary><c>/admin/tenants/{id}</c>, the tenant 360: identity, region, per environment the resolved entitlements (plan, source,
/// subscription, access mode and deadline) and usage against limits, invoices, notices, pending approvals, audit, and the actions.</summary>
internal sealed class TenantDetailModel(TimeProvider time) : ConsolePage
{
    public TenantDto? Tenant { get; private set; }
    public List<EnvironmentView> Environments { get; } = [];
    public List<InvoiceDto> Invoices { get; private set; } = [];
    public List<NoticeDto> Notices { get; private set; } = [];
    public List<ApprovalDto> Pending { get; private set; } = [];
    public List<AuditEntryDto> Audit { get; private set; } = [];
    public List<string> Plans { get; private set; } = [];

    public async Task OnGetAsync(string tenantId, CancellationToken ct)
    {
        Tenant = Take(await Api.GetAsync<TenantDto>($"/tenants/{Esc(tenantId)}", ct));
        if (Tenant is null)
        {
            return;
        }

        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        foreach (var environment in Tenant.Environments)
        {
            var e = Take(await Api.GetAsync<EntitlementDto>($"/tenants/{Esc(tenantId)}/entitlements?environment={Esc(environment)}", ct));
            if (e is null)
            {
                continue;
            }

            // This period: the subscription's current billing period, else the calendar month.
            var from = e.CurrentPeriodStart is { } start && start <= time.GetUtcNow() ? DateOnly.FromDateTime(start.UtcDateTime) : new DateOnly(today.Year, today.Month, 1);
            var daily = Take(await Api.GetAsync<DailyReportDto>(
                $"/tenants/{Esc(tenantId)}/usage/daily?environment={Esc(environment)}&from={from:yyyy-MM-dd}&to={today:yyyy-MM-dd}", ct));
            var usage = e.Features.Where(f => f.Kind == "metered").Select(f =>
            {
                var days = (daily?.Usage ?? []).Where(u => u.Feature == f.Key).Select(u => (u.Day, u.Quantity)).ToList();
                var used = f.ResetPeriod == "day" ? days.Where(d => d.Day == today).Sum(d => d.Quantity) : days.Sum(d => d.Quantity);
                return new UsageView(f.Key, f.Unit, f.ResetPeriod, f.Limit, used, days);
            }).ToList();
            Environments.Add(new EnvironmentView(e, from, today, usage));
        }

        Invoices = Take(await Api.GetAsync<List<InvoiceDto>>($"/tenants/{Esc(tenantId)}/invoices", ct)) ?? [];
        Notices = Take(await Api.GetAsync<List<NoticeDto>>($"/tenants/{Esc(tenantId)}/notices", ct)) ?? [];
        Pending = Take(await Api.GetAsync<List<ApprovalDto>>($"/approvals?status=pending&tenant_id={Esc(tenantId)}", ct)) ?? [];
        Audit = Take(await Api.GetAsync<AuditPage>($"/tenants/{Esc(tenantId)}/audit?limit=50", ct))?.Entries.ToList() ?? [];
        Plans = Take(await Api.GetAsync<CatalogDto>("/catalog/plans", ct))?.Plans.Select(p => p.Id).ToList() ?? [];
    }

    /// <summary>An inline SVG bar chart of the per-day quantities (no script), with the daily limit as a line when there is one.</summary>
    public static string Chart(UsageView usage, DateOnly from, DateOnly to)
    {
        var days = Math.Max(1, to.DayNumber - from.DayNumber + 1);
        var byDay = usage.Days.ToDictionary(d => d.Day, d => d.Quantity);
        var dailyLimit = usage.ResetPeriod == "day" ? usage.Limit : null;
        var max = Math.Max(1, Math.Max(byDay.Values.DefaultIfEmpty(0).Max(), dailyLimit ?? 0));
        const int height = 60, barWidth = 12;
        var svg = new System.Text.StringBuilder().Append(CultureInfo.InvariantCulture, $"<svg class=\"chart\" role=\"img\" aria-label=\"{usage.Feature} per day\" width=\"{days * barWidth + 2}\" height=\"{height + 2}\">");
        for (var i = 0; i < days; i++)
        {
            var day = from.AddDays(i);
            var q = byDay.GetValueOrDefault(day);
            var h = (int)Math.Round(q * (double)height / max);
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{i * barWidth + 2}\" y=\"{height - h + 1}\" width=\"{barWidth - 3}\" height=\"{h}\" fill=\"#1f4fa3\"><title>{day:yyyy-MM-dd}: {q}</title></rect>");
        }

        if (dailyLimit is { } limit)
        {
            var y = height - (int)Math.Round(limit * (double)height / max) + 1;
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"0\" x2=\"{days * barWidth + 2}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#a31f1f\" stroke-dasharray=\"3 2\"><title>daily limit {limit}</title></line>");
        }

        return svg.Append("</svg>").ToString();
    }
}
