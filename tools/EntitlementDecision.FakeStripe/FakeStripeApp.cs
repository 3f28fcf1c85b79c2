using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EntitlementDecision.FakeStripe;

/// <summary>The fake Stripe API's HTTP surface: Stripe's routes under <c>/v1</c> and the controls under <c>/_fake</c> (see README.md).</summary>
public static class FakeStripeEndpoints
{
    private static readonly JsonSerializerOptions ControlJson = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    /// <summary>Body of <c>POST /_fake/faults</c>.</summary>
    public sealed record FaultRequest(string Path, int Status = 500, int Count = 1, string? Method = null, bool? ShouldRetry = null, bool Abort = false, [property: System.Text.Json.Serialization.JsonPropertyName("delay_ms")] int DelayMs = 0);

    /// <summary>Body of <c>POST /_fake/webhook</c>: where to post events and the signing secret (null url: stop posting).</summary>
    public sealed record WebhookRequest(string? Url, string? Secret);

    /// <summary>Body of <c>POST /_fake/subscriptions/{id}/status</c>.</summary>
    public sealed record StatusRequest(string Status);

    /// <summary>Maps <c>/v1/...</c> (Stripe) and <c>/_fake/...</c> (controls) onto <paramref name="app"/>, served from <paramref name="state"/>.</summary>
    public static IEndpointRouteBuilder MapFakeStripe(this IEndpointRouteBuilder app, FakeStripeState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        app.Map("/v1/{**rest}", (HttpContext context) => HandleStripeAsync(context, state));

        var fake = app.MapGroup("/_fake");
        fake.MapGet("/requests", (string? path) =>
            Results.Json(state.Requests.Where(r => path is null || r.Path == path), ControlJson));
        fake.MapGet("/requests/summary", () => Results.Json(state.RequestSummary, ControlJson));
        fake.MapDelete("/requests", () =>
        {
            state.ClearRequests();
            return Results.NoContent();
        });
        fake.MapPost("/faults", (FaultRequest fault) =>
        {
            if (string.IsNullOrWhiteSpace(fault.Path) || fault.Count < 1 || (!fault.Abort && fault.Status is < 400 or > 599) || fault.DelayMs is < 0 or > 600_000)
            {
                return Results.Problem(statusCode: 400, title: "Bad fault", detail: "path is required, count >= 1, status 400..599 unless abort, delay_ms 0..600000.");
            }

            state.AddFault(new FakeFault(fault.Path, fault.Status, fault.Count, fault.Method, fault.ShouldRetry, fault.Abort, fault.DelayMs));
            return Results.NoContent();
        });
        fake.MapDelete("/faults", () =>
        {
            state.ClearFaults();
            return Results.NoContent();
        });
        fake.MapGet("/faults", () => Results.Json(
            state.PendingFaults.Select(f => new { f.Fault.Path, f.Fault.Method, f.Fault.Status, f.Fault.Abort, f.Fault.DelayMs, f.Remaining }), ControlJson));
        fake.MapGet("/webhooks", () => Results.Json(state.Deliveries, ControlJson));
        fake.MapPost("/webhook", (WebhookRequest body) =>
        {
            if (body.Url is not null && (!Uri.TryCreate(body.Url, UriKind.Absolute, out _) || string.IsNullOrWhiteSpace(body.Secret)))
            {
                return Results.Problem(statusCode: 400, title: "Bad webhook", detail: "url must be absolute and secret set.");
            }

            state.ConfigureWebhook(body.Url is null ? null : new Uri(body.Url), body.Secret);
            return Results.NoContent();
        });
        fake.MapPost("/prices", (FakePrice price) =>
        {
            state.AddPrice(price);
            return Results.Json(state.Find(price.Id), ControlJson);
        });
        fake.MapPost("/checkout/sessions/{id}/complete", (string id, CancellationToken ct) => Scenario(() => state.CompleteCheckoutSessionAsync(id, ct)));
        fake.MapPost("/subscriptions/{id}/payment_failed", (string id, CancellationToken ct) => Scenario(() => state.FailPaymentAsync(id, ct)));
        fake.MapPost("/subscriptions/{id}/pay", (string id, CancellationToken ct) => Scenario(() => state.PayAsync(id, ct)));
        fake.MapPost("/subscriptions/{id}/trial_will_end", (string id, CancellationToken ct) => Scenario(() => state.TrialWillEndAsync(id, ct)));
        fake.MapPost("/subscriptions/{id}/end_trial", (string id, CancellationToken ct) => Scenario(() => state.EndTrialAsync(id, ct)));
        fake.MapPost("/subscriptions/{id}/cancel_at_period_end", (string id, CancellationToken ct) => Scenario(() => state.CancelAtPeriodEndAsync(id, ct)));
        fake.MapPost("/subscriptions/{id}/delete", (string id, CancellationToken ct) => Scenario(() => state.DeleteSubscriptionAsync(id, ct)));
        fake.MapPost("/subscriptions/{id}/status", (string id, StatusRequest body, CancellationToken ct) => Scenario(() => state.SetStatusAsync(id, body.Status, ct)));
        return app;
    }

