using EntitlementDecision.ControlPlane.Configuration;

namespace EntitlementDecision.ControlPlane.Webhooks;

/// <summary>
/// Webhook processing, dunning and reconciliation settings, read from environment variables (any IConfiguration source):
/// <list type="bullet">
/// <item><c>ED_WEBHOOK_MAX_ATTEMPTS</c> (default 8): processing attempts of a stored event before it is marked failed.</item>
/// <item><c>ED_WEBHOOK_WORKERS</c> (default 4, 1..64): events processed at once; never two of the same tenant.</item>
/// <item><c>ED_WEBHOOK_BATCH_SIZE</c> (default 32, 1..64): tenants whose oldest due event a worker takes at once, with up to 8 more
/// of each (at most 4x this many events), applied in one transaction in both modes (re-reads happen before any row lock).</item>
/// <item><c>ED_WEBHOOK_RETRY_BASE_MS</c> (default 2000): backoff after attempt n is base * 2^(n-1), at most one hour.</item>
/// <item><c>ED_WEBHOOK_REREAD</c> (<c>on</c> default | <c>off</c>): re-read the subscription from Stripe's API for the events whose
/// payload cannot decide (a same-second tie; README, "Order rule"); off: apply every payload with the order rule, e.g. offline.</item>
/// <item><c>ED_WEBHOOK_PAYLOAD_FALLBACK_AFTER</c> (default 3): after this many attempts on which Stripe's API was unreachable
/// (network, 429, 5xx), apply the event's payload with the order check instead of waiting for the API.</item>
/// <item><c>ED_WEBHOOK_RATE_LIMIT_PER_SECOND</c> (default 100; 0 = no limit) and <c>ED_WEBHOOK_RATE_LIMIT_BURST</c> (default 200):
/// token bucket of <c>POST /billing/webhook</c>; beyond it 429 ProblemDetails with Retry-After.</item>
/// <item><c>ED_DUNNING_FULL_ACCESS_DAYS</c> (default 3) and <c>ED_DUNNING_READ_ONLY_DAYS</c> (default 14): the dunning policy,
/// counted from the first failed payment: full access (grace), then read-only, then suspended. Decimals allowed (the demo uses
/// 0.0001 = 8.64 s).</item>
/// <item><c>ED_RECONCILE_INTERVAL_MINUTES</c> (default 60; 0 = no scheduled run): reconciliation with Stripe.</item>
/// </list>
/// Validated at start-up (<see cref="EnvironmentOptions"/>); failures name the variable.
/// </summary>
internal sealed class BillingOptions : EnvironmentOptions
{
    public const string MaxAttemptsVariable = "ED_WEBHOOK_MAX_ATTEMPTS";
    public const string WorkersVariable = "ED_WEBHOOK_WORKERS";
    public const string BatchSizeVariable = "ED_WEBHOOK_BATCH_SIZE";
    public const string RetryBaseVariable = "ED_WEBHOOK_RETRY_BASE_MS";
    public const string RereadVariable = "ED_WEBHOOK_REREAD";
    public const string FallbackAfterVariable = "ED_WEBHOOK_PAYLOAD_FALLBACK_AFTER";
    public const string RateLimitVariable = "ED_WEBHOOK_RATE_LIMIT_PER_SECOND";
    public const string RateBurstVariable = "ED_WEBHOOK_RATE_LIMIT_BURST";
    public const string FullAccessDaysVariable = "ED_DUNNING_FULL_ACCESS_DAYS";
    public const string ReadOnlyDaysVariable = "ED_DUNNING_READ_ONLY_DAYS";
    public const string ReconcileIntervalVariable = "ED_RECONCILE_INTERVAL_MINUTES";

    /// <summary>Longest backoff between two processing attempts.</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromHours(1);

    public int MaxAttempts { get; set; } = 8;

    /// <summary>Events processed at once (different tenants only: a tenant's events stay in order). ED_WEBHOOK_WORKERS, 1..64.</summary>
    public int Workers { get; set; } = 4;

    /// <summary>
    /// Tenants whose oldest due event one worker takes at once (with up to 8 more events of each), applied in one transaction.
    /// ED_WEBHOOK_BATCH_SIZE, 1..64 (a batch's rows stay locked until it commits, and one failing event makes the whole batch rerun).
    /// </summary>
    public int BatchSize { get; set; } = 32;

