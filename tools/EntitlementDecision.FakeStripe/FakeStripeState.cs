using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using EntitlementDecision.Stripe;

namespace EntitlementDecision.FakeStripe;

/// <summary>A request the fake received (recorded before faults, auth and idempotency are applied).</summary>
/// <param name="Sequence">1, 2, 3... in arrival order.</param>
/// <param name="Headers">Request headers by lower-case name; <c>authorization</c> is masked to its scheme and key prefix.</param>
/// <param name="Form">The decoded form body (POST) or query (GET): <c>metadata[tenant_id]</c> → value; repeated keys joined with <c>,</c>.</param>
public sealed record RecordedRequest(
    long Sequence,
    string Method,
    string Path,
    IReadOnlyDictionary<string, string> Headers,
    IReadOnlyDictionary<string, string> Form,
    string? IdempotencyKey,
    string? StripeVersion)
{
    /// <summary>The status the fake answered (0 when the connection was aborted by a fault).</summary>
    public int Status { get; internal set; }

    /// <summary>The tally that counts its status once answered; null once answered, or forgotten by a clear.</summary>
    internal RequestTally? PendingIn { get; set; }
}

/// <summary>
/// An injected fault: the next <see cref="Count"/> requests whose path equals <see cref="Path"/> (or starts with it when it
/// ends with <c>*</c>), and whose method equals <see cref="Method"/> when set, answer <see cref="Status"/> (429, 500, 503, 409...)
/// with a Stripe error body, and a <c>Stripe-Should-Retry</c> header when <see cref="ShouldRetry"/> is set; or, with
/// <see cref="Abort"/>, have their connection aborted (a network error). With <see cref="DelayMs"/> the answer (or the abort) comes
/// only after that long, so a client's timeout can fire first (a hung Stripe).
/// </summary>
public sealed record FakeFault(string Path, int Status = 500, int Count = 1, string? Method = null, bool? ShouldRetry = null, bool Abort = false, int DelayMs = 0);

/// <summary>One webhook delivery attempt: the event, the endpoint's HTTP status (null when unreachable) and the error, if any.</summary>
public sealed record WebhookDelivery(string EventId, string EventType, int? Status, string? Error);

/// <summary>The result of a scenario control: the object it acted on, the events it emitted (in order) and their deliveries.</summary>
public sealed record ScenarioResult(JsonObject Object, IReadOnlyList<string> EventIds, IReadOnlyList<WebhookDelivery> Deliveries);

/// <summary>An error the fake answers the way Stripe does: <c>{"error": {"type", "code", "message", "param"}}</c>.</summary>
public sealed class FakeStripeError(int status, string type, string message, string? code = null, string? param = null) : Exception(message)
{
    public int Status { get; } = status;

    public string Type { get; } = type;

    public string? Code { get; } = code;

    public string? Param { get; } = param;

    /// <summary>Stripe's error body.</summary>
    public JsonObject Body() => new()
    {
        ["error"] = new JsonObject
        {
            ["type"] = Type,
            ["code"] = Code,
            ["message"] = Message,
            ["param"] = Param,
        },
    };

    public static FakeStripeError NoSuch(string kind, string id, string param = "id") =>
        new(404, "invalid_request_error", $"No such {kind}: '{id}'", "resource_missing", param);
}

/// <summary>
/// The in-memory state of the fake Stripe API: customers, checkout and portal sessions, subscriptions, invoices, prices,
/// events, idempotency results, recorded requests, faults and webhook deliveries. Thread-safe: one lock around every
/// read and change; webhooks are posted outside it.
/// </summary>
public sealed partial class FakeStripeState : IDisposable
{
    private static readonly JsonObject Fixtures = LoadFixtures();