    private static async Task<IResult> Scenario(Func<Task<ScenarioResult>> run)
    {
        try
        {
            var result = await run();
            var body = new JsonObject
            {
                ["object"] = result.Object.DeepClone(),
                ["event_ids"] = new JsonArray([.. result.EventIds.Select(id => (JsonNode?)id)]),
                ["deliveries"] = JsonSerializer.SerializeToNode(result.Deliveries, ControlJson),
            };
            return Results.Text(body.ToJsonString(ControlJson), "application/json");
        }
        catch (FakeStripeError error)
        {
            return Results.Text(error.Body().ToJsonString(), "application/json", statusCode: error.Status);
        }
    }

    private static async Task HandleStripeAsync(HttpContext context, FakeStripeState state)
    {
        var request = context.Request;
        var method = request.Method.ToUpperInvariant();
        var path = request.Path.Value ?? "/";
        IEnumerable<KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues>> pairs = request.Query;
        if (method == "POST")
        {
            using var reader = new StreamReader(request.Body);
            pairs = QueryHelpers.ParseQuery(await reader.ReadToEndAsync(context.RequestAborted));
        }

        var form = pairs.ToDictionary(p => p.Key, p => string.Join(",", p.Value.ToArray()), StringComparer.Ordinal);
        var headers = request.Headers.ToDictionary(
            h => h.Key.ToLowerInvariant(),
            h => h.Key.Equals("Authorization", StringComparison.OrdinalIgnoreCase) ? Mask(h.Value.ToString()) : h.Value.ToString(),
            StringComparer.Ordinal);
        var authorization = request.Headers.Authorization.ToString();
        var key = authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization["Bearer ".Length..].Trim() : "";
        var (recorded, limit, fault) = state.Record(method, path, headers, form, key);
        var response = context.Response;
        response.Headers["Request-Id"] = FakeStripeState.NewId("req");
        response.Headers["Stripe-Version"] = request.Headers["Stripe-Version"].FirstOrDefault() ?? Stripe.Api.StripeNetBilling.ApiVersion;

        if (limit != RateLimitOutcome.Allowed)
        {
            response.Headers["Stripe-Rate-Limited-Reason"] = RateLimitAnswer.Reason(limit);
            if (state.RateLimits?.ShouldRetry is { } retry)
            {
                response.Headers["Stripe-Should-Retry"] = retry ? "true" : "false";
            }

            var limited = RateLimitAnswer.Error(limit, key).Body();
            limited["error"]!["doc_url"] = RateLimitAnswer.DocUrl;
            await WriteAsync(context, state, recorded, 429, limited.ToJsonString());
            return;
        }

        if (fault is not null)
        {
            if (fault.DelayMs > 0)
            {
                try
                {
                    await Task.Delay(fault.DelayMs, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                    // The client gave up first (its timeout): nothing to answer.
                    state.SetStatus(recorded, 0);
                    return;
                }
            }

            if (fault.Abort)
            {
                state.SetStatus(recorded, 0);
                context.Abort();
                return;
            }

            if (fault.ShouldRetry is { } shouldRetry)
            {
                response.Headers["Stripe-Should-Retry"] = shouldRetry ? "true" : "false";
            }

            var error = fault.Status switch
            {
                429 => new FakeStripeError(429, "invalid_request_error", "Request rate limit exceeded. (injected by the fake)", "rate_limit"),
                409 => new FakeStripeError(409, "invalid_request_error", "This object cannot be accessed right now because another API request or Stripe process is currently accessing it. (injected by the fake)", "lock_timeout"),
                >= 500 => new FakeStripeError(fault.Status, "api_error", "Something went wrong on Stripe's end. (injected by the fake)"),
                _ => new FakeStripeError(fault.Status, "invalid_request_error", "Injected error. (injected by the fake)"),
            };
            await WriteAsync(context, state, recorded, error.Status, error.Body().ToJsonString());
            return;
        }

        if (key.Length == 0)
        {
            var missing = new FakeStripeError(401, "invalid_request_error",
                "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').");
            await WriteAsync(context, state, recorded, 401, missing.Body().ToJsonString());
            return;
        }

        if (state.Options.ApiKey is { } expected && key != expected)
        {
            var invalid = new FakeStripeError(401, "invalid_request_error", $"Invalid API Key provided: {MaskKey(key)}", "api_key_invalid");
            await WriteAsync(context, state, recorded, 401, invalid.Body().ToJsonString());
            return;
        }

        var idempotencyKey = request.Headers["Idempotency-Key"].FirstOrDefault();
        var result = state.HandleApi(method, path, form, idempotencyKey);
        if (!string.IsNullOrEmpty(idempotencyKey) && method == "POST")
        {
            response.Headers["Idempotency-Key"] = idempotencyKey;
        }

        if (result.Replayed)
        {
            response.Headers["Idempotent-Replayed"] = "true";
        }

        if (result.Events.Count > 0)
        {
            await state.DeliverAsync(result.Events, CancellationToken.None);
        }

        await WriteAsync(context, state, recorded, result.Status, result.Body);
    }

    private static async Task WriteAsync(HttpContext context, FakeStripeState state, RecordedRequest recorded, int status, string body)
    {
        state.SetStatus(recorded, status);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body);
    }

