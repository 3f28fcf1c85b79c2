using System.Globalization;

namespace EntitlementDecision.Sidecar.DecisionLog;

/// <summary>What the decision log does when its in-memory queue is full.</summary>
internal enum DecisionLogFullMode
{
    /// <summary>The record is dropped and counted (outcome "dropped"); the call is never delayed.</summary>
    Drop,

    /// <summary>The call waits for space: nothing is lost, the wait adds to the call's latency.</summary>
    Block,
}

/// <summary>
/// Decision log settings, from environment variables:
/// ED_SIDECAR_DECISION_LOG (the spool directory; unset or empty: no decision log, no cost),
/// ED_SIDECAR_DECISION_LOG_SAMPLE (default 1: the fraction 0..1 of allowed decisions kept; denials and fallback answers are always kept),
/// ED_SIDECAR_DECISION_LOG_WHEN_FULL ("drop" default, or "block"; see <see cref="DecisionLogFullMode"/>),
/// ED_SIDECAR_DECISION_LOG_BUFFER (default 65536: queue capacity in records),
/// ED_SIDECAR_DECISION_LOG_MAX_FILE_MB (default 64: decisions.jsonl is rotated once it passes this size),
/// ED_SIDECAR_DECISION_LOG_MAX_FILES (default 8: rotated files kept; the oldest beyond are deleted).
/// </summary>
internal sealed class DecisionLogOptions
{
    /// <summary>The spool directory; null: the decision log is off.</summary>
    public string? Directory { get; set; }

    public bool Enabled => Directory is not null;

    /// <summary>Fraction 0..1 of allowed, non-fallback decisions kept.</summary>
    public double SampleAllowed { get; set; } = 1;

    public DecisionLogFullMode WhenFull { get; set; } = DecisionLogFullMode.Drop;

    /// <summary>Records the queue holds before <see cref="WhenFull"/> applies.</summary>
    public int Capacity { get; set; } = 65536;

    public long MaxFileBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Rotated files kept beside the current decisions.jsonl.</summary>
    public int MaxFiles { get; set; } = 8;

    /// <summary>Pause after a batch that left the queue under half full: one wake-up per pause rather than one per record.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Wait before writing again after a write failed (disk full, directory gone).</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Most records encoded into one write.</summary>
    public int MaxBatchRecords { get; set; } = 4096;

    /// <summary>Reads the environment; throws <see cref="InvalidOperationException"/> naming the variable that is invalid.</summary>
    public static DecisionLogOptions FromEnvironment(Func<string, string?> getVariable)
    {
        var options = new DecisionLogOptions { Directory = getVariable("ED_SIDECAR_DECISION_LOG") is { Length: > 0 } directory ? directory : null };
        if (getVariable("ED_SIDECAR_DECISION_LOG_SAMPLE") is { Length: > 0 } sample)
        {
            options.SampleAllowed = double.TryParse(sample, NumberStyles.Float, CultureInfo.InvariantCulture, out var fraction) && fraction is >= 0 and <= 1
                ? fraction
                : throw new InvalidOperationException($"ED_SIDECAR_DECISION_LOG_SAMPLE must be a number from 0 to 1 (the fraction of allowed decisions kept), got '{sample}'");
        }

        if (getVariable("ED_SIDECAR_DECISION_LOG_WHEN_FULL") is { Length: > 0 } whenFull)
        {
            options.WhenFull = whenFull switch
            {
                "drop" => DecisionLogFullMode.Drop,
                "block" => DecisionLogFullMode.Block,
                _ => throw new InvalidOperationException($"ED_SIDECAR_DECISION_LOG_WHEN_FULL must be 'drop' or 'block', got '{whenFull}'"),
            };
        }

        if (getVariable("ED_SIDECAR_DECISION_LOG_BUFFER") is { Length: > 0 } buffer)
        {
            options.Capacity = (int)ParsePositive("ED_SIDECAR_DECISION_LOG_BUFFER", buffer, int.MaxValue);
        }

        if (getVariable("ED_SIDECAR_DECISION_LOG_MAX_FILE_MB") is { Length: > 0 } maxMb)
        {
            options.MaxFileBytes = ParsePositive("ED_SIDECAR_DECISION_LOG_MAX_FILE_MB", maxMb, 1024 * 1024) * 1024 * 1024;
        }

        if (getVariable("ED_SIDECAR_DECISION_LOG_MAX_FILES") is { Length: > 0 } maxFiles)
        {
            options.MaxFiles = (int)ParsePositive("ED_SIDECAR_DECISION_LOG_MAX_FILES", maxFiles, 10_000);
        }

        return options;
    }

    private static long ParsePositive(string name, string value, long max) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= max
            ? n
            : throw new InvalidOperationException($"{name} must be a whole number from 1 to {max}, got '{value}'");
}
