using System.Net;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>The webhook endpoint's token bucket (ED_WEBHOOK_RATE_LIMIT_PER_SECOND / _BURST): beyond it, 429 ProblemDetails, counted.</summary>
public sealed class WebhookRateLimitTests : IAsyncLifetime
{
    private string _database = "";
    private ControlPlaneFactory? _factory;
    private ControlPlaneFixture _fx = null!;

    public async ValueTask InitializeAsync()
    {
        _database = await TestServices.CreateDatabaseAsync();
        var settings = ControlPlaneFactory.DefaultSettings(_database);
        settings["ED_WEBHOOK_RATE_LIMIT_PER_SECOND"] = "1";
        settings["ED_WEBHOOK_RATE_LIMIT_BURST"] = "3";
        _factory = new ControlPlaneFactory(settings);
        _fx = new ControlPlaneFixture(_factory);
    }

    public async ValueTask DisposeAsync()
    {
        await _fx.DisposeHelpersAsync();
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
        }

        await TestServices.DropDatabaseAsync(_database);
    }

    [Fact]
    public async Task BurstBeyondTheBucket_Gets429ProblemDetails_AndIsCounted()
    {
        var body = ControlPlaneFixture.SubscriptionEvent(Stripe.StripeSubscriptionEvents.SubscriptionCreated, "t-rate", "active", DateTimeOffset.UtcNow).ToUtf8Bytes();
        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        System.Text.Json.Nodes.JsonNode? problem = null;
        for (var i = 0; i < 12; i++)
        {
            var (response, json) = await _fx.PostWebhookAsync(body, secret: "whsec_not_ours_0000000000");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                (limited, problem) = (response, json);
            }
        }

        // The first three fit the bucket (and fail their signature check); at most a token per second comes back.
        Assert.All(statuses.Take(3), s => Assert.Equal(HttpStatusCode.BadRequest, s));
        var rejected = statuses.Count(s => s == HttpStatusCode.TooManyRequests);
        Assert.True(rejected >= 6, $"only {rejected} of 12 were limited: {string.Join(",", statuses)}");
        Assert.NotNull(limited);
        Assert.Equal("application/problem+json", limited.Content.Headers.ContentType?.MediaType);
        Assert.Equal(429, (int?)problem?["status"]);
        Assert.Equal("1", limited.Headers.RetryAfter?.ToString());

        // Operator endpoints are not limited; the counters saw every limited request.
        var (stats, statsJson) = await _fx.SendAsync(HttpMethod.Get, "/billing/webhooks/stats", _fx.OperatorToken());
        Assert.Equal(HttpStatusCode.OK, stats.StatusCode);
        Assert.Equal(rejected, (long)statsJson!["since_start"]!["rate_limited"]!);
        Assert.Equal(12 - rejected, (long)statsJson["since_start"]!["rejected_signature"]!);
    }
}
