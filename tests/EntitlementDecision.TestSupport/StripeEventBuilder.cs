using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using EntitlementDecision.Stripe;

namespace EntitlementDecision.TestSupport;

/// <summary>
/// Builds Stripe webhook event bodies from Stripe's own published example objects in testdata/stripe
/// (see testdata/stripe/SOURCE.md), so tests do not invent Stripe's shapes. Starts from a fixture object
/// (subscription or checkout session), lets a test change what matters (status, metadata, items, periods, ids),
/// and wraps it in the fixture event envelope (id, type, created, livemode, api_version, request...).
/// </summary>
/// <example>
/// <code>
/// byte[] body = StripeEventBuilder.Subscription(StripeSubscriptionEvents.SubscriptionUpdated)
///     .WithMetadata("tenant_id", "t-42").WithStatus("past_due").WithPriceIds("price_pro").ToUtf8Bytes();
/// string header = WebhookSignature.CreateHeader(body, "whsec_test", clock.GetUtcNow());
/// </code>
/// </example>
public sealed class StripeEventBuilder
{
    private static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };

    private readonly JsonObject _envelope;

    private StripeEventBuilder(JsonObject envelope, JsonObject dataObject)
    {
        _envelope = envelope;
        Object = dataObject;
    }

    /// <summary>The <c>data.object</c> being built; edit it directly for anything the With* methods do not cover.</summary>
    public JsonObject Object { get; }

    /// <summary>A <c>customer.subscription.*</c> event around the fixture subscription (status active, empty metadata,
    /// one item with price <c>price_1PgafmB7WZ01zgkW6dKueIc5</c>, period end only on the item).</summary>
    public static StripeEventBuilder Subscription(string type = StripeSubscriptionEvents.SubscriptionUpdated) =>
        Create(type, LoadFixture("subscription"));

    /// <summary>A <c>checkout.session.completed</c> event around the fixture checkout session, turned into a completed
    /// subscription-mode session (mode subscription, status complete, payment_status paid, subscription and customer
    /// set to the fixture subscription's and customer's ids). Metadata and client_reference_id stay empty.</summary>
    public static StripeEventBuilder CheckoutSessionCompleted()
    {
        var session = LoadFixture("checkout.session");
        session["mode"] = "subscription";
        session["status"] = "complete";
        session["payment_status"] = "paid";
        session["payment_intent"] = null;
        session["subscription"] = (string?)LoadFixture("subscription")["id"];
        session["customer"] = (string?)LoadFixture("customer")["id"];
        return Create(StripeSubscriptionEvents.CheckoutSessionCompleted, session);
    }

    /// <summary>Wraps any object (e.g. a fixture loaded with <see cref="LoadFixture"/>) in the fixture event envelope.</summary>
    public static StripeEventBuilder Create(string type, JsonObject dataObject)
    {
        var envelope = LoadFixture("event");
        envelope["type"] = type;
        envelope["data"] = new JsonObject { ["object"] = dataObject };
        return new StripeEventBuilder(envelope, dataObject);
    }

    /// <summary>Loads testdata/stripe/{name}.json (e.g. "subscription", "checkout.session", "event") as a fresh, mutable object.</summary>
    public static JsonObject LoadFixture(string name)
    {
        var path = Path.Combine(RepoPaths.StripeTestData, name + ".json");
        return JsonNode.Parse(File.ReadAllText(path))?.AsObject()
            ?? throw new InvalidOperationException($"{path} is not a JSON object.");
    }

    public StripeEventBuilder WithEventId(string id) => SetEnvelope("id", id);

    public StripeEventBuilder WithType(string type) => SetEnvelope("type", type);

    public StripeEventBuilder WithCreated(DateTimeOffset created) => SetEnvelope("created", created.ToUnixTimeSeconds());

    public StripeEventBuilder WithApiVersion(string? apiVersion) => SetEnvelope("api_version", apiVersion);

    public StripeEventBuilder WithLivemode(bool livemode)
    {
        _envelope["livemode"] = livemode;
        Object["livemode"] = livemode;
        return this;
    }

    /// <summary>Sets the object's <c>id</c> (<c>sub_...</c> or <c>cs_...</c>).</summary>
    public StripeEventBuilder WithObjectId(string id) => Set("id", id);

    public StripeEventBuilder WithStatus(string status) => Set("status", status);

    public StripeEventBuilder WithCustomer(string? customerId) => Set("customer", customerId);

    /// <summary>Checkout session: the <c>subscription</c> field (id string).</summary>
    public StripeEventBuilder WithSubscription(string? subscriptionId) => Set("subscription", subscriptionId);

    public StripeEventBuilder WithClientReferenceId(string? clientReferenceId) => Set("client_reference_id", clientReferenceId);

    public StripeEventBuilder WithCancelAtPeriodEnd(bool value) => Set("cancel_at_period_end", value);

    public StripeEventBuilder WithCanceledAt(DateTimeOffset? value) => Set("canceled_at", value?.ToUnixTimeSeconds());

    /// <summary>Sets <c>metadata[key]</c>; a null value removes the key (Stripe metadata values are strings).</summary>
    public StripeEventBuilder WithMetadata(string key, string? value)
    {
        if (Object["metadata"] is not JsonObject metadata)
        {
            metadata = new JsonObject();
            Object["metadata"] = metadata;
        }

        if (value is null)
        {
            metadata.Remove(key);
        }
        else
        {
            metadata[key] = value;
        }

        return this;
    }

    /// <summary>Replaces <c>items.data</c> with one item per price id, each a copy of the fixture's first item with
    /// its <c>price.id</c>, <c>id</c> (si_test_{n}) and <c>subscription</c> set.</summary>
    public StripeEventBuilder WithPriceIds(params string[] priceIds)
    {
        var items = ItemsData();
        var template = items.Count > 0 ? items[0]!.DeepClone().AsObject() : LoadFixture("subscription_item");
        items.Clear();
        for (var i = 0; i < priceIds.Length; i++)
        {
            var item = template.DeepClone().AsObject();
            item["id"] = $"si_test_{i}";
            item["subscription"] = Object["id"]?.DeepClone();
            item["price"]!["id"] = priceIds[i];
            items.Add(item);
        }

        return this;
    }

    /// <summary>Sets (or with null, removes) the subscription-level <c>current_period_end</c> (older API versions put it there).</summary>
    public StripeEventBuilder WithCurrentPeriodEnd(DateTimeOffset? periodEnd)
    {
        if (periodEnd is null)
        {
            Object.Remove("current_period_end");
        }
        else
        {
            Object["current_period_end"] = periodEnd.Value.ToUnixTimeSeconds();
        }

        return this;
    }

    /// <summary>Sets <c>items.data[index].current_period_end</c> (recent API versions put it there).</summary>
    public StripeEventBuilder WithItemCurrentPeriodEnd(int index, DateTimeOffset periodEnd)
    {
        ItemsData()[index]!["current_period_end"] = periodEnd.ToUnixTimeSeconds();
        return this;
    }

    /// <summary>Sets any top-level field of the object; null writes JSON null.</summary>
    public StripeEventBuilder Set(string field, JsonNode? value)
    {
        Object[field] = value;
        return this;
    }

    /// <summary>Removes a top-level field of the object.</summary>
    public StripeEventBuilder Without(string field)
    {
        Object.Remove(field);
        return this;
    }

    /// <summary>The event envelope with <c>data.object</c> (a deep copy: the builder stays usable).</summary>
    public JsonObject Build() => _envelope.DeepClone().AsObject();

    /// <summary>The event serialized compactly, as Stripe would POST it.</summary>
    public string ToJson() => _envelope.ToJsonString(Compact);

    /// <summary>The event serialized as UTF-8 bytes (sign and verify exactly these bytes).</summary>
    public byte[] ToUtf8Bytes() => Encoding.UTF8.GetBytes(ToJson());

    private StripeEventBuilder SetEnvelope(string field, JsonNode? value)
    {
        _envelope[field] = value;
        return this;
    }

    private JsonArray ItemsData()
    {
        if (Object["items"] is not JsonObject items)
        {
            items = new JsonObject { ["object"] = "list", ["data"] = new JsonArray(), ["has_more"] = false };
            Object["items"] = items;
        }

        if (items["data"] is not JsonArray data)
        {
            data = new JsonArray();
            items["data"] = data;
        }

        return data;
    }
}
