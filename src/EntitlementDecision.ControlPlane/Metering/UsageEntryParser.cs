using System.Globalization;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>A stream entry decoded (format: src/EntitlementDecision.Redis/README-usage-stream.md, version "1").</summary>
internal sealed record UsageStreamEvent(
    string Outcome,
    string TenantId,
    string Environment,
    string EventId,
    string Feature,
    long Quantity,
    string Unit,
    string Service,
    DateTimeOffset OccurredAt,
    DateTimeOffset ReceivedAt,
    string WindowKey,
    long Limit,
    string LimitMode,
    long UsedAfter,
    long Overage,
    bool Undeclared,
    string RequestId,
    string TraceId,
    string SourceDigest,
    string Origin);

/// <summary>Decodes stream entries; an entry that does not follow the format is an <c>invalid</c> receipt with the reason, never an exception.</summary>
internal static class UsageEntryParser
{
    public static readonly IReadOnlySet<string> Outcomes = new HashSet<string>(StringComparer.Ordinal)
        { "accepted", "duplicate", "limit_exceeded", "rejected_undeclared" };

    /// <summary>The outcome of an entry written by the HTTP batch ingestion for an event that breaks the schema (never counted).</summary>
    public const string InvalidOutcome = "invalid";

    private static readonly IReadOnlySet<string> LimitModes = new HashSet<string>(StringComparer.Ordinal) { "hard", "soft", "report_only" };

    /// <summary>The decoded event, or null and the reason (e.g. "quantity 'x' is not a whole number &gt;= 0").</summary>
    public static UsageStreamEvent? Parse(IReadOnlyDictionary<string, string>? fields, out string? reason)
    {
        reason = null;
        if (fields is null)
        {
            reason = "the entry was deleted from the stream before it was read";
            return null;
        }

        string Get(string name) => fields.TryGetValue(name, out var v) ? v : "";

        if (fields.FirstOrDefault(f => f.Value.Contains('\0', StringComparison.Ordinal)) is { Key: { } nulField })
        {
            reason = $"{nulField} holds a NUL character";
            return null;
        }

        if (Get("v") != "1")
        {
            reason = $"unsupported entry version '{Get("v")}' (expected \"1\")";
            return null;
        }

        var outcome = Get("outcome");
        if (outcome == InvalidOutcome)
        {
            // An event the HTTP batch ingestion rejected against the schema (UsageInvalidEventWriter): receipted as invalid with its reason.
            reason = $"rejected at ingestion: {Get("reason")}";
            return null;
        }

        if (!Outcomes.Contains(outcome))
        {
            reason = $"unknown outcome '{outcome}'";
            return null;
        }

        foreach (var required in new[] { "tenant_id", "environment", "event_id", "feature" })
        {
            if (string.IsNullOrEmpty(Get(required)))
            {
                reason = $"{required} is missing";
                return null;
            }
        }

        var accepted = outcome == "accepted";
        if (!Long("quantity", 0, out var quantity, out reason) || quantity < 0
            || !Long("occurred_at_ms", null, out var occurredMs, out reason)
            || !Long("received_at_ms", null, out var receivedMs, out reason)
            || !Long("limit", accepted ? null : -1, out var limit, out reason)
            || !Long("used_after", accepted ? null : 0, out var usedAfter, out reason)
            || !Long("overage", 0, out var overage, out reason))
        {
            reason ??= $"quantity '{Get("quantity")}' is not a whole number >= 0";
            return null;
        }

        if (occurredMs is < -62135596800000 or > 253402300799999 || receivedMs is < 0 or > 253402300799999)
        {
            reason = "occurred_at_ms or received_at_ms is out of range";
            return null;
        }

        var window = Get("window");
        if (accepted && window.Length == 0)
        {
            reason = "window is missing";
            return null;
        }

        var mode = Get("limit_mode");
        if (mode.Length == 0 && !accepted)
        {
            mode = "hard";
        }

        if (!LimitModes.Contains(mode))
        {
            reason = $"unknown limit_mode '{mode}'";
            return null;
        }

        var undeclared = Get("undeclared");
        if (undeclared is not ("1" or "0" or ""))
        {
            reason = $"undeclared '{undeclared}' is not \"1\" or \"0\"";
            return null;
        }

        return new UsageStreamEvent(
            outcome, Get("tenant_id"), Get("environment"), Get("event_id"), Get("feature"), quantity, Get("unit"),
            Get("service") is { Length: > 0 } s ? s : "unknown",
            DateTimeOffset.FromUnixTimeMilliseconds(occurredMs), DateTimeOffset.FromUnixTimeMilliseconds(receivedMs),
            window, limit, mode, usedAfter, overage, undeclared == "1",
            Get("request_id"), Get("trace_id"), Get("source_digest"), Get("origin") is { Length: > 0 } o ? o : "grpc");

        bool Long(string name, long? fallback, out long value, out string? why)
        {
            why = null;
            var text = Get(name);
            if (text.Length == 0 && fallback is { } f)
            {
                value = f;
                return true;
            }

            if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value))
            {
                return true;
            }

            why = $"{name} '{text}' is not an integer";
            return false;
        }
    }
}
