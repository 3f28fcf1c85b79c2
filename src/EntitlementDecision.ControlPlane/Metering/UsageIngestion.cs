using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Decisions;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;
using EntitlementDecision.Redis;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using EntitlementDecision.ControlPlane.Data;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>The outcome names of <c>POST /usage/events</c> (one per event, field <c>outcome</c>).</summary>
internal static class UsageIngestionOutcomes
{
    /// <summary>Counted now (possibly over a soft or report-only limit: <c>over_limit</c>).</summary>
    public const string Accepted = "accepted";

    /// <summary>The event id was counted before (by either door); nothing counted now.</summary>
    public const string Duplicate = "duplicate";

    /// <summary>Denied by a hard limit; nothing counted (a retry with the same event id may fit in a later window).</summary>
    public const string LimitExceeded = "limit_exceeded";

    /// <summary>The event breaks the usage event schema, or names a feature that is not metered, or a unit other than the feature's.</summary>
    public const string Invalid = "invalid";

    /// <summary>The (service, feature) pair is not declared and the catalog rejects undeclared usage.</summary>
    public const string RejectedUndeclared = "rejected_undeclared";

    /// <summary>No snapshot of the tenant is published in Redis (no such tenant in that environment).</summary>
    public const string UnknownTenant = "unknown_tenant";

    /// <summary>A tenant token sent another tenant's event.</summary>
    public const string Forbidden = "forbidden";

    /// <summary>The tenant's snapshot does not grant the feature now (not in plan, suspended, read-only ...; <c>reason</c> names it).</summary>
    public const string NotGranted = "not_granted";
}

/// <summary>
/// One event's result: <c>index</c> (0-based position in the request), <c>event_id</c> (as sent; null when it was not a string),
/// <c>outcome</c> (<see cref="UsageIngestionOutcomes"/>), <c>reason</c> (why, for every outcome but accepted), <c>field</c> (the schema
/// field at fault, invalid only); for a metered feature after the script ran: <c>used</c>, <c>limit</c> (-1 = unlimited), <c>remaining</c>
/// (units of the feature's meter in the event's window), <c>over_limit</c>, <c>overage</c> (units beyond a soft limit counted by this
/// event) and <c>undeclared</c>. Absent members are null.
/// </summary>
internal sealed record UsageIngestionResult(int Index, string? EventId, string Outcome)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Reason { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Field { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Used { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Limit { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Remaining { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? OverLimit { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public long? Overage { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? Undeclared { get; init; }
}

/// <summary>
/// <c>POST /usage/events</c> answer (200): <c>accepted</c> and <c>duplicate</c> count those outcomes, <c>rejected</c> every other one;
/// <c>results</c> holds one <see cref="UsageIngestionResult"/> per input event, in input order.
/// </summary>
internal sealed record UsageIngestionResponse(int Accepted, int Duplicate, int Rejected, IReadOnlyList<UsageIngestionResult> Results);

/// <summary>
/// <c>POST /usage/events</c>: the HTTP batch ingestion of usage events for producers that are not gRPC clients.
/// <para>Body: a JSON array of 1..<see cref="MaxEvents"/> usage events (at most <see cref="MaxBodyBytes"/> bytes), each an object with
/// the usage event schema's fields (<see cref="UsageEvent"/>): <c>tenant_id</c>, <c>environment</c> ("" or absent: production),
/// <c>service</c>, <c>feature</c> (alias <c>feature_key</c>), <c>quantity</c> (integer units; a JSON number or a decimal string, as
/// proto3 JSON writes int64), <c>unit</c>, <c>timestamp</c> (RFC 3339 with Z or an offset; absent: when received), <c>event_id</c>
/// (the idempotency key), <c>request_id</c>, <c>trace_id</c>, <c>source_digest</c>. Other members are ignored.</para>
/// <para>Who: an operator token may send any tenant's events; an owner, admin or member token only its own tenant's (another tenant's
/// event is answered <c>forbidden</c>, the rest of the batch is recorded).</para>
/// <para>Each event, in order, exactly as the sidecar's RecordUsage: the schema (<see cref="UsageRecorder.Validate"/>, the shared
/// <see cref="UsageEventValidation"/>), then <see cref="UsageRecorder.RecordAsync"/> with origin http against the tenant's snapshot
/// as the control plane published it to Redis (<see cref="RedisSnapshotStore"/>; none: <c>unknown_tenant</c>), i.e. the same Lua
/// script (dedupe, coverage, limit modes, counter, stream entry). Invalid events are appended to the stream as <c>outcome=invalid</c>
/// entries (<see cref="UsageInvalidEventWriter"/>) so that the ledger receipts them and the integrity report counts them; forbidden,
/// unknown-tenant and not-granted events are answered only (as at the sidecar).</para>
/// <para>Errors: 400 ProblemDetails when the body is not a JSON array of 1..1000 elements (nothing recorded); 401/403 without a valid
/// token; 503 ProblemDetails when Redis stops answering: events before <c>recorded</c> were processed (their results are in the
/// extension <c>results</c>), the rest were not, and retrying the whole batch with the same event ids is safe (recorded ones answer
/// duplicate).</para>
/// </summary>
internal static partial class UsageIngestion
{
    /// <summary>Most events in one request.</summary>
    public const int MaxEvents = 1000;

