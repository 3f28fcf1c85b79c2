using System.Text.Json.Nodes;

namespace EntitlementDecision.FakeStripe;

// Scenario controls: what Stripe does when a customer pays, a card fails, a trial ends, a subscription is canceled.
// Each changes the objects under the lock, emits Stripe's events (listed by GET /v1/events newest first; created
// never decreases, and events of one change share a second as in Stripe) and then posts them, signed, to the configured webhook endpoint in order.
public sealed partial class FakeStripeState
{
    /// <summary>Statuses <see cref="SetStatusAsync"/> accepts (cancellation goes through <see cref="DeleteSubscriptionAsync"/>).</summary>
    public static readonly IReadOnlySet<string> SettableStatuses = new HashSet<string>(StringComparer.Ordinal)
    {
        "trialing", "active", "past_due", "unpaid", "paused", "incomplete", "incomplete_expired",
    };

    /// <summary>
    /// The customer completes an open checkout session: a customer is created when the session has none, then a
    /// subscription on the session's price and quantity, with <c>subscription_data[metadata]</c> and the trial
    /// (status <c>trialing</c> with a trial, else <c>active</c> with a paid invoice). Events:
    /// <c>checkout.session.completed</c>, <c>customer.subscription.created</c>, then <c>invoice.paid</c> (none for a trial).
    /// Returns the subscription.
    /// </summary>
    public Task<ScenarioResult> CompleteCheckoutSessionAsync(string sessionId, CancellationToken cancellationToken = default) =>
        RunAsync(events =>
        {
            var session = _sessions.Get(sessionId) ?? throw FakeStripeError.NoSuch("checkout.session", sessionId);
            if ((string?)session["status"] != "open")
            {
                throw new FakeStripeError(400, "invalid_request_error", $"The checkout session {sessionId} is {(string?)session["status"]}, not open.");
            }

            var plan = _sessionPlans[sessionId];
            var price = _prices.Get(plan.PriceId)!;
            var customerId = (string?)session["customer"];
            if (customerId is null)
            {
                var customer = Template("customer");
                customerId = NewId("cus");
                customer["id"] = customerId;
                customer["created"] = NowSeconds;
                customer["email"] = plan.CustomerEmail ?? "customer@example.com";
                customer["discount"] = null;
                customer["metadata"] = new JsonObject();
                _customers.Put(customer);
            }

            var sub = NewSubscription(customerId, price, plan.Quantity, plan.SubscriptionMetadata, plan.TrialDays);
            JsonObject? invoice = null;
            if (plan.TrialDays == 0)
            {
                invoice = NewInvoice(sub, paid: true, "subscription_create");
                sub["latest_invoice"] = invoice["id"]!.DeepClone();
            }

            _subscriptions.Put(sub);
            session["status"] = "complete";
            session["payment_status"] = plan.TrialDays > 0 ? "no_payment_required" : "paid";
            session["customer"] = customerId;
            session["subscription"] = sub["id"]!.DeepClone();
            session["invoice"] = invoice?["id"]?.DeepClone();
            session["customer_details"] = new JsonObject
            {
                ["email"] = plan.CustomerEmail ?? (string?)_customers.Get(customerId)!["email"], ["name"] = null, ["phone"] = null,
                ["address"] = null, ["tax_exempt"] = "none", ["tax_ids"] = new JsonArray(),
            };
            events.Add(EmitEvent("checkout.session.completed", session));
            events.Add(EmitEvent("customer.subscription.created", sub));
            if (invoice is not null)
            {
                events.Add(EmitEvent("invoice.paid", invoice));
            }

            return sub;
        }, cancellationToken);

