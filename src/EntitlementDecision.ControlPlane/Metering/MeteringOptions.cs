using EntitlementDecision.ControlPlane.Configuration;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>
/// Metering settings (environment variables): ED_USAGE_LATE_WINDOW_HOURS (default 48: how long after it occurred an event is still
/// "late" rather than "too late"), ED_USAGE_ROLLUP_INTERVAL_SECONDS (default 60: how often the rollup job drains its queue),
/// ED_USAGE_ROLLUP_MIN_GAP_SECONDS (default 5: the least time between two rounds that recomputed something, so a busy ledger does not
/// trigger a recompute per commit),
/// ED_USAGE_LEDGER_CONSUMER ("on" default | "off": whether this process consumes the usage stream), ED_USAGE_LEDGER_CONSUMER_NAME
/// (default the machine name: the consumer name in group "ledger"; keep it stable across restarts so a restarted process
/// re-reads what it left pending), ED_USAGE_LEDGER_BATCH (default 500 entries per transaction), ED_USAGE_CLAIM_IDLE_SECONDS
/// (default 60: entries pending that long at another consumer are claimed). Invalid values fail start-up naming the variable (<see cref="EnvironmentOptions"/>).
/// </summary>
internal sealed class MeteringOptions : EnvironmentOptions
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

    protected internal override void Read(EnvironmentReader env)
    {
        LateWindow = TimeSpan.FromHours(env.Int(LateWindowVariable, (int)LateWindow.TotalHours, 0, 24 * 366));
        RollupInterval = TimeSpan.FromSeconds(env.Int(RollupIntervalVariable, (int)RollupInterval.TotalSeconds, 1, 86400));
        RollupMinGap = TimeSpan.FromSeconds(env.Int(RollupMinGapVariable, (int)RollupMinGap.TotalSeconds, 0, 3600));
        BatchSize = env.Int(BatchVariable, BatchSize, 1, 10000);
        ClaimIdle = TimeSpan.FromSeconds(env.Int(ClaimIdleVariable, (int)ClaimIdle.TotalSeconds, 1, 86400));
        ConsumerEnabled = env.Switch(ConsumerVariable, ConsumerEnabled);
        ConsumerName = env.Text(ConsumerNameVariable) ?? ConsumerName;
    }
}
