using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using EntitlementDecision.LoadTests.Framework;

namespace EntitlementDecision.LoadTests.Scenarios;

/// <summary>
/// A customer-facing call beside a webhook burst: <c>POST /billing/checkout</c> of one tenant's owner, at a fixed rate (open model:
/// each call starts on schedule whatever the answers' speed; latency from its intended start, in ms). It warms up (not recorded:
/// JIT, the tenant's Stripe customer), runs idle, then through the burst; each call's latency goes to <see cref="IdleMetric"/> or
/// <see cref="BurstMetric"/> by the phase it started in.
/// Every call has a fresh <c>Idempotency-Key</c>, and no session is ever completed, so each one asks Stripe for a new session.
/// </summary>
internal sealed class CheckoutProbe
{
    public const string IdleMetric = "checkout_idle";
    public const string BurstMetric = "checkout_during_burst";

    private const int WarmUp = 0, Idle = 1, Burst = 2, Stopped = 3;
    private readonly HttpClient _http;
    private readonly string _planId;
    private readonly double _perSecond;
    private readonly TaskCompletionSource _burst = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentBag<Task> _calls = [];
    private readonly ConcurrentQueue<string> _failures = new();
    private int _phase = WarmUp;
    private long _ok;
    private long _failed;
    private long _rateLimited;
    private Task? _loop;

    /// <param name="controlPlane">The control plane's base URL.</param>
    /// <param name="ownerToken">A bearer token of role owner for the tenant that checks out.</param>
    /// <param name="planId">The plan bought (a catalog plan with a Stripe price).</param>
    /// <param name="perSecond">Calls per second.</param>
    public CheckoutProbe(Uri controlPlane, string ownerToken, string planId, double perSecond)
    {
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = controlPlane, Timeout = TimeSpan.FromSeconds(60) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ownerToken);
        _planId = planId;
        _perSecond = perSecond;
    }

    /// <summary>Checkouts answered 200.</summary>
    public long Ok => Interlocked.Read(ref _ok);

    /// <summary>Checkouts answered anything else (or not at all).</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Checkouts answered 503 "Stripe is rate limiting": a Stripe 429 that reached the customer after the client's retries.</summary>
    public long RateLimited => Interlocked.Read(ref _rateLimited);

    /// <summary>The first few failures, for the report's notes.</summary>
    public IEnumerable<string> FirstFailures => _failures.Take(5);

    /// <summary>Starts the calls; returns after <paramref name="warmUp"/> of them unrecorded, then <paramref name="idle"/> recorded in <paramref name="stats"/>.</summary>
    public async Task StartAsync(ScenarioStats stats, TimeSpan warmUp, TimeSpan idle)
    {
        _loop = Task.Run(() => LoopAsync(stats));
        await Task.Delay(warmUp);
        Interlocked.CompareExchange(ref _phase, Idle, WarmUp);
        await Task.Delay(idle);
    }

    /// <summary>The burst began: from now on calls count as <see cref="BurstMetric"/>, the first one at once.</summary>
    public void BurstStarted()
    {
        Volatile.Write(ref _phase, Burst);
        _burst.TrySetResult();
    }

    /// <summary>Starts no more calls and waits for those under way.</summary>
    public async Task StopAsync()
    {
        Volatile.Write(ref _phase, Stopped);
        if (_loop is not null)
        {
            await _loop;
        }

        await Task.WhenAll(_calls);
    }

    private async Task LoopAsync(ScenarioStats stats)
    {
        var interval = (long)(Stopwatch.Frequency / _perSecond);
        var next = Stopwatch.GetTimestamp();
        var rebased = false;
        int phase;
        while ((phase = Volatile.Read(ref _phase)) != Stopped)
        {
            if (!rebased && phase == Burst)
            {
                // The first call of the burst starts when the burst does, not on the idle schedule.
                rebased = true;
                next = Stopwatch.GetTimestamp();
            }

            var wait = next - Stopwatch.GetTimestamp();
            if (wait > 0)
            {
                var delay = Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency));
                await (rebased ? delay : Task.WhenAny(delay, _burst.Task));
                continue;
            }

            _calls.Add(CallAsync(stats, phase switch { WarmUp => null, Idle => IdleMetric, _ => BurstMetric }, next));
            next += interval;
        }
    }

    /// <param name="metric">Where the latency goes; null: warm-up, only failures count.</param>
    private async Task CallAsync(ScenarioStats stats, string? metric, long intendedStart)
    {
        var label = metric ?? "checkout_warmup";
        string outcome;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/billing/checkout")
            {
                Content = JsonContent.Create(new { plan_id = _planId, environment = "production" }),
            };
            request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
            using var response = await _http.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            if (response.IsSuccessStatusCode)
            {
                Interlocked.Increment(ref _ok);
                if (metric is not null)
                {
                    stats.Metric(metric).Record(Stopwatch.GetElapsedTime(intendedStart));
                    stats.Increment(metric + ".ok");
                }

                return;
            }

            var rateLimited = Title(body) == "Stripe is rate limiting"; // StripeProblemDetails: a 429 after Stripe.net's retries
            if (rateLimited)
            {
                Interlocked.Increment(ref _rateLimited);
            }

            outcome = rateLimited ? "stripe_rate_limited" : $"http_{(int)response.StatusCode}";
            _failures.Enqueue($"{label}: {(int)response.StatusCode} {body[..Math.Min(body.Length, 200)]}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            outcome = e.GetType().Name;
            _failures.Enqueue($"{label}: {e.GetType().Name} {e.Message}");
        }

        Interlocked.Increment(ref _failed);
        stats.Increment($"{label}.{outcome}");
    }

    private static string? Title(string problem)
    {
        try
        {
            using var json = JsonDocument.Parse(problem);
            return json.RootElement.TryGetProperty("title", out var title) ? title.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