    /// <summary>A renewal payment fails: an open invoice (a new one, or the open latest one with one more attempt) and the
    /// subscription becomes <c>past_due</c>. Events: <c>invoice.payment_failed</c>, <c>customer.subscription.updated</c> (when the status changed).
    /// While its collection is paused (<c>pause_collection</c>) and no invoice is open, the renewal is not charged: see <see cref="PausedRenewal"/>.</summary>
    public Task<ScenarioResult> FailPaymentAsync(string subscriptionId, CancellationToken cancellationToken = default) =>
        RunAsync(events =>
        {
            var sub = LiveSubscription(subscriptionId);
            if (PausedRenewal(sub))
            {
                return sub;
            }

            var invoice = OpenInvoice(sub) ?? NewInvoice(sub, paid: false, "subscription_cycle");
            invoice["attempt_count"] = (AsLong(invoice["attempt_count"]) ?? 0) + 1;
            invoice["attempted"] = true;
            invoice["next_payment_attempt"] = NowSeconds + 3 * 24 * 3600;
            var previous = Change(sub, "status", "past_due");
            previous.Merge(Change(sub, "latest_invoice", (string)invoice["id"]!));
            events.Add(EmitEvent("invoice.payment_failed", invoice));
            if (previous.ContainsKey("status"))
            {
                events.Add(EmitEvent("customer.subscription.updated", sub, previous));
            }

            return sub;
        }, cancellationToken);

    /// <summary>The customer pays: the open invoice (or a new renewal invoice) is paid and the subscription becomes <c>active</c>.
    /// Events: <c>invoice.paid</c>, <c>customer.subscription.updated</c> (when the status changed). While its collection is paused
    /// and no invoice is open, the renewal is not charged: see <see cref="PausedRenewal"/>.</summary>
    public Task<ScenarioResult> PayAsync(string subscriptionId, CancellationToken cancellationToken = default) =>
        RunAsync(events =>
        {
            var sub = LiveSubscription(subscriptionId);
            if (PausedRenewal(sub))
            {
                return sub;
            }

            var invoice = OpenInvoice(sub) ?? NewInvoice(sub, paid: false, "subscription_cycle");
            MarkPaid(invoice);
            var previous = Change(sub, "status", "active");
            previous.Merge(Change(sub, "latest_invoice", (string)invoice["id"]!));
            events.Add(EmitEvent("invoice.paid", invoice));
            if (previous.ContainsKey("status"))
            {
                events.Add(EmitEvent("customer.subscription.updated", sub, previous));
            }

            return sub;
        }, cancellationToken);

    /// <summary>Stripe's three-day notice: <c>customer.subscription.trial_will_end</c> for a trialing subscription (no change).</summary>
    public Task<ScenarioResult> TrialWillEndAsync(string subscriptionId, CancellationToken cancellationToken = default) =>
        RunAsync(events =>
        {
            var sub = Trialing(subscriptionId);
            events.Add(EmitEvent("customer.subscription.trial_will_end", sub));
            return sub;
        }, cancellationToken);

    /// <summary>The trial ends and the first invoice is paid: status <c>active</c>, <c>trial_end</c> now, a new period from now.
    /// Events: <c>customer.subscription.updated</c>, <c>invoice.paid</c>.</summary>
    public Task<ScenarioResult> EndTrialAsync(string subscriptionId, CancellationToken cancellationToken = default) =>
        RunAsync(events =>
        {
            var sub = Trialing(subscriptionId);
            var previous = new JsonObject { ["items"] = sub["items"]!.DeepClone() };
            previous.Merge(Change(sub, "status", "active"));
            previous.Merge(Change(sub, "trial_end", NowSeconds));
            StartPeriod(sub, Now);
            sub["billing_cycle_anchor"] = NowSeconds;
            var invoice = NewInvoice(sub, paid: true, "subscription_cycle");
            previous.Merge(Change(sub, "latest_invoice", (string)invoice["id"]!));
            events.Add(EmitEvent("customer.subscription.updated", sub, previous));
            events.Add(EmitEvent("invoice.paid", invoice));
            return sub;
        }, cancellationToken);

    /// <summary>Sets any of <see cref="SettableStatuses"/> (e.g. <c>unpaid</c> after the retries, <c>paused</c>, <c>incomplete_expired</c>).
    /// Event: <c>customer.subscription.updated</c> with the previous status.</summary>
    public Task<ScenarioResult> SetStatusAsync(string subscriptionId, string status, CancellationToken cancellationToken = default) =>
        RunAsync(events =>
        {
            if (!SettableStatuses.Contains(status))
            {
                throw new FakeStripeError(400, "invalid_request_error", $"status must be one of {string.Join(", ", SettableStatuses)} (use delete to cancel).", null, "status");
            }

            var sub = LiveSubscription(subscriptionId);
            var previous = Change(sub, "status", status);
            events.Add(EmitEvent("customer.subscription.updated", sub, previous));
            return sub;
        }, cancellationToken);

