using System.Globalization;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>
/// Metering settings (environment variables): ED_USAGE_LATE_WINDOW_HOURS (default 48: how long after it occurred an event is still
/// "late" rather than "too late"), ED_USAGE_ROLLUP_INTERVAL_SECONDS (default 60: how often the rollup job drains its queue),
/// ED_USAGE_ROLLUP_MIN_GAP_SECONDS (default 5: the least time between two rounds that recomputed something, so a busy ledger does not
/// trigger a recompute per commit),
/// ED_USAGE_LEDGER_CONSUMER ("on" default | "off": whether this process consumes the usage stream), ED_USAGE_LEDGER_CONSUMER_NAME
/// (default the machine name: the consumer name in group "ledger"; keep it stable across restarts so a restarted process
/// re-reads what it left pending), ED_USAGE_LEDGER_BATCH (default 500 entries per transaction), ED_USAGE_CLAIM_IDLE_SECONDS
/// (default 60: entries pending that long at another consumer are claimed). Invalid values fail start-up naming the variable.
/// </summary>
internal sealed class MeteringOptions
{
    public const string LateWindowVariable = "ED_USAGE_LATE_WINDOW_HOURS";
    public const string RollupIntervalVariable = "ED_USAGE_ROLLUP_INTERVAL_SECONDS";
    public const string RollupMinGapVariable = "ED_USAGE_ROLLUP_MIN_GAP_SECONDS";
    public const string ConsumerVariable = "ED_USAGE_LEDGER_CONSUMER";
    public const string ConsumerNameVariable = "ED_USAGE_LEDGER_CONSUMER_NAME";
    public const string BatchVariable = "ED_USAGE_LEDGER_BATCH";
    public const string ClaimIdleVariable = "ED_USAGE_CLAIM_IDLE_SECONDS";

    public TimeSpan LateWindow { get; set; } = TimeSpan.FromHours(48);

    public TimeSpan RollupInterval { get; set; } = TimeSpan.FromSeconds(60);

    public TimeSpan RollupMinGap { get; set; } = TimeSpan.FromSeconds(5);

    public bool ConsumerEnabled { get; set; } = true;

    public string ConsumerName { get; set; } = Environment.MachineName;

    public int BatchSize { get; set; } = 500;

    public TimeSpan ClaimIdle { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Reads the options; throws <see cref="InvalidOperationException"/> naming the variable for a bad value.</summary>
    public static MeteringOptions From(IConfiguration configuration)
    {
        var o = new MeteringOptions();
        if (Number(configuration, LateWindowVariable, 0, 24 * 366) is { } hours)
        {
            o.LateWindow = TimeSpan.FromHours(hours);
        }

        if (Number(configuration, RollupIntervalVariable, 1, 86400) is { } seconds)
        {
            o.RollupInterval = TimeSpan.FromSeconds(seconds);
        }

        if (Number(configuration, RollupMinGapVariable, 0, 3600) is { } gap)
        {
            o.RollupMinGap = TimeSpan.FromSeconds(gap);
        }

        if (Number(configuration, BatchVariable, 1, 10000) is { } batch)
        {
            o.BatchSize = (int)batch;
        }

        if (Number(configuration, ClaimIdleVariable, 1, 86400) is { } idle)
        {
            o.ClaimIdle = TimeSpan.FromSeconds(idle);
        }

        o.ConsumerEnabled = configuration[ConsumerVariable]?.Trim().ToLowerInvariant() switch
        {
            null or "" or "on" or "true" or "1" => true,
            "off" or "false" or "0" => false,
            _ => throw new InvalidOperationException($"{ConsumerVariable} must be 'on' or 'off'."),
        };
        if (configuration[ConsumerNameVariable] is { Length: > 0 } name)
        {
            o.ConsumerName = name.Trim();
        }

        return o;
    }

    private static long? Number(IConfiguration configuration, string variable, long min, long max)
    {
        var text = configuration[variable];
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        return long.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new InvalidOperationException($"{variable} must be a whole number between {min} and {max}.");
    }
}
