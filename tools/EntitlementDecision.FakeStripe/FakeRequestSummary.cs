namespace EntitlementDecision.FakeStripe;

/// <summary>
/// The recorded <c>/v1</c> requests in figures (<c>GET /_fake/requests/summary</c>), for load tests; reset with the recorded requests.
/// Seconds are those of <see cref="FakeStripeOptions.TimeProvider"/>.
/// </summary>
/// <param name="Total">Requests received, including those answered 429 and those not answered yet.</param>
/// <param name="ByStatus">Answered requests by HTTP status (0: the connection was aborted by a fault), ascending.</param>
/// <param name="RateLimited">Requests answered 429 by the rate limits (<see cref="FakeStripeRateLimits"/>); injected 429s are not counted here.</param>
/// <param name="PeakRequestsPerSecond">The most requests received in one second.</param>
/// <param name="Endpoints">By endpoint (e.g. <c>GET /v1/subscriptions/:id</c>), ordinal order.</param>
public sealed record FakeRequestSummary(
    long Total,
    IReadOnlyDictionary<int, long> ByStatus,
    long RateLimited,
    int PeakRequestsPerSecond,
    IReadOnlyDictionary<string, FakeEndpointSummary> Endpoints);

/// <summary>One endpoint's figures in a <see cref="FakeRequestSummary"/>.</summary>
/// <param name="Requests">Requests received.</param>
/// <param name="RateLimited">Of those, answered 429 by the rate limits.</param>
/// <param name="PeakRequestsPerSecond">The most requests received in one second (all accounts).</param>
public sealed record FakeEndpointSummary(long Requests, long RateLimited, int PeakRequestsPerSecond);

/// <summary>Running counts behind <see cref="FakeRequestSummary"/>: O(1) per request. Not thread-safe: the state's lock guards it.</summary>
internal sealed class RequestTally
{
    private readonly Counter _all = new();
    private readonly Dictionary<string, Counter> _endpoints = new(StringComparer.Ordinal);
    private readonly SortedDictionary<int, long> _byStatus = [];
    private long _rateLimited;

    public void Arrived(string endpoint, long second)
    {
        _all.Arrived(second);
        if (!_endpoints.TryGetValue(endpoint, out var counter))
        {
            counter = new Counter();
            _endpoints[endpoint] = counter;
        }

        counter.Arrived(second);
    }

    public void RateLimited(string endpoint)
    {
        _rateLimited++;
        _endpoints[endpoint].RateLimited++;
    }

    public void Answered(int status) => _byStatus[status] = _byStatus.GetValueOrDefault(status) + 1;

    public FakeRequestSummary Snapshot() => new(
        _all.Requests,
        new SortedDictionary<int, long>(_byStatus),
        _rateLimited,
        _all.Peak,
        new SortedDictionary<string, FakeEndpointSummary>(
            _endpoints.ToDictionary(e => e.Key, e => new FakeEndpointSummary(e.Value.Requests, e.Value.RateLimited, e.Value.Peak)),
            StringComparer.Ordinal));

    private sealed class Counter
    {
        private long _second = long.MinValue;
        private int _inSecond;

        public long Requests { get; private set; }

        public long RateLimited { get; set; }

        public int Peak { get; private set; }

        public void Arrived(long second)
        {
            Requests++;
            _inSecond = second == _second ? _inSecond + 1 : 1;
            _second = second;
            Peak = Math.Max(Peak, _inSecond);
        }
    }
}