    /// <summary>The customer cancels at period end: <c>cancel_at_period_end</c> true, <c>cancel_at</c> the period end.
    /// Event: <c>customer.subscription.updated</c>.</summary>
    public Task<ScenarioResult> CancelAtPeriodEndAsync(string subscriptionId, CancellationToken cancellationToken = default) =>
        RunAsync(events =>
        {
            var sub = LiveSubscription(subscriptionId);
            var previous = Change(sub, "cancel_at_period_end", true);
            previous.Merge(Change(sub, "cancel_at", PeriodEnd(sub)));
            events.Add(EmitEvent("customer.subscription.updated", sub, previous));
            return sub;
        }, cancellationToken);

    /// <summary>The subscription ends now: status <c>canceled</c>, <c>canceled_at</c>/<c>ended_at</c> now.
    /// Event: <c>customer.subscription.deleted</c>.</summary>
    public Task<ScenarioResult> DeleteSubscriptionAsync(string subscriptionId, CancellationToken cancellationToken = default) =>
        RunAsync(events =>
        {
            var sub = LiveSubscription(subscriptionId);
            sub["status"] = "canceled";
            sub["canceled_at"] = NowSeconds;
            sub["ended_at"] = NowSeconds;
            sub["cancellation_details"] = new JsonObject { ["comment"] = null, ["feedback"] = null, ["reason"] = "cancellation_requested" };
            events.Add(EmitEvent("customer.subscription.deleted", sub));
            return sub;
        }, cancellationToken);

    private async Task<ScenarioResult> RunAsync(Func<List<JsonObject>, JsonObject> change, CancellationToken cancellationToken)
    {
        var events = new List<JsonObject>();
        JsonObject result;
        lock (_gate)
        {
            result = (JsonObject)change(events).DeepClone();
        }

        var deliveries = await DeliverAsync(events, cancellationToken).ConfigureAwait(false);
        return new ScenarioResult(result, events.Select(e => (string)e["id"]!).ToList(), deliveries);
    }

    private JsonObject LiveSubscription(string id)
    {
        var sub = _subscriptions.Get(id) ?? throw FakeStripeError.NoSuch("subscription", id);
        return (string?)sub["status"] == "canceled"
            ? throw new FakeStripeError(400, "invalid_request_error", $"The subscription {id} is canceled.")
            : sub;
    }

    private JsonObject Trialing(string id)
    {
        var sub = LiveSubscription(id);
        return (string?)sub["status"] == "trialing"
            ? sub
            : throw new FakeStripeError(400, "invalid_request_error", $"The subscription {id} is {(string?)sub["status"]}, not trialing.");
    }

    /// <summary>Sets a field and returns <c>{field: old value}</c> when it changed (Stripe's previous_attributes), else an empty object.</summary>
    private static JsonObject Change(JsonObject obj, string field, JsonNode? value)
    {
        var old = obj[field]?.DeepClone();
        if (JsonNode.DeepEquals(old, value))
        {
            return [];
        }

        obj[field] = value?.DeepClone();
        return new JsonObject { [field] = old };
    }

