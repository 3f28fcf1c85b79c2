using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EntitlementDecision.FakeStripe;

/// <summary>The answer of one <c>/v1</c> call: status, JSON body, the events it emitted, whether it replayed an idempotent result.</summary>
internal sealed record FakeApiResult(int Status, string Body, IReadOnlyList<JsonObject> Events, bool Replayed);

// The /v1 routes, Stripe-style: form parameters, unknown parameters rejected, Stripe error bodies, Idempotency-Key.
public sealed partial class FakeStripeState
{
    /// <summary>
    /// Handles one <c>/v1</c> request under the lock. A POST with an Idempotency-Key seen before replays the stored
    /// answer when the parameters are the same, and answers 400 <c>idempotency_error</c> when they differ (only
    /// successful answers are stored, so a failed request can be retried with its key).
    /// </summary>
    internal FakeApiResult HandleApi(string method, string path, IReadOnlyDictionary<string, string> form, string? idempotencyKey)
    {
        lock (_gate)
        {
            string? fingerprint = null;
            if (method == "POST" && !string.IsNullOrEmpty(idempotencyKey))
            {
                fingerprint = Fingerprint(method, path, form);
                if (_idempotency.TryGetValue(idempotencyKey, out var prior))
                {
                    if (prior.Fingerprint != fingerprint)
                    {
                        var error = new FakeStripeError(400, "idempotency_error",
                            $"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{idempotencyKey}' if you meant to execute a different request.");
                        return new FakeApiResult(error.Status, error.Body().ToJsonString(Indented), [], false);
                    }

                    return new FakeApiResult(prior.Status, prior.Body, [], true);
                }
            }

            var events = new List<JsonObject>();
            try
            {
                var body = Route(method, path, form, idempotencyKey, events).ToJsonString(Indented);
                if (fingerprint is not null)
                {
                    _idempotency[idempotencyKey!] = new IdempotentResult(fingerprint, 200, body);
                }

                return new FakeApiResult(200, body, events, false);
            }
            catch (FakeStripeError error)
            {
                return new FakeApiResult(error.Status, error.Body().ToJsonString(Indented), [], false);
            }
        }
    }

    private JsonNode Route(string method, string path, IReadOnlyDictionary<string, string> form, string? idempotencyKey, List<JsonObject> events)
    {
        var s = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return (method, s) switch
        {
            ("POST", ["v1", "customers"]) => CreateCustomer(form),
            ("GET", ["v1", "customers", var id]) => Retrieve(_customers, "customer", id, form),
            ("POST", ["v1", "checkout", "sessions"]) => CreateCheckoutSession(form),
            ("GET", ["v1", "checkout", "sessions", var id]) => Retrieve(_sessions, "checkout.session", id, form),
            ("POST", ["v1", "checkout", "sessions", var id, "expire"]) => ExpireCheckoutSession(id, form, events),
            ("POST", ["v1", "billing_portal", "sessions"]) => CreatePortalSession(form),
            ("GET", ["v1", "subscriptions"]) => ListSubscriptions(form),
            ("GET", ["v1", "subscriptions", var id]) => Retrieve(_subscriptions, "subscription", id, form),
            ("POST", ["v1", "subscriptions", var id]) => UpdateSubscription(id, form, idempotencyKey, events),
            ("GET", ["v1", "invoices"]) => ListInvoices(form),
            ("GET", ["v1", "invoices", var id]) => Retrieve(_invoices, "invoice", id, form),
            ("GET", ["v1", "events"]) => ListEvents(form),
            ("GET", ["v1", "events", var id]) => Retrieve(_events, "event", id, form),
            ("GET", ["v1", "prices"]) => ListPrices(form),
            ("GET", ["v1", "prices", var id]) => Retrieve(_prices, "price", id, form),
            _ => throw new FakeStripeError(404, "invalid_request_error",
                $"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."),
        };
    }

    private static JsonObject Retrieve(Store store, string kind, string id, IReadOnlyDictionary<string, string> form)
    {
        Allow(form, "expand[");
        return (JsonObject?)store.Get(id)?.DeepClone() ?? throw FakeStripeError.NoSuch(kind, id);
    }