    /// <summary>Largest request body (8 MiB: 1000 events with every field at its longest fit several times).</summary>
    public const long MaxBodyBytes = 8 * 1024 * 1024;

    public static void MapUsageIngestion(this IEndpointRouteBuilder app) =>
        app.MapPost("/usage/events", IngestAsync)
            .RequireAuthorization(Policies.MayWrite)
            .WithMetadata(new RequestSizeLimitAttribute(MaxBodyBytes));

    public static async Task<Results<Ok<UsageIngestionResponse>, ProblemHttpResult>> IngestAsync(HttpRequest request, ClaimsPrincipal user, RedisConnection redis, TimeProvider time, ILoggerFactory loggers, CancellationToken ct)
    {
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(request.Body, new JsonDocumentOptions { MaxDepth = 16 }, ct);
        }
        catch (JsonException e)
        {
            return BadBody($"The body is not valid JSON ({e.Message}); send a JSON array of 1..{MaxEvents} usage events.");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Array)
            {
                return BadBody($"The body must be a JSON array of 1..{MaxEvents} usage events, not a JSON {root.ValueKind.ToString().ToLowerInvariant()}.");
            }

            var count = root.GetArrayLength();
            if (count is 0 or > MaxEvents)
            {
                return BadBody($"The body must hold 1..{MaxEvents} usage events; it holds {count}. Nothing was recorded.");
            }

            var multiplexer = await redis.GetAsync();
            var batch = new Batch(
                user.IsOperator() ? null : user.TenantId() ?? "",
                new UsageRecorder(multiplexer),
                new RedisSnapshotStore(multiplexer),
                new UsageInvalidEventWriter(multiplexer),
                time);
            var results = new List<UsageIngestionResult>(count);
            try
            {
                foreach (var element in root.EnumerateArray())
                {
                    results.Add(await batch.IngestAsync(results.Count, element, ct));
                }
            }
            catch (StoreUnavailableException e)
            {
                LogStoreUnavailable(loggers.CreateLogger(typeof(UsageIngestion).FullName!), e, results.Count, count);
                var detail = results.Count == 0
                    ? "Redis did not answer at the first event: no event was recorded."
                    : $"Redis did not answer at event {results.Count}: events 0..{results.Count - 1} were processed (their results are in 'results'), the others were not.";
                return TypedResults.Problem(
                    statusCode: StatusCodes.Status503ServiceUnavailable,
                    title: "Usage store unavailable",
                    detail: detail + " Retrying the whole batch with the same event ids is safe: events already counted answer duplicate.",
                    extensions: new Dictionary<string, object?> { ["recorded"] = results.Count, ["results"] = results });
            }

            var accepted = results.Count(r => r.Outcome == UsageIngestionOutcomes.Accepted);
            var duplicate = results.Count(r => r.Outcome == UsageIngestionOutcomes.Duplicate);
            return TypedResults.Ok(new UsageIngestionResponse(accepted, duplicate, results.Count - accepted - duplicate, results));
        }
    }

    private static ProblemHttpResult BadBody(string detail) =>
        TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid usage event batch", detail: detail);

    [LoggerMessage(EventId = 4131, Level = LogLevel.Warning, Message = "Usage ingestion: Redis unavailable after {Recorded} of {Count} events; answered 503")]
    private static partial void LogStoreUnavailable(ILogger logger, Exception exception, int recorded, int count);