    private JsonObject NewSubscription(string customerId, JsonObject price, long quantity, Dictionary<string, string> metadata, int trialDays)
    {
        var id = NewId("sub");
        var sub = Template("subscription");
        var now = Now;
        var item = (JsonObject)sub["items"]!["data"]![0]!.DeepClone();
        item["id"] = NewId("si");
        item["created"] = NowSeconds;
        item["price"] = price.DeepClone();
        item["plan"] = PlanFromPrice(price);
        item["quantity"] = quantity;
        item["subscription"] = id;
        item["metadata"] = new JsonObject();
        item["billing_thresholds"] = null;
        sub["items"] = new JsonObject
        {
            ["object"] = "list", ["data"] = new JsonArray(item), ["has_more"] = false, ["total_count"] = 1,
            ["url"] = $"/v1/subscription_items?subscription={id}",
        };
        sub["id"] = id;
        sub["customer"] = customerId;
        sub["status"] = trialDays > 0 ? "trialing" : "active";
        sub["created"] = NowSeconds;
        sub["start_date"] = NowSeconds;
        sub["currency"] = price["currency"]!.DeepClone();
        sub["metadata"] = ToJson(metadata);
        sub["cancel_at"] = null;
        sub["canceled_at"] = null;
        sub["ended_at"] = null;
        sub["cancel_at_period_end"] = false;
        sub["cancellation_details"] = new JsonObject { ["comment"] = null, ["feedback"] = null, ["reason"] = null };
        sub["latest_invoice"] = null;
        sub["next_pending_invoice_item_invoice"] = null;
        sub["pause_collection"] = null;
        sub["pending_update"] = null;
        sub["pending_invoice_item_interval"] = null;
        sub["transfer_data"] = null;
        sub["billing_cycle_anchor_config"] = null;
        sub["billing_thresholds"] = null;
        sub["billing_schedules"] = new JsonArray();
        sub["trial_start"] = trialDays > 0 ? NowSeconds : null;
        sub["trial_end"] = trialDays > 0 ? now.AddDays(trialDays).ToUnixTimeSeconds() : null;
        if (trialDays > 0)
        {
            item["current_period_start"] = NowSeconds;
            item["current_period_end"] = now.AddDays(trialDays).ToUnixTimeSeconds();
            sub["billing_cycle_anchor"] = now.AddDays(trialDays).ToUnixTimeSeconds();
        }
        else
        {
            StartPeriod(sub, now);
            sub["billing_cycle_anchor"] = NowSeconds;
        }

        return sub;
    }

    /// <summary>Every item's period becomes [start, start + its price's interval).</summary>
    private static void StartPeriod(JsonObject sub, DateTimeOffset start)
    {
        foreach (var item in Items(sub))
        {
            var interval = (string?)item["price"]?["recurring"]?["interval"] ?? "month";
            var end = interval switch
            {
                "day" => start.AddDays(1),
                "week" => start.AddDays(7),
                "year" => start.AddYears(1),
                _ => start.AddMonths(1),
            };
            item["current_period_start"] = start.ToUnixTimeSeconds();
            item["current_period_end"] = end.ToUnixTimeSeconds();
        }
    }

    /// <summary>
    /// A renewal while <c>pause_collection</c> is set and no earlier invoice is open (those are still collected, as in Stripe): the
    /// new invoice is created and left as Stripe's pause behavior says, <c>void</c> (voided), <c>mark_uncollectible</c> or
    /// <c>keep_as_draft</c>; nothing is charged, the status stays, and no event is sent (Stripe sends none for them). False when not paused.
    /// </summary>
    private bool PausedRenewal(JsonObject sub)
    {
        if (sub["pause_collection"]?["behavior"] is not { } behavior || OpenInvoice(sub) is not null)
        {
            return false;
        }

        var invoice = NewInvoice(sub, paid: false, "subscription_cycle");
        var status = (string?)behavior switch
        {
            "void" => "void",
            "mark_uncollectible" => "uncollectible",
            _ => "draft",
        };
        invoice["status"] = status;
        invoice["auto_advance"] = false;
        invoice["status_transitions"]!["voided_at"] = status == "void" ? NowSeconds : null;
        invoice["status_transitions"]!["marked_uncollectible_at"] = status == "uncollectible" ? NowSeconds : null;
        invoice["status_transitions"]!["finalized_at"] = status == "draft" ? null : NowSeconds;
        sub["latest_invoice"] = invoice["id"]!.DeepClone();
        return true;
    }

    private JsonObject? OpenInvoice(JsonObject sub) =>
        (string?)sub["latest_invoice"] is { } id && _invoices.Get(id) is { } invoice && (string?)invoice["status"] == "open" ? invoice : null;

