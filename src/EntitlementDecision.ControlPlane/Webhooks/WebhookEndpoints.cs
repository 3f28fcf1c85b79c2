using System.Security.Claims;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.Engine.Catalog;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Webhooks;

/// <summary>
/// <c>POST /billing/webhook</c> answer once the event is stored: <c>{ "duplicate": false, "event_id": "evt_...", "status": "pending" }</c>
/// (processing follows in the background; see <c>GET /billing/webhooks/events/{id}</c>), or for an event stored before
/// <c>{ "duplicate": true, "event_id": "evt_..." }</c>.
/// </summary>
internal sealed record WebhookAck(
    bool Duplicate,
    string? EventId,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Status);

/// <summary><c>POST /billing/webhook</c> (Stripe-signed, anonymous, rate limited) and the operators' webhook endpoints.</summary>
internal static class WebhookEndpoints
{
    /// <summary>Largest webhook body accepted (larger → 413).</summary>
    public const int MaxWebhookBytes = 512 * 1024;

    public static void MapWebhookEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/billing/webhook", ReceiveWebhook).AllowAnonymous().DisableAntiforgery().RequireRateLimiting(WebhookServices.WebhookRateLimitPolicy);
    }

    /// <summary>
    /// Reads the raw body (at most <see cref="MaxWebhookBytes"/>, else 413), then hands it to <see cref="StripeWebhookReceiver"/>:
    /// 400 for a bad signature (nothing stored) or an unparseable event; 200 <see cref="WebhookAck"/> once the event is stored
    /// (it is applied asynchronously); 429 ProblemDetails beyond the rate limit.
    /// </summary>
    public static async Task<Results<Ok<WebhookAck>, ProblemHttpResult>> ReceiveWebhook(HttpRequest request, StripeWebhookReceiver receiver, WebhookMetrics metrics, CancellationToken ct)
    {
        metrics.Received();
        if (request.ContentLength > MaxWebhookBytes)
        {
            metrics.RejectedTooLarge();
            return TooLarge();
        }

        var body = await ReadLimitedAsync(request.Body, MaxWebhookBytes, ct);
        if (body is null)
        {
            metrics.RejectedTooLarge();
            return TooLarge();
        }

        var result = await receiver.ReceiveAsync(body, request.Headers["Stripe-Signature"].ToString(), ct);
        return result switch
        {
            { Problem: { } problem } => problem,
            _ => TypedResults.Ok(new WebhookAck(result.Duplicate, result.EventId, result.Duplicate ? null : StripeEventRecord.Pending)),
        };
    }

    private static ProblemHttpResult TooLarge() =>
        TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Payload too large", detail: $"Webhook bodies are limited to {MaxWebhookBytes} bytes.");

    /// <summary>The whole stream, or null when it is longer than <paramref name="limit"/>.</summary>
    private static async Task<byte[]?> ReadLimitedAsync(Stream stream, int limit, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
