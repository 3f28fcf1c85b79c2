using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Snapshots;

namespace EntitlementDecision.Engine.Usage;

/// <summary>
/// The rules of counting one usage event, stated once: what <see cref="IUsageCounter.RecordAsync"/> decides (dedupe, then coverage,
/// then the limit mode), how long a window's counter and an event id are kept, and the largest count. The test double applies
/// <see cref="Decide"/> directly; the Redis script (RedisUsageCounter) must decide the same atomically, with the inputs computed here
/// (limit mode name, counter lifetime, dedupe retention). UsageCounterContract runs one suite against both. Pure; allocates nothing.
/// </summary>
public static class UsageCounting
{
    /// <summary>How long a counter outlives its window (for late reads and the ledger check): as long as a usage event may be back-dated.</summary>
    public static readonly TimeSpan CounterRetention = UsageEventValidation.MaxAge;

    /// <summary>The shortest counter lifetime, so a counter is never given an expiry in the past (it would vanish and limit nothing).</summary>
    public static readonly TimeSpan MinCounterTtl = TimeSpan.FromHours(1);

    /// <summary>How long an event id is remembered: the idempotency horizon.</summary>
    public static readonly TimeSpan DedupeRetention = TimeSpan.FromDays(40);

    /// <summary>The largest count of a window (2^53 - 1): Redis Lua numbers are doubles, exact up to here. An event that would pass it is refused.</summary>
    public const long MaxCount = 9_007_199_254_740_991;

    /// <summary>
    /// How long <paramref name="window"/>'s counter lives from <paramref name="receivedAt"/>: until <see cref="CounterRetention"/> after the
    /// window ends, at least <see cref="MinCounterTtl"/>. Relative to the caller's clock, so a test clock or a skewed store clock cannot expire it early.
    /// </summary>
    public static TimeSpan CounterLifetime(QuotaWindow window, DateTimeOffset receivedAt)
    {
        var lifetime = window.End + CounterRetention - receivedAt;
        return lifetime > MinCounterTtl ? lifetime : MinCounterTtl;
    }

    /// <summary>The usage stream's name of a limit mode: hard, soft or report_only.</summary>
    public static string LimitModeName(LimitMode mode) => mode switch
    {
        LimitMode.Soft => "soft",
        LimitMode.ReportOnly => "report_only",
        _ => "hard",
    };

    /// <summary>
    /// The outcome of counting <paramref name="quantity"/> (> 0, the schema's rule) more units in a window holding <paramref name="used"/>,
    /// in this order: an event id counted before (<paramref name="duplicate"/>) is Duplicate; an undeclared (service, feature) pair while
    /// coverage rejects undeclared usage is RejectedUndeclared; units a hard limit (<paramref name="limit"/>, -1 unlimited) cannot fit are
    /// LimitExceeded; otherwise Accepted, with the units of this event beyond a soft limit as the overage (0 for hard and report-only).
    /// Only Accepted counts the units and keeps the event id.
    /// </summary>
    public static (UsageOutcome Outcome, long Overage) Decide(bool duplicate, bool undeclared, bool rejectUndeclared, LimitMode mode, long limit, long used, long quantity)
    {
        if (duplicate)
        {
            return (UsageOutcome.Duplicate, 0);
        }

        if (undeclared && rejectUndeclared)
        {
            return (UsageOutcome.RejectedUndeclared, 0);
        }

        var check = UsageLimits.Check(mode, limit, used, quantity);
        if (!check.Allowed)
        {
            return (UsageOutcome.LimitExceeded, 0);
        }

        return (UsageOutcome.Accepted, mode == LimitMode.Soft ? check.Overage : 0);
    }

    /// <summary>True when counting <paramref name="quantity"/> more units on <paramref name="used"/> would pass <see cref="MaxCount"/>: the store refuses the event.</summary>
    public static bool WouldPassMaxCount(long used, long quantity) => quantity > MaxCount - used;
}
