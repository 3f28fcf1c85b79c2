using System.Diagnostics;

namespace EntitlementDecision.LoadTests.Framework;

/// <summary>
/// HDR-like latency histogram over a fixed log-linear bucket array (microseconds, about 3% relative precision, up to ~12 days).
/// Recording is one Interlocked increment into a preallocated array: nothing is allocated per request, and many threads may record.
/// Values 0..63 us have their own bucket; above, each power of two is split into 32 linear sub-buckets.
/// </summary>
public sealed class LatencyHistogram
{
    private const int SubBits = 5;               // 32 sub-buckets per power of two
    private const int SubCount = 1 << SubBits;
    private const int LinearLimit = 2 * SubCount; // values below 64 are exact
    private const int MaxShift = 40;
    private readonly long[] _counts = new long[LinearLimit + (MaxShift * SubCount)];
    private long _count;
    private long _sum;
    private long _max;
    private long _min = long.MaxValue;

    public long Count => Volatile.Read(ref _count);

    public double MeanMicros => Count == 0 ? 0 : (double)Volatile.Read(ref _sum) / Count;

    public long MaxMicros => Count == 0 ? 0 : Volatile.Read(ref _max);

    public long MinMicros => Count == 0 ? 0 : Volatile.Read(ref _min);

    /// <summary>Records the time from <paramref name="startTimestamp"/> (a <see cref="Stopwatch.GetTimestamp"/> value) to now.</summary>
    public void RecordSince(long startTimestamp) => RecordTicks(Stopwatch.GetTimestamp() - startTimestamp);

    public void RecordTicks(long stopwatchTicks) => RecordMicros(stopwatchTicks <= 0 ? 0 : stopwatchTicks * 1_000_000 / Stopwatch.Frequency);

    public void Record(TimeSpan elapsed) => RecordMicros(elapsed.Ticks <= 0 ? 0 : elapsed.Ticks / 10);

    public void RecordMicros(long micros)
    {
        if (micros < 0)
        {
            micros = 0;
        }

        Interlocked.Increment(ref _counts[IndexOf(micros)]);
        Interlocked.Increment(ref _count);
        Interlocked.Add(ref _sum, micros);
        long seen;
        while (micros > (seen = Volatile.Read(ref _max)) && Interlocked.CompareExchange(ref _max, micros, seen) != seen)
        {
        }

        while (micros < (seen = Volatile.Read(ref _min)) && Interlocked.CompareExchange(ref _min, micros, seen) != seen)
        {
        }
    }

    /// <summary>The value at <paramref name="percentile"/> (0..100) in microseconds: the upper edge of its bucket, capped at the maximum.</summary>
    public double PercentileMicros(double percentile)
    {
        var total = Count;
        if (total == 0)
        {
            return 0;
        }

        var rank = (long)Math.Ceiling(percentile / 100.0 * total);
        rank = Math.Clamp(rank, 1, total);
        long cumulative = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            cumulative += Volatile.Read(ref _counts[i]);
            if (cumulative >= rank)
            {
                return Math.Min(UpperEdge(i), MaxMicros);
            }
        }

        return MaxMicros;
    }

    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++)
        {
            _counts[i] += other._counts[i];
        }

        _count += other._count;
        _sum += other._sum;
        _max = Math.Max(_max, other._max);
        _min = Math.Min(_min, other._min);
    }

    private static int IndexOf(long micros)
    {
        if (micros < LinearLimit)
        {
            return (int)micros;
        }

        var magnitude = 63 - (int)long.LeadingZeroCount(micros); // >= 6
        var shift = magnitude - SubBits;                      // >= 1: micros >> shift is in [32, 63]
        if (shift > MaxShift)
        {
            return LinearLimit + (MaxShift * SubCount) - 1;
        }

        return LinearLimit + ((shift - 1) * SubCount) + (int)((micros >> shift) - SubCount);
    }

    private static double UpperEdge(int index)
    {
        if (index < LinearLimit)
        {
            return index;
        }

        var shift = ((index - LinearLimit) / SubCount) + 1;
        var sub = ((index - LinearLimit) % SubCount) + SubCount;
        return ((long)(sub + 1) << shift) - 1;
    }
}
