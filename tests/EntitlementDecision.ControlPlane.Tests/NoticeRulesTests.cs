using System.Text;
using System.Text.Json.Nodes;
using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.Engine.Catalog;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// The notice templates name the plan the tenant lands on, resolved with the catalog in force (no database: nothing is saved).
/// Notices follow the typed event an audit entry carries, whatever its action string.
/// </summary>
public sealed class NoticeRulesTests
{
    private static readonly DateTimeOffset At = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("free", null, false, "free")]       // the shipped baseline
    [InlineData("pro", null, false, "pro")]         // a catalog whose baseline is another plan
    [InlineData("free", "business", false, "business")] // an override outlives the subscription
    [InlineData("free", null, true, "pro")]         // a comped tenant keeps its plan
    public void Canceled_NamesThePlanTheTenantLandsOn(string baseline, string? overridePlan, bool comped, string expected)
    {
        using var db = Context(baseline);
        var before = View("active", overridePlan, comped);
        var after = before with { StripeStatus = "canceled", Version = 2 };
        AuditLog.Add(db, "t-1", "production", At, "stripe", "any.action", before, after, "evt_1", new EntitlementChanged(before, after));

        var notice = Assert.Single(db.ChangeTracker.Entries<Notice>()).Entity;
        Assert.Equal("canceled", notice.Kind);
        Assert.Equal(NoticeRules.TemplateVersion, notice.TemplateVersion);
        Assert.EndsWith($"is canceled; the tenant is now on the {expected} plan.", notice.Body, StringComparison.Ordinal);
        Assert.Equal(expected, (string)JsonNode.Parse(notice.Data)!["plan"]!);
    }

    [Fact]
    public void PlanChanged_FromNoPlan_NamesTheBaselineAsThePrevious()
    {
        using var db = Context("pro");
        var before = View(null, null, false) with { PlanId = null };
        var after = before with { OverridePlanId = "business", Version = 2 };
        AuditLog.Add(db, "t-1", "production", At, "operator:x", "any.action", before, after, "request:1", new EntitlementChanged(before, after));

        var notice = Assert.Single(db.ChangeTracker.Entries<Notice>()).Entity;
        Assert.Equal("The plan of tenant t-1 (production) changed from pro to business.", notice.Body);
    }

    [Fact]
    public void AnAuditEntryWithoutAnEvent_NotifiesNobody()
    {
        using var db = Context("free");
        var before = View("active", null, false);
        AuditLog.Add(db, "t-1", "production", At, "operator:x", "tenant.suspended", before, before with { StripeStatus = "canceled" }, "request:1");
        Assert.Empty(db.ChangeTracker.Entries<Notice>());
    }

    private static EntitlementAuditView View(string? status, string? overridePlan, bool comped) =>
        new("pro", status, "cus_1", "sub_1", null, null, false, null, 0, comped, overridePlan, 1);

    // The shipped catalog with its baseline set to another plan.
    private static EntitlementsDbContext Context(string baseline)
    {
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "catalog", "plans.json")))!;
        json["baseline_plan_id"] = baseline;
        var catalog = PlanCatalogLoader.Load(Encoding.UTF8.GetBytes(json.ToJsonString()));
        return new EntitlementsDbContext(new DbContextOptionsBuilder<EntitlementsDbContext>().UseNpgsql("Host=127.0.0.1;Database=unused").Options, catalog);
    }
}
