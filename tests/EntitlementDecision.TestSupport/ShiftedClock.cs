namespace EntitlementDecision.TestSupport;

/// <summary>
/// The system clock shifted by <see cref="Offset"/> (set it or <see cref="Advance"/> it), or standing at one instant after
/// <see cref="StandAt"/>. Timers, delays and timestamps stay on the system's: for hosts whose background loops must keep running,
/// where FakeTimeProvider (timers fire only when the test advances it) would stall them.
/// </summary>
public sealed class ShiftedClock : TimeProvider
{
    private long _offsetTicks;
    private long _standingUtcTicks = -1;

    /// <summary>A clock standing at the start of the current second plus <paramref name="millisecondsIntoSecond"/>.</summary>
    public static ShiftedClock StandingInThisSecond(int millisecondsIntoSecond)
    {
        var clock = new ShiftedClock();
        clock.StandAt(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()).AddMilliseconds(millisecondsIntoSecond));
        return clock;
    }

    /// <summary>What is added to the system's time (ignored while the clock stands).</summary>
    public TimeSpan Offset
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));
        set => Interlocked.Exchange(ref _offsetTicks, value.Ticks);
    }

    /// <summary>Moves the clock forward by <paramref name="by"/> (thread-safe).</summary>
    public void Advance(TimeSpan by)
    {
        if (Interlocked.Read(ref _standingUtcTicks) >= 0)
        {
            Interlocked.Add(ref _standingUtcTicks, by.Ticks);
        }
        else
        {
            Interlocked.Add(ref _offsetTicks, by.Ticks);
        }
    }

    /// <summary>Stops the clock at <paramref name="instant"/>: every read answers it until it is advanced.</summary>
    public void StandAt(DateTimeOffset instant) => Interlocked.Exchange(ref _standingUtcTicks, instant.UtcTicks);

    public override DateTimeOffset GetUtcNow() =>
        Interlocked.Read(ref _standingUtcTicks) is >= 0 and var standing
            ? new DateTimeOffset(standing, TimeSpan.Zero)
            : System.GetUtcNow().AddTicks(Interlocked.Read(ref _offsetTicks));
}
