using System.Text;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Resolution;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Engine.Tests;

public sealed class ResolverTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);

    // free: projects, api_calls(10/month); pro: + reports, api_calls 100, exports 5/day; biz: + sso, api_calls unlimited.
    private const string CatalogJson = """
        {
          "version": "resolver.1",
          "baseline_plan_id": "free",
          "features": {
            "projects": { "kind": "boolean", "access": "write" },
            "reports": { "kind": "boolean" },
            "sso": { "kind": "boolean" },
            "api_calls": { "kind": "metered", "unit": "call", "reset_period": "month" },
            "exports": { "kind": "metered", "unit": "export", "reset_period": "day" }
          },
          "plans": [
            { "id": "free", "features": { "projects": {}, "api_calls": { "limit": 10 } } },
            { "id": "pro", "prices": [{ "id": "price_pro", "unit_amount": 2000, "currency": "usd", "interval": "month" }], "features": { "projects": {}, "reports": {}, "api_calls": { "limit": 100 }, "exports": { "limit": 5 } } },
            { "id": "biz", "prices": [{ "id": "price_biz", "unit_amount": 9900, "currency": "usd", "interval": "month" }], "features": { "projects": {}, "reports": {}, "sso": {}, "api_calls": { "limit": null } } }
          ]
        }
        """;

    private static PlanCatalog Catalog() => PlanCatalogLoader.Load(Encoding.UTF8.GetBytes(CatalogJson));

    private static EntitlementState State(string? subscriptionPlan = null, string? status = null, bool comped = false, string? overridePlan = null, bool suspended = false) =>
        new($"t-{Guid.NewGuid():N}", "staging", subscriptionPlan, status, Now.AddDays(10), comped, overridePlan, suspended);

    [Theory]
    [InlineData(null, SubscriptionState.None)]
    [InlineData("", SubscriptionState.None)]
    [InlineData("active", SubscriptionState.Active)]
    [InlineData("trialing", SubscriptionState.Trialing)]
    [InlineData("past_due", SubscriptionState.PastDue)]
    [InlineData("canceled", SubscriptionState.Canceled)]
    [InlineData("unpaid", SubscriptionState.Unpaid)]
    [InlineData("incomplete", SubscriptionState.Incomplete)]
    [InlineData("incomplete_expired", SubscriptionState.IncompleteExpired)]
    [InlineData("paused", SubscriptionState.Paused)]
    [InlineData("ACTIVE", SubscriptionState.Inactive)]
    [InlineData(" active", SubscriptionState.Inactive)]
    [InlineData("cancelled", SubscriptionState.Inactive)]
    [InlineData("something_new_from_stripe", SubscriptionState.Inactive)]
    public void MapStripeStatus_KnownStatusesMapAndUnknownFailClosed(string? status, SubscriptionState expected)
    {
        Assert.Equal(expected, EntitlementResolver.MapStripeStatus(status));
    }

    [Theory]
    // status, expected plan, expected source
    [InlineData("active", "pro", PlanSource.Subscription)]
    [InlineData("trialing", "pro", PlanSource.Subscription)]
    [InlineData("past_due", "pro", PlanSource.Subscription)]
    [InlineData("canceled", "free", PlanSource.Baseline)]
    [InlineData("unpaid", "pro", PlanSource.Subscription)]
    [InlineData("incomplete", "free", PlanSource.Baseline)]
    [InlineData("incomplete_expired", "free", PlanSource.Baseline)]
    [InlineData("paused", "free", PlanSource.Baseline)]
    [InlineData("bogus", "free", PlanSource.Baseline)]
    public void SubscriptionStatus_GrantsPlanOnlyWhileActiveTrialingPastDueOrUnpaid(string status, string plan, PlanSource source)
    {
        var s = EntitlementResolver.Resolve(Catalog(), State("pro", status), 3, Now);

        Assert.Equal(plan, s.PlanId);
        Assert.Equal(source, s.PlanSource);
        Assert.Equal(EntitlementResolver.MapStripeStatus(status), s.SubscriptionState);
        Assert.Equal(plan == "pro", s.Features.ContainsKey("reports"));
    }

    [Fact]
    public void OverrideBeatsCompedAndSubscription_OverridePlan()
    {
        var s = EntitlementResolver.Resolve(Catalog(), State("pro", "active", comped: true, overridePlan: "biz"), 1, Now);

        Assert.Equal("biz", s.PlanId);
        Assert.Equal(PlanSource.Override, s.PlanSource);
        Assert.True(s.Features.ContainsKey("sso"));
        Assert.Empty(s.InactiveFeatureKeys);
    }

    [Fact]
    public void OverrideOnInactiveSubscription_OverridePlanAndNoInactiveKeys()
    {
        var s = EntitlementResolver.Resolve(Catalog(), State("biz", "canceled", overridePlan: "pro"), 1, Now);

        Assert.Equal("pro", s.PlanId);
        Assert.Equal(PlanSource.Override, s.PlanSource);
        Assert.Empty(s.InactiveFeatureKeys);
    }

    [Fact]
    public void CompedBeatsInactiveSubscription_CompedPlan()
    {
        var s = EntitlementResolver.Resolve(Catalog(), State("pro", "canceled", comped: true), 1, Now);

        Assert.Equal("pro", s.PlanId);
        Assert.Equal(PlanSource.Comped, s.PlanSource);
        Assert.True(s.Comped);
        Assert.Equal(SubscriptionState.Canceled, s.SubscriptionState);
        Assert.Empty(s.InactiveFeatureKeys);
    }

    [Fact]
    public void CompedWithoutPlan_Baseline()
    {
        var s = EntitlementResolver.Resolve(Catalog(), State(comped: true), 1, Now);

        Assert.Equal("free", s.PlanId);
        Assert.Equal(PlanSource.Baseline, s.PlanSource);
    }

    [Fact]
    public void NoSubscription_BaselineWithNoInactiveKeys()
    {
        var s = EntitlementResolver.Resolve(Catalog(), State(), 1, Now);

        Assert.Equal("free", s.PlanId);
        Assert.Equal(PlanSource.Baseline, s.PlanSource);
        Assert.Equal(SubscriptionState.None, s.SubscriptionState);
        Assert.Equal(["api_calls", "projects"], s.Features.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(10, s.Features["api_calls"].Limit);
        Assert.Empty(s.InactiveFeatureKeys);
    }

    [Theory]
    [InlineData("gone", null, false, "free", PlanSource.Baseline)] // removed override plan, nothing else
    [InlineData("gone", "pro", false, "pro", PlanSource.Subscription)] // removed override plan falls to the subscription
    [InlineData("gone", "pro", true, "pro", PlanSource.Comped)] // removed override plan falls to comp
    public void OverridePlanRemovedFromCatalog_FallsThrough(string overridePlan, string? subscriptionPlan, bool comped, string plan, PlanSource source)
    {
        var s = EntitlementResolver.Resolve(Catalog(), State(subscriptionPlan, subscriptionPlan is null ? null : "active", comped, overridePlan), 1, Now);

        Assert.Equal(plan, s.PlanId);
        Assert.Equal(source, s.PlanSource);
    }

    [Theory]
    [InlineData("active", false)]
    [InlineData("canceled", false)]
    [InlineData("active", true)]
    public void SubscriptionPlanRemovedFromCatalog_BaselineWithoutInactiveKeys(string status, bool comped)
    {
        var s = EntitlementResolver.Resolve(Catalog(), State("retired_plan", status, comped), 1, Now);

        Assert.Equal("free", s.PlanId);
        Assert.Equal(PlanSource.Baseline, s.PlanSource);
        Assert.Empty(s.InactiveFeatureKeys);
    }

    [Theory]
    [InlineData("canceled", "pro", new[] { "exports", "reports" })]
    [InlineData("paused", "biz", new[] { "reports", "sso" })]
    [InlineData("incomplete_expired", "biz", new[] { "reports", "sso" })]
    [InlineData("unknown_status", "pro", new[] { "exports", "reports" })]
    public void InactiveSubscription_InactiveKeysAreThePlanFeaturesTheBaselineLacks(string status, string plan, string[] expected)
    {
        var s = EntitlementResolver.Resolve(Catalog(), State(plan, status), 1, Now);

        Assert.Equal(expected, s.InactiveFeatureKeys.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("active")]
    [InlineData("trialing")]
    [InlineData("past_due")]
    [InlineData("unpaid")]
    public void ActiveSubscription_NoInactiveKeys(string status)
    {
        Assert.Empty(EntitlementResolver.Resolve(Catalog(), State("pro", status), 1, Now).InactiveFeatureKeys);
    }

    [Fact]
    public void Resolve_CopiesStateVersionCatalogAndGrants()
    {
        var state = State("biz", "past_due", suspended: true);

        var s = EntitlementResolver.Resolve(Catalog(), state, 42, Now);

        Assert.Equal(state.TenantId, s.TenantId);
        Assert.Equal("staging", s.Environment);
        Assert.Equal(42, s.Version);
        Assert.True(s.Suspended);
        Assert.Equal(Now.AddDays(10), s.CurrentPeriodEnd);
        Assert.Equal(Now, s.GeneratedAt);
        Assert.Equal("resolver.1", s.CatalogVersion);
        Assert.Equal(new FeatureGrant("api_calls", FeatureKind.Metered, -1, ResetPeriod.Month, false, LimitMode.Hard, "call"), s.Features["api_calls"]);
        Assert.Equal(new FeatureGrant("sso", FeatureKind.Boolean, -1, ResetPeriod.None), s.Features["sso"]);
        Assert.Equal(new FeatureGrant("projects", FeatureKind.Boolean, -1, ResetPeriod.None, Write: true), s.Features["projects"]);
    }

    private static EntitlementState Dunning(string status, DateTimeOffset? started, string? overridePlan = null, bool comped = false) =>
        State("pro", status, comped, overridePlan) with { DunningStartedAt = started };

    [Theory]
    // days since the first failed payment → mode at Now, and the deadline's offset from the start in days (null = none)
    [InlineData(0.0, AccessMode.Grace, 3.0)]
    [InlineData(2.9, AccessMode.Grace, 3.0)]
    [InlineData(3.0, AccessMode.ReadOnly, 14.0)]
    [InlineData(13.9, AccessMode.ReadOnly, 14.0)]
    [InlineData(14.0, AccessMode.Suspended, null)]
    [InlineData(40.0, AccessMode.Suspended, null)]
    public void PastDue_DefaultDunningPolicy_GraceThenReadOnlyThenSuspended(double daysSinceFailure, AccessMode mode, double? deadlineDays)
    {
        var started = Now.AddDays(-daysSinceFailure);

        foreach (var status in new[] { "past_due", "unpaid" })
        {
            var s = EntitlementResolver.Resolve(Catalog(), Dunning(status, started), 1, Now);
            var access = s.AccessAt(Now);

            Assert.Equal("pro", s.PlanId);
            Assert.Equal(mode, access.Mode);
            Assert.Equal(deadlineDays is { } d ? started.AddDays(d) : null, access.Deadline);
        }
    }

    [Fact]
    public void Dunning_ModeFollowsTheClockWithoutANewSnapshot()
    {
        var s = EntitlementResolver.Resolve(Catalog(), Dunning("past_due", Now), 1, Now);

        Assert.Equal(AccessMode.Grace, s.AccessAt(Now.AddDays(1)).Mode);
        Assert.Equal(AccessMode.ReadOnly, s.AccessAt(Now.AddDays(5)).Mode);
        Assert.Equal(AccessMode.Suspended, s.AccessAt(Now.AddDays(15)).Mode);
    }

    [Fact]
    public void CustomDunningPolicy_Applies()
    {
        var policy = DunningPolicy.Create(TimeSpan.FromDays(1), TimeSpan.FromDays(2));

        var s = EntitlementResolver.Resolve(Catalog(), Dunning("past_due", Now.AddDays(-1.5)), 1, Now, policy);

        Assert.Equal(new Access(AccessMode.ReadOnly, Now.AddDays(0.5)), s.AccessAt(Now));
        Assert.Throws<ArgumentException>(() => DunningPolicy.Create(TimeSpan.FromDays(5), TimeSpan.FromDays(2)));
        Assert.Throws<ArgumentException>(() => DunningPolicy.Create(TimeSpan.FromDays(-1), TimeSpan.FromDays(2)));
    }

    [Fact]
    public void PastDueWithoutRecordedStart_GraceFromNow_UnpaidWithoutStart_Suspended()
    {
        Assert.Equal(new Access(AccessMode.Grace, Now.AddDays(3)), EntitlementResolver.Resolve(Catalog(), Dunning("past_due", null), 1, Now).AccessAt(Now));
        Assert.Equal(AccessMode.Suspended, EntitlementResolver.Resolve(Catalog(), Dunning("unpaid", null), 1, Now).AccessAt(Now).Mode);
    }

    [Theory]
    [InlineData("active")]
    [InlineData("trialing")]
    public void DunningStartWhileActiveOrTrialing_FullAccess(string status)
    {
        var s = EntitlementResolver.Resolve(Catalog(), Dunning(status, Now.AddDays(-20)), 1, Now);

        Assert.Equal(AccessMode.Full, s.AccessAt(Now).Mode);
    }

    [Fact]
    public void OverrideOrCompDuringDunning_FullAccess()
    {
        Assert.Equal(AccessMode.Full, EntitlementResolver.Resolve(Catalog(), Dunning("past_due", Now.AddDays(-20), overridePlan: "biz"), 1, Now).AccessAt(Now).Mode);
        Assert.Equal(AccessMode.Full, EntitlementResolver.Resolve(Catalog(), Dunning("past_due", Now.AddDays(-20), comped: true), 1, Now).AccessAt(Now).Mode);
    }

    [Fact]
    public void TrialOrCancelAtPeriodEnd_FullAccessWithThePeriodEndAsDeadline()
    {
        var trial = EntitlementResolver.Resolve(Catalog(), State("pro", "trialing"), 1, Now);
        var canceling = EntitlementResolver.Resolve(Catalog(), State("pro", "active") with { CancelAtPeriodEnd = true }, 1, Now);
        var active = EntitlementResolver.Resolve(Catalog(), State("pro", "active"), 1, Now);

        Assert.Equal(new Access(AccessMode.Full, Now.AddDays(10)), trial.AccessAt(Now));
        Assert.Equal(new Access(AccessMode.Full, Now.AddDays(10)), canceling.AccessAt(Now));
        Assert.Equal(new Access(AccessMode.Full, null), active.AccessAt(Now));
    }

    [Fact]
    public void OperatorSuspension_SuspendedAccess()
    {
        Assert.Equal(AccessMode.Suspended, EntitlementResolver.Resolve(Catalog(), State("pro", "active", suspended: true), 1, Now).AccessAt(Now).Mode);
    }
}