    /// <summary><c>Bearer sk_test_…1234</c>: the scheme, the key's prefix and last four characters.</summary>
    private static string Mask(string authorization) =>
        authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? "Bearer " + MaskKey(authorization["Bearer ".Length..].Trim()) : "(masked)";

    private static string MaskKey(string key)
    {
        var prefix = key.StartsWith("sk_test_", StringComparison.Ordinal) || key.StartsWith("rk_test_", StringComparison.Ordinal) ? key[..8]
            : key.StartsWith("sk_live_", StringComparison.Ordinal) ? key[..8] : "";
        return prefix + "****" + (key.Length > 12 ? key[^4..] : "");
    }
}

/// <summary>
/// The fake Stripe API on Kestrel, in-process: <c>await using var stripe = await FakeStripeServer.StartAsync();</c> then point
/// the client at <see cref="BaseUrl"/> and act on <see cref="State"/> (scenario controls, recorded requests, faults).
/// </summary>
public sealed class FakeStripeServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeStripeServer(WebApplication app, FakeStripeState state, Uri baseUrl)
    {
        _app = app;
        State = state;
        BaseUrl = baseUrl;
    }

    /// <summary>Where it listens, e.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri BaseUrl { get; }

    /// <summary>The objects, recorded requests, faults and scenario controls.</summary>
    public FakeStripeState State { get; }

    /// <summary>Starts the fake on <paramref name="url"/> (default a free loopback port).</summary>
    public static async Task<FakeStripeServer> StartAsync(FakeStripeOptions? options = null, string url = "http://127.0.0.1:0", CancellationToken cancellationToken = default)
    {
        var state = new FakeStripeState(options);
        var app = Build(state, url, LogLevel.Warning);
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new FakeStripeServer(app, state, new Uri(address.TrimEnd('/') + "/"));
    }

    /// <summary>A web application serving <paramref name="state"/> on <paramref name="urls"/> (<c>;</c>-separated), for the executable host.</summary>
    public static WebApplication Build(FakeStripeState state, string urls, LogLevel minimumLogLevel = LogLevel.Information)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.SetMinimumLevel(minimumLogLevel);
        builder.WebHost.UseUrls(urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        builder.Services.AddSingleton(state);
        var app = builder.Build();
        app.MapFakeStripe(state);
        return app;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        State.Dispose();
    }
}
