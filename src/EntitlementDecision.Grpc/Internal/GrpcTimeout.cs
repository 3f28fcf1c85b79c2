using System.Globalization;

namespace EntitlementDecision.Grpc.Internal;

/// <summary>
/// grpc-timeout: TimeoutValue (1 to 8 ASCII digits) followed by TimeoutUnit
/// (H hours, M minutes, S seconds, m milliseconds, u microseconds, n nanoseconds).
/// </summary>
internal static class GrpcTimeout
{
    private const int MaxDigits = 8;
    private const long MaxValue = 99_999_999;

    /// <summary>Parses a grpc-timeout value; false for anything malformed (the server then ignores the header).</summary>
    public static bool TryParse(ReadOnlySpan<char> value, out TimeSpan timeout)
    {
        timeout = default;
        var digits = value.Length - 1;
        if (digits < 1 || digits > MaxDigits)
        {
            return false;
        }

        long amount = 0;
        for (var i = 0; i < digits; i++)
        {
            var c = value[i];
            if (c < '0' || c > '9')
            {
                return false;
            }

            amount = (amount * 10) + (c - '0');
        }

        // At most 99,999,999 hours = 3.6e18 ticks: no overflow of long.
        long ticks;
        switch (value[digits])
        {
            case 'H': ticks = amount * TimeSpan.TicksPerHour; break;
            case 'M': ticks = amount * TimeSpan.TicksPerMinute; break;
            case 'S': ticks = amount * TimeSpan.TicksPerSecond; break;
            case 'm': ticks = amount * TimeSpan.TicksPerMillisecond; break;
            case 'u': ticks = amount * TimeSpan.TicksPerMicrosecond; break;
            case 'n': ticks = (amount + 99) / 100; break; // 1 tick = 100 ns, round up so 1n is not "no time at all"
            default: return false;
        }

        timeout = TimeSpan.FromTicks(ticks);
        return true;
    }

    /// <summary>
    /// Formats a positive timeout with the finest unit that fits in 8 digits, rounding up
    /// (a deadline is never sent shorter than asked).
    /// </summary>
    public static string Format(TimeSpan timeout)
    {
        var ticks = timeout.Ticks;
        if (ticks <= 0)
        {
            return "0n";
        }

        if (TryUnit(ticks, 100, 'n', out var s)
            || TryUnit(ticks, TimeSpan.TicksPerMicrosecond, 'u', out s)
            || TryUnit(ticks, TimeSpan.TicksPerMillisecond, 'm', out s)
            || TryUnit(ticks, TimeSpan.TicksPerSecond, 'S', out s)
            || TryUnit(ticks, TimeSpan.TicksPerMinute, 'M', out s))
        {
            return s;
        }

        var hours = Math.Min(CeilDiv(ticks, TimeSpan.TicksPerHour), MaxValue);
        return hours.ToString(CultureInfo.InvariantCulture) + "H";
    }

    private static bool TryUnit(long ticks, long ticksPerUnit, char unit, out string formatted)
    {
        long amount;
        if (ticksPerUnit == 100)
        {
            // nanoseconds: ticks * 100
            if (ticks > MaxValue / 100)
            {
                formatted = string.Empty;
                return false;
            }

            amount = ticks * 100;
        }
        else
        {
            amount = CeilDiv(ticks, ticksPerUnit);
        }

        if (amount > MaxValue)
        {
            formatted = string.Empty;
            return false;
        }

        formatted = amount.ToString(CultureInfo.InvariantCulture) + unit;
        return true;
    }

    private static long CeilDiv(long a, long b) => (a + b - 1) / b;
}
