using System.Net;
using EntitlementDecision.Stripe.Api;
using Microsoft.Extensions.Time.Testing;

namespace EntitlementDecision.Stripe.Tests.Api;

/// <summary>The process's Stripe request budget: the limit in any second, priority, and the pause after a 429 (a test clock, no sleeping).</summary>
public sealed class StripeRequestBudgetTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static FakeTimeProvider Clock() => new(DateTimeOffset.UnixEpoch.AddDays(20_000).AddMilliseconds(30));

    [Fact]
    public void CustomerCalls_TakeTheWholeBudget_NeverMoreThanItInAnyOneSecond()
    {
        var time = Clock();
        var budget = new StripeRequestBudget(25, time);
        Assert.Equal(25, Enumerable.Range(0, 30).Count(_ => budget.TryTake(StripeCallPriority.Customer)));
        time.Advance(TimeSpan.FromMilliseconds(1000));
        Assert.False(budget.TryTake(StripeCallPriority.Customer));
        time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal(25, budget.Available);

        // Spread over time: any 1 s interval holds at most 25 (a request every 10 ms for 3 s).
        var taken = new List<DateTimeOffset>();
        for (var i = 0; i < 300; i++, time.Advance(TimeSpan.FromMilliseconds(10)))
        {
            if (budget.TryTake(StripeCallPriority.Customer))
            {
                taken.Add(time.GetUtcNow());
            }
        }

        Assert.All(taken, t => Assert.True(taken.Count(u => u >= t && u < t.AddSeconds(1)) <= 25));
        Assert.True(taken.Count >= 60, $"{taken.Count} in 3 s");
    }

    [Fact]
    public void Rereads_LeaveAFifthOfTheBudget_BackgroundTwoFifths_SoCustomerCallsNeverWaitBehindThem()
    {
        var budget = new StripeRequestBudget(25, Clock());
        Assert.Equal(15, Enumerable.Range(0, 25).Count(_ => budget.TryTake(StripeCallPriority.Background)));
        Assert.Equal(5, Enumerable.Range(0, 25).Count(_ => budget.TryTake(StripeCallPriority.Reread)));
        Assert.Equal(5, Enumerable.Range(0, 25).Count(_ => budget.TryTake(StripeCallPriority.Customer)));
    }

    [Fact]
    public async Task StripeAnswered429_RereadsPauseForRetryAfter_CustomerCallsGoOn()
    {
        var time = Clock();
        var budget = new StripeRequestBudget(25, time);
        using var handler = new StripeBudgetHandler(budget) { InnerHandler = new Answer(HttpStatusCode.TooManyRequests, retryAfterSeconds: 3) };
        using var http = new HttpClient(handler);
        using (StripeCallContext.Use(StripeCallPriority.Reread))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, (await http.GetAsync("http://stripe.test/v1/subscriptions/sub_1", Ct)).StatusCode);
        }

        Assert.False(budget.TryTake(StripeCallPriority.Reread));
        Assert.False(budget.TryTake(StripeCallPriority.Background));
        Assert.True(budget.TryTake(StripeCallPriority.Customer));
        time.Advance(TimeSpan.FromSeconds(2.9));
        Assert.False(budget.TryTake(StripeCallPriority.Reread));
        time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.True(budget.TryTake(StripeCallPriority.Reread));
    }

    [Fact]
    public async Task AcquireAsync_WithRoom_CountsAtOnce_WithoutRoom_EndsOnCancellation()
    {
        var budget = new StripeRequestBudget(1, Clock());
        await budget.AcquireAsync(StripeCallPriority.Customer, Ct);
        Assert.Equal(0, budget.Available);
        using var cancel = new CancellationTokenSource();
        var waiting = budget.AcquireAsync(StripeCallPriority.Customer, cancel.Token).AsTask();
        Assert.False(waiting.IsCompleted);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
    }

    [Fact]
    public async Task UnmarkedCalls_AreCustomerCalls_AndAScopeRestoresThePreviousPriority()
    {
        Assert.Equal(StripeCallPriority.Customer, StripeCallContext.Priority);
        using (StripeCallContext.Use(StripeCallPriority.Background))
        {
            using (StripeCallContext.Use(StripeCallPriority.Reread))
            {
                Assert.Equal(StripeCallPriority.Reread, StripeCallContext.Priority);
            }

            Assert.Equal(StripeCallPriority.Background, StripeCallContext.Priority);
            await Task.Yield();
            Assert.Equal(StripeCallPriority.Background, StripeCallContext.Priority);
        }

        Assert.Equal(StripeCallPriority.Customer, StripeCallContext.Priority);
    }

    private sealed class Answer(HttpStatusCode status, int retryAfterSeconds) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = new HttpResponseMessage(status);
            response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(retryAfterSeconds));
            return Task.FromResult(response);
        }
    }
}
