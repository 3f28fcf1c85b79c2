using System.Text.Json;

namespace EntitlementDecision.Stripe;

/// <summary>
/// The envelope of a Stripe webhook event (Stripe API "Event object"), as parsed by <see cref="StripeEventParser"/>.
/// </summary>
/// <param name="Id">Event id, <c>evt_...</c>; the idempotency key for storing webhooks (Stripe may deliver an event more than once).</param>
/// <param name="Type">Event type, e.g. <c>customer.subscription.updated</c>.</param>
/// <param name="Created">When Stripe created the event (from <c>created</c>, Unix seconds, UTC). Events may arrive out of order: compare this, not arrival time.</param>
/// <param name="Livemode">True for live-mode events, false for test mode (<c>livemode</c>; false when absent).</param>
/// <param name="ApiVersion">The API version that shaped <paramref name="DataObject"/> (<c>api_version</c>), or null.</param>
/// <param name="DataObject"><c>data.object</c>: the resource as of the event (always a JSON object). Detached from the parsed document, safe to keep.</param>
public sealed record StripeEvent(string Id, string Type, DateTimeOffset Created, bool Livemode, string? ApiVersion, JsonElement DataObject);