    /// <summary><c>POST /v1/checkout/sessions/{id}/expire</c>: an open session becomes expired (Stripe: 400 when it is not open); emits <c>checkout.session.expired</c>.</summary>
    private JsonObject ExpireCheckoutSession(string id, IReadOnlyDictionary<string, string> form, List<JsonObject> events)
    {
        Allow(form, "expand[");
        var session = _sessions.Get(id) ?? throw FakeStripeError.NoSuch("checkout.session", id);
        if ((string?)session["status"] != "open")
        {
            throw new FakeStripeError(400, "invalid_request_error", $"Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \"{(string?)session["status"]}\".");
        }

        session["status"] = "expired";
        session["url"] = null;
        _sessions.Put(session);
        events.Add(EmitEvent("checkout.session.expired", session));
        return (JsonObject)session.DeepClone();
    }

    private JsonObject CreateCustomer(IReadOnlyDictionary<string, string> form)
    {
        Allow(form, "email", "name", "description", "phone", "metadata[", "expand[");
        var customer = Template("customer");
        customer["id"] = NewId("cus");
        customer["created"] = NowSeconds;
        customer["email"] = form.GetValueOrDefault("email");
        customer["name"] = form.GetValueOrDefault("name");
        customer["description"] = form.GetValueOrDefault("description");
        customer["phone"] = form.GetValueOrDefault("phone");
        customer["metadata"] = ToJson(Map(form, "metadata"));
        customer["discount"] = null;
        customer["invoice_prefix"] = ((string)customer["id"]!)[4..12].ToUpperInvariant();
        _customers.Put(customer);
        return (JsonObject)customer.DeepClone();
    }

    private JsonObject CreateCheckoutSession(IReadOnlyDictionary<string, string> form)
    {
        Allow(form, "mode", "line_items[0][price]", "line_items[0][quantity]", "customer", "customer_email", "client_reference_id",
            "metadata[", "subscription_data[metadata][", "subscription_data[trial_period_days]", "success_url", "cancel_url",
            "allow_promotion_codes", "locale", "expand[", "payment_method_types[");
        var mode = Required(form, "mode");
        if (mode != "subscription")
        {
            throw new FakeStripeError(400, "invalid_request_error", $"The fake Stripe API supports mode=subscription only, not '{mode}'.", null, "mode");
        }

        var priceId = Required(form, "line_items[0][price]");
        var price = _prices.Get(priceId) ?? throw new FakeStripeError(400, "invalid_request_error", $"No such price: '{priceId}'", "resource_missing", "line_items[0][price]");
        if (price["active"]?.GetValue<bool>() != true)
        {
            throw new FakeStripeError(400, "invalid_request_error", $"The price specified is inactive. This field only accepts active prices.", null, "line_items[0][price]");
        }

        var quantity = Integer(form, "line_items[0][quantity]") ?? 1;
        if (quantity < 1)
        {
            throw new FakeStripeError(400, "invalid_request_error", "This value must be greater than or equal to 1.", null, "line_items[0][quantity]");
        }

        var customerId = form.GetValueOrDefault("customer");
        if (customerId is not null && form.ContainsKey("customer_email"))
        {
            throw new FakeStripeError(400, "invalid_request_error", "You may only specify one of these parameters: customer, customer_email.", null, "customer_email");
        }

        if (customerId is not null && _customers.Get(customerId) is null)
        {
            throw new FakeStripeError(400, "invalid_request_error", $"No such customer: '{customerId}'", "resource_missing", "customer");
        }

        var successUrl = Required(form, "success_url");
        var trialDays = Integer(form, "subscription_data[trial_period_days]") ?? 0;
        if (form.ContainsKey("subscription_data[trial_period_days]") && trialDays < 1)
        {
            throw new FakeStripeError(400, "invalid_request_error", "This value must be greater than or equal to 1.", null, "subscription_data[trial_period_days]");
        }

        var id = "cs_test_" + NewId("a")[2..];
        var amount = AsLong(price["unit_amount"])!.Value * quantity;
        var session = Template("checkout.session");
        session["id"] = id;
        session["object"] = "checkout.session";
        session["mode"] = "subscription";
        session["status"] = "open";
        session["payment_status"] = "unpaid";
        session["created"] = NowSeconds;
        session["expires_at"] = NowSeconds + 24 * 3600;
        session["customer"] = customerId;
        session["customer_email"] = form.GetValueOrDefault("customer_email");
        session["customer_details"] = null;
        session["collected_information"] = null;
        session["client_reference_id"] = form.GetValueOrDefault("client_reference_id");
        session["metadata"] = ToJson(Map(form, "metadata"));
        session["success_url"] = successUrl;
        session["cancel_url"] = form.GetValueOrDefault("cancel_url");
        session["currency"] = price["currency"]!.DeepClone();
        session["amount_subtotal"] = amount;
        session["amount_total"] = amount;
        session["payment_intent"] = null;
        session["subscription"] = null;
        session["invoice"] = null;
        session["after_expiration"] = null;
        session["shipping_cost"] = null;
        session["shipping_address_collection"] = null;
        session["currency_conversion"] = null;
        session["total_details"] = new JsonObject { ["amount_discount"] = 0, ["amount_shipping"] = 0, ["amount_tax"] = 0 };
        session["url"] = $"https://checkout.stripe.com/c/pay/{id}";
        _sessions.Put(session);
        _sessionPlans[id] = new SessionPlan(priceId, quantity, Map(form, "subscription_data[metadata]"), (int)trialDays, form.GetValueOrDefault("customer_email"));
        return (JsonObject)session.DeepClone();
    }

