using EntitlementDecision.Engine.Catalog;

namespace EntitlementDecision.Engine.Usage;

/// <summary>
/// What <c>quantity</c> more units do to a window's count under a limit mode.
/// <paramref name="Allowed"/>: whether they may be used (hard: only within the limit; soft and report-only: always).
/// <paramref name="OverLimit"/>: whether the count would be above the limit afterwards.
/// <paramref name="Overage"/>: how many of these units lie beyond the limit (units already over are not counted again).
/// </summary>
public readonly record struct LimitCheck(bool Allowed, bool OverLimit, long Overage);

/// <summary>
/// The limit arithmetic shared by CheckEntitlement (would it fit?) and RecordUsage. The Redis usage script
/// (RedisUsageCounter) applies the same rules atomically; keep the two in step.
/// </summary>
public static class UsageLimits
{
    /// <summary>
    /// <paramref name="limit"/>: units per window, -1 = unlimited; <paramref name="used"/>: units counted so far (>= 0);
    /// <paramref name="quantity"/>: units asked for (>= 0); 0 asks only whether the feature is granted, so it is always allowed.
    /// </summary>
    public static LimitCheck Check(LimitMode mode, long limit, long used, long quantity)
    {
        if (limit < 0)
        {
            return new LimitCheck(true, false, 0);
        }

        if (quantity == 0)
        {
            // Asks only whether the feature is granted: allowed in every mode; over-limit still reported.
            return new LimitCheck(true, used > limit, 0);
        }

        // Written without used + quantity, which could overflow for a quantity near long.MaxValue.
        var left = Math.Max(limit - used, 0);
        var over = quantity > limit - used;
        var overage = over ? quantity - left : 0;
        return new LimitCheck(mode != LimitMode.Hard || !over, over, overage);
    }
}