    public TimeSpan RetryBase { get; set; } = TimeSpan.FromSeconds(2);

    public bool Reread { get; set; } = true;

    public int PayloadFallbackAfter { get; set; } = 3;

    /// <summary>Webhook requests per second (0 = unlimited).</summary>
    public int RateLimitPerSecond { get; set; } = 100;

    public int RateLimitBurst { get; set; } = 200;

    /// <summary>Days of full access (grace) after the first failed payment; a decimal, so a demo can use seconds (0.0001 = 8.64 s).</summary>
    public double FullAccessDays { get; set; } = 3;

    /// <summary>Days after the first failed payment until the tenant is suspended (read-only from <see cref="FullAccessDays"/>); a decimal.</summary>
    public double ReadOnlyDays { get; set; } = 14;

    /// <summary>Scheduled reconciliation interval; <see cref="TimeSpan.Zero"/> = off.</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromMinutes(60);

    /// <summary>The resolver's dunning policy: full access for <see cref="FullAccessDays"/>, read-only until <see cref="ReadOnlyDays"/>.</summary>
    public Engine.Resolution.DunningPolicy DunningPolicy() =>
        Engine.Resolution.DunningPolicy.Create(TimeSpan.FromDays(FullAccessDays), TimeSpan.FromDays(ReadOnlyDays));

    /// <summary>Delay before the attempt after <paramref name="attempts"/> failed attempts: base * 2^(attempts-1), capped at <see cref="MaxBackoff"/>.</summary>
    public TimeSpan Backoff(int attempts)
    {
        var factor = Math.Pow(2, Math.Clamp(attempts - 1, 0, 30));
        var ms = Math.Min(MaxBackoff.TotalMilliseconds, RetryBase.TotalMilliseconds * factor);
        return TimeSpan.FromMilliseconds(ms);
    }

    protected internal override void Read(EnvironmentReader env)
    {
        MaxAttempts = env.Int(MaxAttemptsVariable, MaxAttempts);
        Workers = env.Int(WorkersVariable, Workers);
        BatchSize = env.Int(BatchSizeVariable, BatchSize);
        RetryBase = TimeSpan.FromMilliseconds(env.Int(RetryBaseVariable, (int)RetryBase.TotalMilliseconds));
        Reread = env.Switch(RereadVariable, Reread);
        PayloadFallbackAfter = env.Int(FallbackAfterVariable, PayloadFallbackAfter);
        RateLimitPerSecond = env.Int(RateLimitVariable, RateLimitPerSecond);
        RateLimitBurst = env.Int(RateBurstVariable, RateLimitBurst);
        FullAccessDays = Days(env, FullAccessDaysVariable, FullAccessDays);
        ReadOnlyDays = Days(env, ReadOnlyDaysVariable, ReadOnlyDays);
        ReconcileInterval = TimeSpan.FromMinutes(env.Int(ReconcileIntervalVariable, (int)ReconcileInterval.TotalMinutes));
    }

    protected internal override IEnumerable<string> Check()
    {
        if (MaxAttempts < 1)
        {
            yield return $"{MaxAttemptsVariable} must be at least 1.";
        }

        if (Workers is < 1 or > 64)
        {
            yield return $"{WorkersVariable} must be between 1 and 64.";
        }

        if (BatchSize is < 1 or > 64)
        {
            yield return $"{BatchSizeVariable} must be between 1 and 64.";
        }

        if (PayloadFallbackAfter < 1)
        {
            yield return $"{FallbackAfterVariable} must be at least 1.";
        }

        if (RateLimitPerSecond > 0 && RateLimitBurst < 1)
        {
            yield return $"{RateBurstVariable} must be at least 1 when {RateLimitVariable} is set.";
        }

        if (ReadOnlyDays < FullAccessDays)
        {
            yield return $"{ReadOnlyDaysVariable} must not be less than {FullAccessDaysVariable}.";
        }
    }

    private static double Days(EnvironmentReader env, string name, double fallback) => env.Decimal(name, fallback, days => days is >= 0 and <= 3650,
        _ => $"{name} must be a number of days >= 0 (a decimal such as 3 or 0.5), at most 3650.");
}