    private JsonObject CreatePortalSession(IReadOnlyDictionary<string, string> form)
    {
        Allow(form, "customer", "return_url", "configuration", "locale", "expand[");
        var customerId = Required(form, "customer");
        if (_customers.Get(customerId) is null)
        {
            throw new FakeStripeError(400, "invalid_request_error", $"No such customer: '{customerId}'", "resource_missing", "customer");
        }

        var portal = Template("billing_portal.session");
        portal["id"] = NewId("bps");
        portal["created"] = NowSeconds;
        portal["customer"] = customerId;
        portal["return_url"] = form.GetValueOrDefault("return_url");
        portal["flow"] = null;
        portal["livemode"] = false;
        portal["url"] = $"https://billing.stripe.com/p/session/test_{NewId("s")[2..]}";
        _portalSessions.Put(portal);
        return (JsonObject)portal.DeepClone();
    }

    private JsonObject ListSubscriptions(IReadOnlyDictionary<string, string> form)
    {
        Allow(form, "customer", "status", "price", "limit", "starting_after", "expand[");
        var customer = form.GetValueOrDefault("customer");
        var status = form.GetValueOrDefault("status");
        var price = form.GetValueOrDefault("price");
        var matching = _subscriptions.NewestFirst().Where(s =>
            (customer is null || (string?)s["customer"] == customer)
            && (status == "all" || (status is null ? (string?)s["status"] != "canceled" : (string?)s["status"] == status))
            && (price is null || ItemPriceIds(s).Contains(price)));
        return ListPage(matching, "/v1/subscriptions", form);
    }

    private JsonObject ListInvoices(IReadOnlyDictionary<string, string> form)
    {
        Allow(form, "customer", "subscription", "status", "limit", "starting_after", "expand[");
        var customer = form.GetValueOrDefault("customer");
        var subscription = form.GetValueOrDefault("subscription");
        var status = form.GetValueOrDefault("status");
        var matching = _invoices.NewestFirst().Where(i =>
            (customer is null || (string?)i["customer"] == customer)
            && (subscription is null || InvoiceSubscription(i) == subscription)
            && (status is null || (string?)i["status"] == status));
        return ListPage(matching, "/v1/invoices", form);
    }