    /// <summary>The state of one request: the caller's tenant (null for an operator), the recorder and a per-request snapshot cache.</summary>
    private sealed class Batch(string? ownTenant, UsageRecorder recorder, RedisSnapshotStore store, UsageInvalidEventWriter invalid, TimeProvider time)
    {
        private readonly Dictionary<(string Tenant, string Environment), Snapshot?> _snapshots = [];

        public async Task<UsageIngestionResult> IngestAsync(int index, JsonElement element, CancellationToken ct)
        {
            var now = time.GetUtcNow();
            var read = EventReader.Read(element);
            var tenant = read.Raw["tenant_id"];
            if (ownTenant is not null && tenant.Length > 0 && !string.Equals(tenant, ownTenant, StringComparison.Ordinal))
            {
                return new UsageIngestionResult(index, read.EventId, UsageIngestionOutcomes.Forbidden)
                {
                    Reason = $"forbidden tenant: this token may send only tenant '{ownTenant}''s usage events",
                };
            }

            if (read.Error is { } readError)
            {
                return await InvalidAsync(index, read, readError);
            }

            if (recorder.Validate(read.Event!, now, out var normalized) is { } schemaError)
            {
                return await InvalidAsync(index, read, schemaError);
            }

            var key = (normalized.TenantId, normalized.Environment);
            if (!_snapshots.TryGetValue(key, out var snapshot))
            {
                snapshot = await store.GetAsync(new TenantKey(normalized.Environment, normalized.TenantId), ct);
                _snapshots[key] = snapshot;
            }

            var result = await recorder.RecordAsync(snapshot, normalized, UsageOrigin.Http, now, ct);
            return result.Status switch
            {
                UsageRecordStatus.Invalid => await InvalidAsync(index, read, result.Error!),
                UsageRecordStatus.NotGranted when result.Reason == DecisionReason.UnknownTenant =>
                    new UsageIngestionResult(index, read.EventId, UsageIngestionOutcomes.UnknownTenant)
                    {
                        Reason = $"unknown tenant: no snapshot of tenant '{normalized.TenantId}' in environment '{normalized.Environment}' is published",
                    },
                UsageRecordStatus.NotGranted =>
                    new UsageIngestionResult(index, read.EventId, UsageIngestionOutcomes.NotGranted)
                    {
                        Reason = $"{ReasonName(result.Reason)}: the tenant's snapshot does not grant '{normalized.FeatureKey}' now",
                    },
                _ => Counted(index, read.EventId, normalized, result),
            };
        }

        private static UsageIngestionResult Counted(int index, string? eventId, UsageEvent usage, UsageRecordResult result)
        {
            var (outcome, reason) = result.Status switch
            {
                UsageRecordStatus.Accepted => (UsageIngestionOutcomes.Accepted, (string?)null),
                UsageRecordStatus.Duplicate => (UsageIngestionOutcomes.Duplicate, $"event_id '{usage.EventId}' was recorded before; counted once"),
                UsageRecordStatus.LimitExceeded => (UsageIngestionOutcomes.LimitExceeded,
                    $"limit exceeded: {usage.Quantity} more would pass the hard limit of {result.Limit} ({result.Used} used in window {result.Window?.Key})"),
                _ => (UsageIngestionOutcomes.RejectedUndeclared,
                    $"undeclared usage: service '{usage.Service}' does not declare '{usage.FeatureKey}' and the catalog rejects undeclared usage"),
            };
            var metered = result.Window is not null;
            return new UsageIngestionResult(index, eventId, outcome)
            {
                Reason = reason,
                Used = metered ? result.Used : null,
                Limit = metered ? result.Limit : null,
                Remaining = metered ? result.Remaining : null,
                OverLimit = metered ? result.OverLimit : null,
                Overage = metered ? result.Overage : null,
                Undeclared = metered ? result.Undeclared : null,
            };
        }

        private async Task<UsageIngestionResult> InvalidAsync(int index, EventReader.ReadEvent read, UsageEventError error)
        {
            var field = error.Field == "feature_key" ? "feature" : error.Field;
            var message = error.Field == "feature_key" ? error.Message.Replace("feature_key", "feature", StringComparison.Ordinal) : error.Message;
            var raw = new Dictionary<string, string>(read.Raw, StringComparer.Ordinal);
            if (raw["tenant_id"].Length == 0 && ownTenant is not null)
            {
                raw["tenant_id"] = ownTenant; // a tenant token's events are that tenant's, whatever they failed to say
            }

            if (raw["environment"].Length == 0)
            {
                raw["environment"] = UsageEventValidation.DefaultEnvironment;
            }

            await invalid.AppendAsync(message, field, raw);
            return new UsageIngestionResult(index, read.EventId, UsageIngestionOutcomes.Invalid) { Reason = message, Field = field };
        }