    private readonly Lock _gate = new();
    private readonly FakeStripeOptions _options;
    private readonly HttpClient _webhookClient = new() { Timeout = TimeSpan.FromSeconds(30) };
    private readonly Store _customers = new();
    private readonly Store _sessions = new();
    private readonly Dictionary<string, SessionPlan> _sessionPlans = new(StringComparer.Ordinal);
    private readonly Store _portalSessions = new();
    private readonly Store _subscriptions = new();
    private readonly Store _invoices = new();
    private readonly Store _prices = new();
    private readonly Store _events = new();
    private readonly Dictionary<string, IdempotentResult> _idempotency = new(StringComparer.Ordinal);
    private readonly List<RecordedRequest> _requests = [];
    private readonly List<MutableFault> _faults = [];
    private readonly List<WebhookDelivery> _deliveries = [];
    private readonly RateLimitWindows? _rateLimits;
    private RequestTally _tally = new();
    private long _lastEventCreated;
    private Uri? _webhookUrl;
    private string? _webhookSecret;

    public FakeStripeState(FakeStripeOptions? options = null)
    {
        _options = options ?? new FakeStripeOptions();
        _webhookUrl = _options.WebhookUrl;
        _webhookSecret = _options.WebhookSecret;
        _options.RateLimits?.Validate();
        _rateLimits = _options.RateLimits is { } limits ? new RateLimitWindows(limits) : null;
        foreach (var price in _options.Prices)
        {
            AddPrice(price);
        }
    }

    /// <summary>The options the fake was created with.</summary>
    public FakeStripeOptions Options => _options;

    private DateTimeOffset Now => _options.TimeProvider.GetUtcNow();

    private long NowSeconds => Now.ToUnixTimeSeconds();

    /// <summary>Every request received so far, in order (a copy).</summary>
    public IReadOnlyList<RecordedRequest> Requests
    {
        get { lock (_gate) { return [.. _requests]; } }
    }

    /// <summary>Every webhook delivery so far, in order (a copy).</summary>
    public IReadOnlyList<WebhookDelivery> Deliveries
    {
        get { lock (_gate) { return [.. _deliveries]; } }
    }

    /// <summary>The rate limits in force (fixed at construction), or null.</summary>
    internal FakeStripeRateLimits? RateLimits => _rateLimits?.Limits;

    /// <summary>The recorded requests in figures (see <see cref="FakeRequestSummary"/>).</summary>
    public FakeRequestSummary RequestSummary
    {
        get { lock (_gate) { return _tally.Snapshot(); } }
    }

    /// <summary>Forgets the recorded requests, their summary and the deliveries (objects, events, idempotency results and rate-limit windows stay).</summary>
    public void ClearRequests()
    {
        lock (_gate)
        {
            _requests.Clear();
            _deliveries.Clear();
            _tally = new RequestTally();
        }
    }

    /// <summary>Adds a fault (see <see cref="FakeFault"/>); faults are matched in the order added.</summary>
    public void AddFault(FakeFault fault)
    {
        ArgumentNullException.ThrowIfNull(fault);
        ArgumentOutOfRangeException.ThrowIfLessThan(fault.Count, 1);
        lock (_gate)
        {
            _faults.Add(new MutableFault(fault) { Remaining = fault.Count });
        }
    }

    /// <summary>Removes every fault (the fake recovers).</summary>
    public void ClearFaults()
    {
        lock (_gate)
        {
            _faults.Clear();
        }
    }

    /// <summary>The faults not yet used up, with how many requests each still answers, in the order added.</summary>
    public IReadOnlyList<(FakeFault Fault, int Remaining)> PendingFaults
    {
        get
        {
            lock (_gate)
            {
                return [.. _faults.Where(f => f.Remaining > 0).Select(f => (f.Fault, f.Remaining))];
            }
        }
    }

    /// <summary>Sets (or clears, with null) where events are posted and the signing secret.</summary>
    public void ConfigureWebhook(Uri? url, string? secret)
    {
        if (url is not null)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(secret);
        }

