using EntitlementDecision.Engine.Catalog;

namespace EntitlementDecision.Engine.Snapshots;

/// <summary>
/// The reset window a usage instant falls in: [Start, End) in UTC, and a stable <see cref="Key"/>
/// ("d20261121" for a day, "m202611" for a month) used to name counters. Computing the window allocates nothing;
/// <see cref="Key"/> allocates its string.
/// </summary>
public readonly record struct QuotaWindow(DateTimeOffset Start, DateTimeOffset End, ResetPeriod Period)
{
    /// <summary>"d" + yyyyMMdd for a day window, "m" + yyyyMM for a month window (UTC).</summary>
    public string Key => Period == ResetPeriod.Day ? $"d{Start.UtcDateTime:yyyyMMdd}" : $"m{Start.UtcDateTime:yyyyMM}";

    /// <summary>The window of <paramref name="period"/> containing <paramref name="at"/>; ArgumentOutOfRangeException for <see cref="ResetPeriod.None"/>.</summary>
    public static QuotaWindow For(ResetPeriod period, DateTimeOffset at)
    {
        var utc = at.UtcDateTime;
        switch (period)
        {
            case ResetPeriod.Day:
            {
                var start = new DateTimeOffset(utc.Year, utc.Month, utc.Day, 0, 0, 0, TimeSpan.Zero);
                return new QuotaWindow(start, start.AddDays(1), period);
            }

            case ResetPeriod.Month:
            {
                var start = new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero);
                return new QuotaWindow(start, start.AddMonths(1), period);
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(period), period, "a metered feature needs a reset period");
        }
    }
}
