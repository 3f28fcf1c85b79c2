using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Engine.Tests;

/// <summary>Builds snapshots for evaluator tests: every test gets its own instance.</summary>
internal static class TestSnapshots
{
    public const string BooleanFeature = "projects";
    public const string MonthMetered = "api_calls";
    public const string DayMetered = "exports";
    public const string UnlimitedMetered = "events";
    public const string InactiveFeature = "sso";
    public const string WriteFeature = "project_edits";
    public const long MonthLimit = 10;
    public const long DayLimit = 3;

    public static Snapshot Create(
        bool suspended = false, long version = 7, string tenantId = "t-1", DateTimeOffset? graceEndsAt = null, DateTimeOffset? suspendAt = null) =>
        SnapshotBuilder.For(tenantId)
            .WithVersion(version)
            .WithSuspended(suspended)
            .WithBoolean(BooleanFeature)
            .WithMetered(MonthMetered, MonthLimit, ResetPeriod.Month)
            .WithMetered(DayMetered, DayLimit, ResetPeriod.Day)
            .WithMetered(UnlimitedMetered, -1, ResetPeriod.Month)
            .WithBoolean(WriteFeature, write: true)
            .WithInactive(InactiveFeature)
            .WithDunning(graceEndsAt, suspendAt)
            .Build();
}
