using System.Diagnostics.Metrics;

namespace EntitlementDecision.ControlPlane.Webhooks;

/// <summary>
/// Webhook counters since the process started, on the <see cref="System.Diagnostics.Metrics"/> meter
/// <c>EntitlementDecision.ControlPlane.Webhooks</c> (instrument <c>ed.webhook.events</c>, tag <c>result</c> = received | verified |
/// rejected_signature | rejected_parse | rejected_too_large | rate_limited | stored | duplicate | processed | retried | failed | reread, the last counting subscriptions read from Stripe for events;
/// histogram <c>ed.webhook.processing_lag</c>, seconds from receipt to applied) and as
/// plain totals for <c>GET /billing/webhooks/stats</c>. Durable counts come from <c>stripe_events</c> (see <see cref="WebhookOperatorEndpoints"/>).
/// </summary>
internal sealed class WebhookMetrics : IDisposable
{
    public const string MeterName = "EntitlementDecision.ControlPlane.Webhooks";
    public static readonly string[] Results =
        ["received", "verified", "rejected_signature", "rejected_parse", "rejected_too_large", "rate_limited", "stored", "duplicate", "processed", "retried", "failed", "reread"];

    private readonly Meter _meter;
    private readonly Counter<long> _events;
    private readonly Histogram<double> _processingLag;
    private readonly long[] _totals = new long[Results.Length];

    public WebhookMetrics(IMeterFactory meters)
    {
        _meter = meters.Create(MeterName);
        _events = _meter.CreateCounter<long>("ed.webhook.events", unit: "{event}", description: "Stripe webhook deliveries and processing results");
        _processingLag = _meter.CreateHistogram<double>("ed.webhook.processing_lag", unit: "s", description: "Webhook stored (2xx) -> applied (processed), per event",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = Observability.ControlPlaneTelemetry.LagBuckets });
    }

    public void Received() => Add(0);

    public void Verified() => Add(1);

    public void RejectedSignature() => Add(2);

    public void RejectedParse() => Add(3);

    public void RejectedTooLarge() => Add(4);

    public void RateLimited() => Add(5);

    public void Stored() => Add(6);

    public void Duplicate() => Add(7);

    public void Processed() => Add(8);

    /// <summary>An event was applied <paramref name="lag"/> after it was received.</summary>
    public void Processed(TimeSpan lag)
    {
        Add(8);
        _processingLag.Record(Math.Max(0, lag.TotalSeconds));
    }

    public void Retried() => Add(9);

    public void Failed() => Add(10);

    /// <summary><paramref name="subscriptions"/> subscriptions were read from Stripe for a batch of events (one read answers all of a subscription's events).</summary>
    public void Rereads(int subscriptions)
    {
        if (subscriptions > 0)
        {
            Add(11, subscriptions);
        }
    }

    /// <summary>The totals since start, by result name.</summary>
    public IReadOnlyDictionary<string, long> Snapshot() =>
        Results.Select((name, i) => (name, Interlocked.Read(ref _totals[i]))).ToDictionary(x => x.name, x => x.Item2);

    public void Dispose() => _meter.Dispose();

    private void Add(int index, long count = 1)
    {
        Interlocked.Add(ref _totals[index], count);
        _events.Add(count, new KeyValuePair<string, object?>("result", Results[index]));
    }
}