    private JsonObject NewInvoice(JsonObject sub, bool paid, string billingReason)
    {
        var id = NewId("in");
        var subId = (string)sub["id"]!;
        var item = Items(sub).First();
        var price = (JsonObject)item["price"]!;
        var amount = AsLong(price["unit_amount"])!.Value * (AsLong(item["quantity"]) ?? 1);
        var invoice = Template("invoice");
        var line = (JsonObject)invoice["lines"]!["data"]![0]!.DeepClone();
        line["id"] = NewId("il");
        line["invoice"] = id;
        line["amount"] = amount;
        line["subtotal"] = amount;
        line["currency"] = price["currency"]!.DeepClone();
        line["description"] = $"{item["quantity"]} × {(string?)price["product"]} (at {amount / 100m:0.00} {((string)price["currency"]!).ToUpperInvariant()} / {(string?)price["recurring"]?["interval"]})";
        line["quantity"] = item["quantity"]!.DeepClone();
        line["period"] = new JsonObject { ["start"] = item["current_period_start"]!.DeepClone(), ["end"] = item["current_period_end"]!.DeepClone() };
        line["parent"] = new JsonObject
        {
            ["type"] = "subscription_item_details",
            ["invoice_item_details"] = null,
            ["subscription_item_details"] = new JsonObject
            {
                ["invoice_item"] = null, ["proration"] = false, ["proration_details"] = new JsonObject { ["credited_items"] = null },
                ["subscription"] = subId, ["subscription_item"] = item["id"]!.DeepClone(),
            },
        };
        line["pricing"] = new JsonObject
        {
            ["type"] = "price_details",
            ["price_details"] = new JsonObject { ["price"] = price["id"]!.DeepClone(), ["product"] = price["product"]!.DeepClone() },
            ["unit_amount_decimal"] = price["unit_amount_decimal"]!.DeepClone(),
        };
        invoice["id"] = id;
        invoice["customer"] = sub["customer"]!.DeepClone();
        invoice["subscription"] = null;
        invoice["parent"] = new JsonObject
        {
            ["type"] = "subscription_details",
            ["quote_details"] = null,
            ["subscription_details"] = new JsonObject { ["metadata"] = sub["metadata"]!.DeepClone(), ["subscription"] = subId },
        };
        invoice["lines"] = new JsonObject { ["object"] = "list", ["data"] = new JsonArray(line), ["has_more"] = false, ["url"] = $"/v1/invoices/{id}/lines" };
        invoice["billing_reason"] = billingReason;
        invoice["created"] = NowSeconds;
        invoice["effective_at"] = NowSeconds;
        invoice["currency"] = price["currency"]!.DeepClone();
        invoice["amount_due"] = amount;
        invoice["amount_paid"] = 0;
        invoice["amount_remaining"] = amount;
        invoice["amount_overpaid"] = 0;
        invoice["subtotal"] = amount;
        invoice["subtotal_excluding_tax"] = amount;
        invoice["total"] = amount;
        invoice["total_excluding_tax"] = amount;
        invoice["attempt_count"] = 0;
        invoice["attempted"] = false;
        invoice["auto_advance"] = true;
        invoice["status"] = "open";
        invoice["due_date"] = null;
        invoice["from_invoice"] = null;
        invoice["last_finalization_error"] = null;
        invoice["next_payment_attempt"] = null;
        invoice["ending_balance"] = 0;
        invoice["number"] = $"FAKE-{_invoices.NewestFirst().Count() + 1:D4}";
        invoice["hosted_invoice_url"] = $"https://invoice.stripe.com/i/{id}";
        invoice["period_start"] = item["current_period_start"]!.DeepClone();
        invoice["period_end"] = item["current_period_end"]!.DeepClone();
        invoice["shipping_cost"] = null;
        invoice["shipping_details"] = null;
        invoice["webhooks_delivered_at"] = null;
        invoice["status_transitions"] = new JsonObject
        {
            ["finalized_at"] = NowSeconds, ["marked_uncollectible_at"] = null, ["paid_at"] = null, ["voided_at"] = null,
        };
        if (paid)
        {
            MarkPaid(invoice);
        }

        _invoices.Put(invoice);
        return invoice;
    }

    private void MarkPaid(JsonObject invoice)
    {
        invoice["status"] = "paid";
        invoice["attempted"] = true;
        invoice["attempt_count"] = Math.Max(1, AsLong(invoice["attempt_count"]) ?? 0);
        invoice["amount_paid"] = invoice["amount_due"]!.DeepClone();
        invoice["amount_remaining"] = 0;
        invoice["next_payment_attempt"] = null;
        invoice["status_transitions"]!["paid_at"] = NowSeconds;
    }
}

internal static class JsonObjectExtensions
{
    /// <summary>Copies the properties of <paramref name="other"/> into <paramref name="target"/> (overwriting).</summary>
    public static void Merge(this JsonObject target, JsonObject other)
    {
        foreach (var (key, value) in other)
        {
            target[key] = value?.DeepClone();
        }
    }
}
