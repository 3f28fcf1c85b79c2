using EntitlementDecision.Engine.Catalog;

namespace EntitlementDecision.Engine.Snapshots;

/// <summary>
/// The reset window a usage instant falls in: [Start, End) in UTC, and a stable <see cref="Key"/>
/// ("d20261121" for a day, "m202611" for a month, "b20261105093000" for the billing period starting 2026-11-05 09:30:00 UTC)
/// used to name counters. Computing the window allocates nothing; <see cref="Key"/> allocates its string.
/// </summary>
public readonly record struct QuotaWindow(DateTimeOffset Start, DateTimeOffset End, ResetPeriod Period)
{
    /// <summary>"d" + yyyyMMdd for a day window, "m" + yyyyMM for a month window, "b" + yyyyMMddHHmmss of the start for a billing period (UTC).</summary>
    public string Key => Period switch
    {
        ResetPeriod.Day => $"d{Start.UtcDateTime:yyyyMMdd}",
        ResetPeriod.BillingPeriod => $"b{Start.UtcDateTime:yyyyMMddHHmmss}",
        _ => $"m{Start.UtcDateTime:yyyyMM}",
    };

    /// <summary>The window of <paramref name="grant"/>'s reset period containing <paramref name="at"/>, billing periods anchored on <paramref name="snapshot"/>'s subscription period.</summary>
    public static QuotaWindow For(Snapshot snapshot, FeatureGrant grant, DateTimeOffset at) =>
        For(grant.ResetPeriod, at, snapshot.CurrentPeriodStart, snapshot.CurrentPeriodEnd);

    /// <summary>
    /// The window of <paramref name="period"/> containing <paramref name="at"/>. For <see cref="ResetPeriod.BillingPeriod"/> the window is the
    /// subscription's period [<paramref name="periodStart"/>, <paramref name="periodEnd"/>) when it contains <paramref name="at"/>; otherwise
    /// the periods roll monthly (Stripe's monthly interval; days clamp to the month's end) from the stored period end (for instants after it)
    /// or start (before it), so a late event counts in the period it belongs to. Only one bound known: monthly periods anchored on it.
    /// Neither: the calendar month (UTC), keyed as a billing period. ArgumentOutOfRangeException for <see cref="ResetPeriod.None"/>.
    /// </summary>
    public static QuotaWindow For(ResetPeriod period, DateTimeOffset at, DateTimeOffset? periodStart, DateTimeOffset? periodEnd)
    {
        if (period != ResetPeriod.BillingPeriod)
        {
            return For(period, at);
        }

        DateTimeOffset anchor;
        if (periodStart is { } start && periodEnd is { } end && start < end)
        {
            if (at >= start && at < end)
            {
                return new QuotaWindow(start.ToUniversalTime(), end.ToUniversalTime(), period);
            }

            anchor = at >= end ? end : start;
        }
        else if ((periodEnd ?? periodStart) is { } known)
        {
            anchor = known;
        }
        else
        {
            var month = For(ResetPeriod.Month, at);
            return new QuotaWindow(month.Start, month.End, period);
        }

        anchor = anchor.ToUniversalTime();
        var utc = at.ToUniversalTime();
        var months = ((utc.Year - anchor.Year) * 12) + utc.Month - anchor.Month;
        while (anchor.AddMonths(months) > utc)
        {
            months--;
        }

        while (anchor.AddMonths(months + 1) <= utc)
        {
            months++;
        }

        return new QuotaWindow(anchor.AddMonths(months), anchor.AddMonths(months + 1), period);
    }

    /// <summary>
    /// The window of <paramref name="period"/> containing <paramref name="at"/>; ArgumentOutOfRangeException for <see cref="ResetPeriod.None"/>
    /// and for <see cref="ResetPeriod.BillingPeriod"/> (which needs the subscription's period: use the other overload).
    /// </summary>
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

            case ResetPeriod.BillingPeriod:
                throw new ArgumentOutOfRangeException(nameof(period), period, "a billing-period window needs the subscription's period: use For(period, at, periodStart, periodEnd)");

            default:
                throw new ArgumentOutOfRangeException(nameof(period), period, "a metered feature needs a reset period");
        }
    }
}
