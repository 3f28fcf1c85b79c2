namespace EntitlementDecision.ControlPlane.Background;

/// <summary>
/// The one loop of the control plane's background workers: run a pass, then wait (for <see cref="Signal"/> or the wait
/// the pass returned); when a pass throws, log it and back off (200 ms doubling per failure in a row, capped at
/// <see cref="MaxBackoff"/>), then try again. Stops quietly at shutdown. Subclasses write only the pass.
/// </summary>
internal abstract partial class BackgroundLoop(ILogger logger) : BackgroundService
{
    /// <summary>The clock the waits run on (the host's TimeProvider, so tests can drive it).</summary>
    protected abstract TimeProvider Time { get; }

    /// <summary>Wakes the loop before its wait ends (work was committed for it); null: only the wait.</summary>
    protected virtual WakeSignal? Signal => null;

    /// <summary>Longest back-off after failed passes.</summary>
    protected virtual TimeSpan MaxBackoff => TimeSpan.FromSeconds(30);

    /// <summary>Wait before the first pass (default none); null: the loop is off.</summary>
    protected virtual TimeSpan? InitialDelay => TimeSpan.Zero;

    /// <summary>One pass; returns how long to wait before the next (<see cref="Signal"/> may end it sooner), or null when the work is done for good.</summary>
    protected abstract Task<TimeSpan?> PassAsync(CancellationToken ct);

    /// <summary>The back-off after <paramref name="failures"/> failed passes in a row.</summary>
    public static TimeSpan Backoff(int failures, TimeSpan max) =>
        TimeSpan.FromMilliseconds(Math.Min(max.TotalMilliseconds, 200 * Math.Pow(2, Math.Min(failures, 10))));

    protected sealed override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (InitialDelay is not { } initial)
        {
            return;
        }

        var failures = 0;
        try
        {
            if (initial > TimeSpan.Zero)
            {
                await Task.Delay(initial, Time, stoppingToken);
            }

            while (!stoppingToken.IsCancellationRequested)
            {
                TimeSpan? wait;
                try
                {
                    wait = await PassAsync(stoppingToken);
                    failures = 0;
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    failures++;
                    var delay = Backoff(failures, MaxBackoff);
                    LogPassFailed(logger, e, GetType().Name, failures, delay.TotalMilliseconds);
                    await Task.Delay(delay, Time, stoppingToken);
                    continue;
                }

                if (wait is not { } next)
                {
                    return;
                }

                if (Signal is { } signal)
                {
                    await signal.WaitAsync(next, stoppingToken);
                }
                else if (next > TimeSpan.Zero)
                {
                    await Task.Delay(next, Time, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // shutdown
        }
    }

    [LoggerMessage(EventId = 1900, Level = LogLevel.Warning, Message = "{Worker} pass failed ({Failures} in a row); retrying in {DelayMs} ms")]
    private static partial void LogPassFailed(ILogger logger, Exception exception, string worker, int failures, double delayMs);
}
