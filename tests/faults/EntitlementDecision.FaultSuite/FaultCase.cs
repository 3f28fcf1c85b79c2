using System.Diagnostics;
using System.Globalization;

namespace EntitlementDecision.FaultSuite;

/// <summary>One fault case: sets up its tenants, injects its fault under load, and asserts nothing was lost or counted twice.</summary>
internal abstract class FaultCase
{
    public abstract string Name { get; }

    /// <summary>One line: the fault and what must hold.</summary>
    public abstract string Description { get; }

    public abstract Task RunAsync(FaultStack stack, CaseReport report, CancellationToken ct);
}

/// <summary>What a case measured (figures, printed in order) and what it found wrong (failures; none = passed).</summary>
internal sealed class CaseReport(string name)
{
    private readonly List<(string Key, string Value)> _figures = [];
    private readonly List<string> _failures = [];
    private readonly List<string> _notes = [];

    public string Name { get; } = name;

    public IReadOnlyList<string> Failures => _failures;

    public Stopwatch Clock { get; } = Stopwatch.StartNew();

    public void Figure(string key, object value) => _figures.Add((key, value switch
    {
        TimeSpan t => t.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + " s",
        double d => d.ToString("0.##", CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    }));

    /// <summary>Records a failure unless <paramref name="condition"/> holds.</summary>
    public bool Check(bool condition, string failure)
    {
        if (!condition)
        {
            _failures.Add(failure);
        }

        return condition;
    }

    public void Fail(string failure) => _failures.Add(failure);

    /// <summary>Something worth knowing that is not a failure of the case (e.g. a documented, measured loss).</summary>
    public void Note(string note) => _notes.Add(note);

    public void Print(TextWriter output)
    {
        output.WriteLine($"== {Name}: {(_failures.Count == 0 ? "PASS" : "FAIL")} ({Clock.Elapsed.TotalSeconds:0.0} s)");
        var width = _figures.Count == 0 ? 0 : _figures.Max(f => f.Key.Length);
        foreach (var (key, value) in _figures)
        {
            output.WriteLine($"   {key.PadRight(width)}  {value}");
        }

        foreach (var note in _notes)
        {
            output.WriteLine($"   note: {note}");
        }

        foreach (var failure in _failures.Take(20))
        {
            output.WriteLine($"   FAILED: {failure}");
        }

        if (_failures.Count > 20)
        {
            output.WriteLine($"   ... and {_failures.Count - 20} more failures");
        }
    }
}

/// <summary>Polling with a generous functional deadline (never a latency assertion).</summary>
internal static class Poll
{
    /// <summary>Calls <paramref name="condition"/> every <paramref name="every"/> until it is true; returns how long that took, or null after <paramref name="within"/>.</summary>
    public static async Task<TimeSpan?> UntilAsync(Func<Task<bool>> condition, TimeSpan within, TimeSpan? every = null, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return clock.Elapsed;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                // A server that is coming back: try again until the deadline.
            }

            if (clock.Elapsed > within)
            {
                return null;
            }

            await Task.Delay(every ?? TimeSpan.FromMilliseconds(100), ct);
        }
    }
}