        private static string ReasonName(DecisionReason reason) => JsonNamingPolicy.SnakeCaseLower.ConvertName(reason.ToString());
    }

    /// <summary>Reads one array element into a <see cref="UsageEvent"/>, keeping the fields as sent for the stream's invalid entries.</summary>
    private static class EventReader
    {
        private static readonly string[] StringFields =
            ["tenant_id", "environment", "event_id", "feature", "unit", "service", "request_id", "trace_id", "source_digest"];

        /// <summary><paramref name="Event"/> null when <paramref name="Error"/> is set; <paramref name="Raw"/> has every schema field ("" when absent).</summary>
        public sealed record ReadEvent(UsageEvent? Event, UsageEventError? Error, Dictionary<string, string> Raw, string? EventId);

        public static ReadEvent Read(JsonElement element)
        {
            var raw = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var name in StringFields)
            {
                raw[name] = "";
            }

            raw["quantity"] = "";
            raw["timestamp"] = "";
            if (element.ValueKind != JsonValueKind.Object)
            {
                return new ReadEvent(null, new UsageEventError("event", $"each usage event must be a JSON object, not a JSON {element.ValueKind.ToString().ToLowerInvariant()}"), raw, null);
            }

            UsageEventError? error = null;
            foreach (var name in StringFields)
            {
                var member = name == "feature" && !element.TryGetProperty("feature", out _) ? "feature_key" : name;
                if (!element.TryGetProperty(member, out var value) || value.ValueKind == JsonValueKind.Null)
                {
                    continue;
                }

                if (value.ValueKind == JsonValueKind.String)
                {
                    raw[name] = value.GetString()!;
                }
                else
                {
                    raw[name] = value.GetRawText();
                    error ??= new UsageEventError(name, $"{name} must be a JSON string");
                }
            }

            long quantity = 0;
            if (element.TryGetProperty("quantity", out var q) && q.ValueKind != JsonValueKind.Null)
            {
                raw["quantity"] = q.ValueKind == JsonValueKind.String ? q.GetString()! : q.GetRawText();
                var whole = q.ValueKind switch
                {
                    JsonValueKind.Number => q.TryGetInt64(out quantity),
                    JsonValueKind.String => long.TryParse(raw["quantity"], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out quantity),
                    _ => false,
                };
                if (!whole)
                {
                    error ??= new UsageEventError("quantity", $"quantity must be a whole number of units, got {Shorten(raw["quantity"])}");
                }
            }

            DateTimeOffset? timestamp = null;
            if (element.TryGetProperty("timestamp", out var t) && t.ValueKind != JsonValueKind.Null)
            {
                raw["timestamp"] = t.ValueKind == JsonValueKind.String ? t.GetString()! : t.GetRawText();
                if (t.ValueKind == JsonValueKind.String && HasOffset(raw["timestamp"]) && t.TryGetDateTimeOffset(out var at))
                {
                    timestamp = at;
                }
                else
                {
                    error ??= new UsageEventError("timestamp", "timestamp must be an RFC 3339 time with Z or an offset, e.g. 2026-11-21T09:30:00Z");
                }
            }

            var eventId = element.TryGetProperty("event_id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
            if (error is not null)
            {
                return new ReadEvent(null, error, raw, eventId);
            }

            var usage = new UsageEvent(
                raw["tenant_id"], raw["environment"], raw["feature"], quantity, raw["event_id"], timestamp,
                raw["service"], raw["unit"], raw["request_id"], raw["trace_id"], raw["source_digest"]);
            return new ReadEvent(usage, null, raw, eventId);
        }

        private static bool HasOffset(string value) =>
            value.Length > 10 && value.Contains('T', StringComparison.OrdinalIgnoreCase)
            && (value.EndsWith('Z') || value.EndsWith('z') || (value.Length > 6 && value[^6] is '+' or '-' && value[^3] == ':'));

        private static string Shorten(string value) => value.Length <= 40 ? value : value[..40] + "...";
    }
}