        lock (_gate)
        {
            _webhookUrl = url;
            _webhookSecret = secret;
        }
    }

    /// <summary>Adds (or replaces) a price.</summary>
    public void AddPrice(FakePrice price)
    {
        ArgumentNullException.ThrowIfNull(price);
        lock (_gate)
        {
            var json = Template("price");
            json["id"] = price.Id;
            json["active"] = price.Active;
            json["currency"] = price.Currency;
            json["unit_amount"] = price.UnitAmount;
            json["unit_amount_decimal"] = price.UnitAmount.ToString(System.Globalization.CultureInfo.InvariantCulture);
            json["product"] = price.Product;
            json["created"] = NowSeconds;
            json["transform_quantity"] = null;
            json["custom_unit_amount"] = null;
            json["type"] = "recurring";
            json["recurring"] = new JsonObject
            {
                ["interval"] = price.Interval,
                ["interval_count"] = 1,
                ["meter"] = null,
                ["usage_type"] = "licensed",
                ["trial_period_days"] = null,
            };
            _prices.Put(json);
        }
    }

    /// <summary>A copy of any stored object by id (customer, session, subscription, invoice, price, event), or null.</summary>
    public JsonObject? Find(string id)
    {
        lock (_gate)
        {
            foreach (var store in new[] { _customers, _sessions, _portalSessions, _subscriptions, _invoices, _prices, _events })
            {
                if (store.Get(id) is { } found)
                {
                    return (JsonObject)found.DeepClone();
                }
            }

            return null;
        }
    }

    /// <summary>
    /// Records a request and counts it against the rate limits of <paramref name="apiKey"/> (none when empty). Over a limit it
    /// returns that outcome and no fault; else the fault that answers it, if any (consuming one of its count).
    /// </summary>
    internal (RecordedRequest Request, RateLimitOutcome Limit, FakeFault? Fault) Record(
        string method, string path, IReadOnlyDictionary<string, string> headers, IReadOnlyDictionary<string, string> form, string apiKey)
    {
        lock (_gate)
        {
            var request = new RecordedRequest(
                _requests.Count + 1, method, path, headers, form,
                headers.GetValueOrDefault("idempotency-key"), headers.GetValueOrDefault("stripe-version"))
            {
                PendingIn = _tally,
            };
            _requests.Add(request);
            var endpoint = StripeEndpoint.Of(method, path);
            var second = NowSeconds;
            _tally.Arrived(endpoint, second);
            var limit = _rateLimits is not null && apiKey.Length > 0 ? _rateLimits.Admit(apiKey, endpoint, second) : RateLimitOutcome.Allowed;
            if (limit != RateLimitOutcome.Allowed)
            {
                _tally.RateLimited(endpoint);
                return (request, limit, null);
            }

            foreach (var fault in _faults)
            {
                if (fault.Remaining > 0 && fault.Matches(method, path))
                {
                    fault.Remaining--;
                    return (request, RateLimitOutcome.Allowed, fault.Fault);
                }
            }

            _faults.RemoveAll(f => f.Remaining == 0);
            return (request, RateLimitOutcome.Allowed, null);
        }
    }

    internal void SetStatus(RecordedRequest request, int status)
    {
        lock (_gate)
        {
            request.Status = status;
            request.PendingIn?.Answered(status);
            request.PendingIn = null;
        }
    }

    /// <summary>Posts events to the configured webhook endpoint, in order, signed with the configured secret.</summary>
    internal async Task<IReadOnlyList<WebhookDelivery>> DeliverAsync(IReadOnlyList<JsonObject> events, CancellationToken cancellationToken)
    {
        Uri? url;
        string? secret;
        List<(string Id, string Type, byte[] Body)> payloads;
        lock (_gate)
        {
            url = _webhookUrl;
            secret = _webhookSecret;
            payloads = events.Select(e => ((string)e["id"]!, (string)e["type"]!, Encoding.UTF8.GetBytes(e.ToJsonString()))).ToList();
        }

        var results = new List<WebhookDelivery>();
        if (url is null || secret is null)
        {
            return results;
        }

        foreach (var (id, type, body) in payloads)
        {
            WebhookDelivery delivery;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
                request.Headers.Add("Stripe-Signature", WebhookSignature.CreateHeader(body, secret, Now));
                request.Headers.UserAgent.ParseAdd("Stripe/1.0 (+https://stripe.com/docs/webhooks)");
                using var response = await _webhookClient.SendAsync(request, cancellationToken).ConfigureAwait(false);
                delivery = new WebhookDelivery(id, type, (int)response.StatusCode, response.IsSuccessStatusCode ? null : await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
            }
            catch (HttpRequestException ex)
            {
                delivery = new WebhookDelivery(id, type, null, ex.Message);
            }

            results.Add(delivery);
            lock (_gate)
            {
                _deliveries.Add(delivery);
            }
        }

        return results;
    }

    public void Dispose() => _webhookClient.Dispose();

    /// <summary>Creates and stores an event around a copy of <paramref name="obj"/>: <c>created</c> never decreases (see <see cref="FakeStripeOptions.DistinctEventSeconds"/>). Caller holds the lock.</summary>
    private JsonObject EmitEvent(string type, JsonObject obj, JsonObject? previousAttributes = null, string? idempotencyKey = null)
    {
        var created = Math.Max(NowSeconds, _lastEventCreated + (_options.DistinctEventSeconds ? 1 : 0));
        _lastEventCreated = created;
        var evt = Template("event");
        evt["id"] = NewId("evt");
        evt["type"] = type;
        evt["created"] = created;
        evt["api_version"] = Stripe.Api.StripeNetBilling.ApiVersion;
        evt["pending_webhooks"] = _webhookUrl is null ? 0 : 1;
        evt["request"] = new JsonObject { ["id"] = idempotencyKey is null ? null : NewId("req"), ["idempotency_key"] = idempotencyKey };
        var data = new JsonObject { ["object"] = obj.DeepClone() };
        if (previousAttributes is not null)
        {
            data["previous_attributes"] = previousAttributes;
        }

        evt["data"] = data;
        _events.Put(evt);
        return (JsonObject)evt.DeepClone();
    }

    /// <summary>A fresh copy of one of Stripe's published example objects.</summary>
    private static JsonObject Template(string name) => (JsonObject)Fixtures[name]!.DeepClone();

    private static JsonObject LoadFixtures()
    {
        using var stream = typeof(FakeStripeState).Assembly.GetManifestResourceStream("EntitlementDecision.FakeStripe.stripe-objects.json")
            ?? throw new InvalidOperationException("The embedded Stripe fixtures are missing.");
        return (JsonObject)JsonNode.Parse(stream)!["resources"]!;
    }

    /// <summary>A Stripe-looking id: prefix, underscore, 24 random alphanumerics.</summary>
    internal static string NewId(string prefix)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        return prefix + "_" + RandomNumberGenerator.GetString(alphabet, 24);
    }

    private sealed class MutableFault(FakeFault fault)
    {
        public FakeFault Fault { get; } = fault;

        public int Remaining { get; set; }

        public bool Matches(string method, string path) =>
            (Fault.Method is null || string.Equals(Fault.Method, method, StringComparison.OrdinalIgnoreCase))
            && (Fault.Path.EndsWith('*') ? path.StartsWith(Fault.Path[..^1], StringComparison.Ordinal) : path == Fault.Path);
    }

    private sealed record IdempotentResult(string Fingerprint, int Status, string Body);

    /// <summary>What a checkout session will subscribe to when completed (Stripe keeps this out of the session object).</summary>
    private sealed record SessionPlan(string PriceId, long Quantity, Dictionary<string, string> SubscriptionMetadata, int TrialDays, string? CustomerEmail);

    /// <summary>Objects by id, in creation order.</summary>
    private sealed class Store
    {
        private readonly Dictionary<string, JsonObject> _byId = new(StringComparer.Ordinal);
        private readonly List<JsonObject> _inOrder = [];

        public JsonObject? Get(string id) => _byId.GetValueOrDefault(id);

        public void Put(JsonObject obj)
        {
            var id = (string)obj["id"]!;
            if (_byId.TryGetValue(id, out var existing))
            {
                _inOrder.Remove(existing);
            }

            _byId[id] = obj;
            _inOrder.Add(obj);
        }

        /// <summary>Newest first, as Stripe lists.</summary>
        public IEnumerable<JsonObject> NewestFirst() => Enumerable.Reverse(_inOrder);
    }

    private static string Fingerprint(string method, string path, IReadOnlyDictionary<string, string> form) =>
        method + " " + path + "?" + string.Join("&", form.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + p.Value));

    private static JsonSerializerOptions Indented { get; } = new() { WriteIndented = true };
}
