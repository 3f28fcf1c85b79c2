using Microsoft.Extensions.Options;

namespace EntitlementDecision.ControlPlane.Configuration;

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
/// Validated at start-up (<see cref="BillingOptionsValidator"/>); failures name the variable.
/// </summary>
internal sealed class BillingOptions
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

    /// <summary>Variables that could not be parsed (reported by the validator).</summary>
    internal List<string> ParseErrors { get; } = [];

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

    /// <summary>Reads the options from <paramref name="configuration"/> (unset = default).</summary>
    public static void Bind(BillingOptions o, IConfiguration configuration)
    {
        o.MaxAttempts = Int(configuration, MaxAttemptsVariable, o.MaxAttempts, o);
        o.Workers = Int(configuration, WorkersVariable, o.Workers, o);
        o.BatchSize = Int(configuration, BatchSizeVariable, o.BatchSize, o);
        o.RetryBase = TimeSpan.FromMilliseconds(Int(configuration, RetryBaseVariable, (int)o.RetryBase.TotalMilliseconds, o));
        o.PayloadFallbackAfter = Int(configuration, FallbackAfterVariable, o.PayloadFallbackAfter, o);
        o.RateLimitPerSecond = Int(configuration, RateLimitVariable, o.RateLimitPerSecond, o);
        o.RateLimitBurst = Int(configuration, RateBurstVariable, o.RateLimitBurst, o);
        o.FullAccessDays = Days(configuration, FullAccessDaysVariable, o.FullAccessDays, o);
        o.ReadOnlyDays = Days(configuration, ReadOnlyDaysVariable, o.ReadOnlyDays, o);
        o.ReconcileInterval = TimeSpan.FromMinutes(Int(configuration, ReconcileIntervalVariable, (int)o.ReconcileInterval.TotalMinutes, o));
        switch (configuration[RereadVariable]?.Trim().ToLowerInvariant())
        {
            case null or "" or "on" or "true" or "1": o.Reread = true; break;
            case "off" or "false" or "0": o.Reread = false; break;
            default: o.ParseErrors.Add($"{RereadVariable} must be 'on' or 'off'."); break;
        }
    }

    private static double Days(IConfiguration configuration, string name, double fallback, BillingOptions o)
    {
        var raw = configuration[name];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return fallback;
        }

        if (double.TryParse(raw.Trim(), System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out var value)
            && value <= 3650)
        {
            return value;
        }

        o.ParseErrors.Add($"{name} must be a number of days >= 0 (a decimal such as 3 or 0.5), at most 3650.");
        return fallback;
    }

    private static int Int(IConfiguration configuration, string name, int fallback, BillingOptions o)
    {
        var raw = configuration[name];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return fallback;
        }

        if (int.TryParse(raw.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        o.ParseErrors.Add($"{name} must be a non-negative integer.");
        return fallback;
    }
}

/// <summary>Start-up validation of <see cref="BillingOptions"/>; each failure names the environment variable.</summary>
internal sealed class BillingOptionsValidator : IValidateOptions<BillingOptions>
{
    public ValidateOptionsResult Validate(string? name, BillingOptions options)
    {
        var failures = new List<string>(options.ParseErrors);
        if (options.MaxAttempts < 1)
        {
            failures.Add($"{BillingOptions.MaxAttemptsVariable} must be at least 1.");
        }

        if (options.Workers is < 1 or > 64)
        {
            failures.Add($"{BillingOptions.WorkersVariable} must be between 1 and 64.");
        }

        if (options.BatchSize is < 1 or > 64)
        {
            failures.Add($"{BillingOptions.BatchSizeVariable} must be between 1 and 64.");
        }

        if (options.PayloadFallbackAfter < 1)
        {
            failures.Add($"{BillingOptions.FallbackAfterVariable} must be at least 1.");
        }

        if (options.RateLimitPerSecond > 0 && options.RateLimitBurst < 1)
        {
            failures.Add($"{BillingOptions.RateBurstVariable} must be at least 1 when {BillingOptions.RateLimitVariable} is set.");
        }

        if (options.ReadOnlyDays < options.FullAccessDays)
        {
            failures.Add($"{BillingOptions.ReadOnlyDaysVariable} must not be less than {BillingOptions.FullAccessDaysVariable}.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