    private JsonObject ListEvents(IReadOnlyDictionary<string, string> form)
    {
        Allow(form, "type", "types[", "created", "created[gte]", "created[gt]", "created[lte]", "created[lt]", "limit", "starting_after", "delivery_success", "expand[");
        var type = form.GetValueOrDefault("type");
        var types = form.Where(p => p.Key.StartsWith("types[", StringComparison.Ordinal)).Select(p => p.Value).ToHashSet(StringComparer.Ordinal);
        var created = Integer(form, "created");
        var gte = Integer(form, "created[gte]");
        var gt = Integer(form, "created[gt]");
        var lte = Integer(form, "created[lte]");
        var lt = Integer(form, "created[lt]");
        var matching = _events.NewestFirst().Where(e =>
        {
            var t = (string)e["type"]!;
            var c = AsLong(e["created"])!.Value;
            return (type is null || TypeMatches(type, t)) && (types.Count == 0 || types.Contains(t))
                && (created is null || c == created) && (gte is null || c >= gte) && (gt is null || c > gt) && (lte is null || c <= lte) && (lt is null || c < lt);
        });
        return ListPage(matching, "/v1/events", form);
    }

    private JsonObject ListPrices(IReadOnlyDictionary<string, string> form)
    {
        Allow(form, "active", "currency", "product", "type", "limit", "starting_after", "expand[");
        var active = Boolean(form, "active");
        var matching = _prices.NewestFirst().Where(p =>
            (active is null || p["active"]!.GetValue<bool>() == active)
            && (!form.TryGetValue("currency", out var currency) || (string?)p["currency"] == currency)
            && (!form.TryGetValue("product", out var product) || (string?)p["product"] == product)
            && (!form.TryGetValue("type", out var type) || (string?)p["type"] == type));
        return ListPage(matching, "/v1/prices", form);
    }

    private JsonObject UpdateSubscription(string id, IReadOnlyDictionary<string, string> form, string? idempotencyKey, List<JsonObject> events)
    {
        Allow(form, "items[0][id]", "items[0][price]", "items[0][quantity]", "proration_behavior", "cancel_at_period_end", "metadata[", "expand[",
            "pause_collection", "pause_collection[behavior]", "pause_collection[resumes_at]");
        var sub = _subscriptions.Get(id) ?? throw FakeStripeError.NoSuch("subscription", id);
        if ((string?)sub["status"] == "canceled")
        {
            throw new FakeStripeError(400, "invalid_request_error", "A canceled subscription can only update its cancellation_details and metadata.");
        }

        var proration = form.GetValueOrDefault("proration_behavior");
        if (proration is not null and not ("create_prorations" or "none" or "always_invoice"))
        {
            throw new FakeStripeError(400, "invalid_request_error", "Invalid proration_behavior: must be one of create_prorations, none, or always_invoice", null, "proration_behavior");
        }

        var cancelAtPeriodEnd = Boolean(form, "cancel_at_period_end");
        var pauseCollection = PauseCollection(form);
        JsonObject? item = null;
        JsonObject? newPrice = null;
        var itemId = form.GetValueOrDefault("items[0][id]");
        var priceId = form.GetValueOrDefault("items[0][price]");
        var quantity = Integer(form, "items[0][quantity]");
        if (itemId is not null)
        {
            item = Items(sub).FirstOrDefault(i => (string?)i["id"] == itemId)
                ?? throw new FakeStripeError(400, "invalid_request_error", $"No such subscription_item: '{itemId}'", "resource_missing", "items[0][id]");
        }
        else if (priceId is not null || quantity is not null)
        {
            throw new FakeStripeError(400, "invalid_request_error", "The fake Stripe API changes an existing item only: send items[0][id] with items[0][price].", null, "items[0][id]");
        }

        if (priceId is not null)
        {
            newPrice = _prices.Get(priceId) ?? throw new FakeStripeError(400, "invalid_request_error", $"No such price: '{priceId}'", "resource_missing", "items[0][price]");
        }

        if (quantity is < 1)
        {
            throw new FakeStripeError(400, "invalid_request_error", "This value must be greater than or equal to 1.", null, "items[0][quantity]");
        }

        var previous = new JsonObject();
        if (item is not null && (newPrice is not null || quantity is not null))
        {
            previous["items"] = sub["items"]!.DeepClone();
            if (newPrice is not null)
            {
                item["price"] = newPrice.DeepClone();
                item["plan"] = PlanFromPrice(newPrice);
            }

            if (quantity is not null)
            {
                item["quantity"] = quantity;
            }
        }

        if (cancelAtPeriodEnd is { } cape && cape != sub["cancel_at_period_end"]?.GetValue<bool>())
        {
            previous["cancel_at_period_end"] = sub["cancel_at_period_end"]?.DeepClone();
            previous["cancel_at"] = sub["cancel_at"]?.DeepClone();
            sub["cancel_at_period_end"] = cape;
            sub["cancel_at"] = cape ? PeriodEnd(sub) : null;
        }

        if (pauseCollection is not null)
        {
            // Stripe's pause_collection: { behavior, resumes_at } while paused, null once cleared ("pause_collection=").
            previous.Merge(Change(sub, "pause_collection", pauseCollection.Value.Cleared ? null : pauseCollection.Value.Object));
        }

        var metadataChanges = Map(form, "metadata");
        if (metadataChanges.Count > 0)
        {
            var metadata = (JsonObject)sub["metadata"]!;
            previous["metadata"] = metadata.DeepClone();
            foreach (var (key, value) in metadataChanges)
            {
                if (value.Length == 0)
                {
                    metadata.Remove(key);
                }
                else
                {
                    metadata[key] = value;
                }
            }
        }

        if (previous.Count > 0)
        {
            events.Add(EmitEvent("customer.subscription.updated", sub, previous, idempotencyKey));
        }

        return (JsonObject)sub.DeepClone();
    }

    /// <summary>
    /// <c>pause_collection</c> of a subscription update: null when not sent; Cleared for <c>pause_collection=</c>; else the object
    /// Stripe stores (<c>behavior</c> one of keep_as_draft, mark_uncollectible, void; <c>resumes_at</c> a Unix time or null).
    /// </summary>
    private static (bool Cleared, JsonObject? Object)? PauseCollection(IReadOnlyDictionary<string, string> form)
    {
        if (form.TryGetValue("pause_collection", out var whole))
        {
            return whole.Length == 0 && !form.Keys.Any(k => k.StartsWith("pause_collection[", StringComparison.Ordinal))
                ? (true, null)
                : throw new FakeStripeError(400, "invalid_request_error", "Invalid pause_collection: send pause_collection[behavior], or an empty string to unset it.", null, "pause_collection");
        }

        if (!form.TryGetValue("pause_collection[behavior]", out var behavior))
        {
            return form.ContainsKey("pause_collection[resumes_at]")
                ? throw new FakeStripeError(400, "invalid_request_error", "Missing required param: pause_collection[behavior].", "parameter_missing", "pause_collection[behavior]")
                : null;
        }

        if (behavior is not ("keep_as_draft" or "mark_uncollectible" or "void"))
        {
            throw new FakeStripeError(400, "invalid_request_error",
                $"Invalid pause_collection[behavior]: must be one of keep_as_draft, mark_uncollectible, or void", null, "pause_collection[behavior]");
        }

        return (false, new JsonObject { ["behavior"] = behavior, ["resumes_at"] = Integer(form, "pause_collection[resumes_at]") });
    }

    private static JsonObject ListPage(IEnumerable<JsonObject> newestFirst, string url, IReadOnlyDictionary<string, string> form)
    {
        var limit = Integer(form, "limit") ?? 10;
        if (limit is < 1 or > 100)
        {
            throw new FakeStripeError(400, "invalid_request_error", "This value must be between 1 and 100.", null, "limit");
        }

        var items = newestFirst.ToList();
        if (form.GetValueOrDefault("starting_after") is { } after)
        {
            var index = items.FindIndex(i => (string?)i["id"] == after);
            if (index < 0)
            {
                throw new FakeStripeError(400, "invalid_request_error", $"No such object: '{after}'", "resource_missing", "starting_after");
            }

            items = items.Skip(index + 1).ToList();
        }

        var data = new JsonArray();
        foreach (var item in items.Take((int)limit))
        {
            data.Add(item.DeepClone());
        }

        return new JsonObject { ["object"] = "list", ["data"] = data, ["has_more"] = items.Count > limit, ["url"] = url };
    }

    /// <summary>Rejects a parameter that is neither listed nor under a listed prefix (entries ending with <c>[</c>), as Stripe does.</summary>
    private static void Allow(IReadOnlyDictionary<string, string> form, params string[] allowed)
    {
        foreach (var key in form.Keys)
        {
            var ok = allowed.Any(a => a.EndsWith('[') ? key.StartsWith(a, StringComparison.Ordinal) || key == a[..^1] : key == a);
            if (!ok)
            {
                throw new FakeStripeError(400, "invalid_request_error", $"Received unknown parameter: {key}", "parameter_unknown", key);
            }
        }
    }

    private static string Required(IReadOnlyDictionary<string, string> form, string name) =>
        form.GetValueOrDefault(name) is { Length: > 0 } value
            ? value
            : throw new FakeStripeError(400, "invalid_request_error", $"Missing required param: {name}.", "parameter_missing", name);

    private static long? Integer(IReadOnlyDictionary<string, string> form, string name)
    {
        if (!form.TryGetValue(name, out var text))
        {
            return null;
        }

        return long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new FakeStripeError(400, "invalid_request_error", $"Invalid integer: {text}", "parameter_invalid_integer", name);
    }

    private static bool? Boolean(IReadOnlyDictionary<string, string> form, string name) =>
        form.GetValueOrDefault(name) switch
        {
            null => null,
            "true" => true,
            "false" => false,
            var other => throw new FakeStripeError(400, "invalid_request_error", $"Invalid boolean: {other}", null, name),
        };

    /// <summary>The entries <c>{prefix}[key]=value</c> as key → value.</summary>
    private static Dictionary<string, string> Map(IReadOnlyDictionary<string, string> form, string prefix)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in form)
        {
            if (key.Length > prefix.Length + 2 && key.StartsWith(prefix + "[", StringComparison.Ordinal) && key.EndsWith(']') && key.IndexOf('[', prefix.Length + 1) < 0)
            {
                map[key[(prefix.Length + 1)..^1]] = value;
            }
        }

        return map;
    }

    private static JsonObject ToJson(Dictionary<string, string> map)
    {
        var json = new JsonObject();
        foreach (var (key, value) in map.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            json[key] = value;
        }

        return json;
    }

    private static bool TypeMatches(string filter, string type) =>
        filter.EndsWith(".*", StringComparison.Ordinal) ? type.StartsWith(filter[..^1], StringComparison.Ordinal) : filter == type;

    private static IEnumerable<JsonObject> Items(JsonObject sub) => ((JsonArray)sub["items"]!["data"]!).Cast<JsonObject>();

    private static List<string> ItemPriceIds(JsonObject sub) => Items(sub).Select(i => (string)i["price"]!["id"]!).ToList();

    private static string? InvoiceSubscription(JsonObject invoice) =>
        (string?)invoice["parent"]?["subscription_details"]?["subscription"] ?? (string?)invoice["subscription"];

    private static long? PeriodEnd(JsonObject sub) =>
        Items(sub).Select(i => AsLong(i["current_period_end"])).Min();

    private static JsonObject PlanFromPrice(JsonObject price) => new()
    {
        ["id"] = price["id"]!.DeepClone(),
        ["object"] = "plan",
        ["active"] = price["active"]!.DeepClone(),
        ["amount"] = price["unit_amount"]!.DeepClone(),
        ["amount_decimal"] = price["unit_amount_decimal"]!.DeepClone(),
        ["billing_scheme"] = "per_unit",
        ["created"] = price["created"]!.DeepClone(),
        ["currency"] = price["currency"]!.DeepClone(),
        ["interval"] = price["recurring"]!["interval"]!.DeepClone(),
        ["interval_count"] = 1,
        ["livemode"] = false,
        ["metadata"] = new JsonObject(),
        ["meter"] = null,
        ["nickname"] = null,
        ["product"] = price["product"]!.DeepClone(),
        ["tiers_mode"] = null,
        ["transform_usage"] = null,
        ["trial_period_days"] = null,
        ["usage_type"] = "licensed",
    };

    /// <summary>A JSON number node as long (nodes built from C# ints hold Int32), or null.</summary>
    private static long? AsLong(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.Number ? long.Parse(value.ToJsonString(), CultureInfo.InvariantCulture) : null;
}
