namespace EntitlementDecision.Engine.Usage;

/// <summary>A usage event field that breaks its documented shape: <paramref name="Field"/> is the schema's snake_case name.</summary>
public sealed record UsageEventError(string Field, string Message)
{
    public override string ToString() => Message;
}

/// <summary>
/// The usage event schema's rules (see <see cref="UsageEvent"/>), shared by the sidecar's RecordUsage and the control plane's
/// batch ingestion so both reject the same events with the same messages. Pure; allocates only for an error.
/// </summary>
public static class UsageEventValidation
{
    /// <summary>Environment used when an event names none.</summary>
    public const string DefaultEnvironment = Identifiers.DefaultEnvironment;

    /// <summary>Service recorded when an event names none.</summary>
    public const string UnknownService = "unknown";

    /// <summary>
    /// Oldest usage timestamp accepted, relative to when the event is received: 35 days, as Stripe's meter events allow
    /// ("within the past 35 calendar days"). Older events are invalid (field timestamp): their window's counter would already be
    /// gone, so counting them could never be held to a limit. Redis keeps counters this long after their window ends.
    /// </summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromDays(35);

    /// <summary>Largest quantity of one event: keeps every counter exact (Redis Lua numbers are doubles, exact below 2^53).</summary>
    public const long MaxQuantity = 1_000_000_000_000;

    /// <summary>
    /// Checks <paramref name="usage"/> received at <paramref name="now"/>; null when valid. On success <paramref name="normalized"/> has the
    /// environment ("production" for ""), the service ("unknown" for "") and the timestamp (<paramref name="now"/> for null) filled in.
    /// </summary>
    public static UsageEventError? Validate(UsageEvent usage, DateTimeOffset now, TimeSpan maxClockSkew, out UsageEvent normalized)
    {
        normalized = usage;
        var error = Identifier(usage.TenantId, "tenant_id", 128, required: true)
            ?? (usage.Environment.Length == 0 ? null : Identifier(usage.Environment, "environment", 64, required: true))
            ?? Identifier(usage.FeatureKey, "feature_key", 128, required: true)
            ?? Printable(usage.EventId, "event_id", required: true)
            ?? Quantity(usage.Quantity)
            ?? Identifier(usage.Service, "service", 128, required: false)
            ?? Identifier(usage.Unit, "unit", 64, required: false)
            ?? Printable(usage.RequestId, "request_id", required: false)
            ?? TraceId(usage.TraceId)
            ?? SourceDigest(usage.SourceDigest);
        if (error is not null)
        {
            return error;
        }

        if (usage.Timestamp is { } at && at - now > maxClockSkew)
        {
            return new UsageEventError("timestamp", $"timestamp is more than {maxClockSkew.TotalSeconds:0} s in the future");
        }

        if (usage.Timestamp is { } old && now - old > MaxAge)
        {
            return new UsageEventError("timestamp", $"timestamp is more than {MaxAge.TotalDays:0} days in the past: usage that old is not accepted (send it within {MaxAge.TotalDays:0} days of when it occurred)");
        }

        if (usage.Environment.Length == 0 || usage.Service.Length == 0 || usage.Timestamp is null)
        {
            normalized = usage with
            {
                Environment = usage.Environment.Length == 0 ? DefaultEnvironment : usage.Environment,
                Service = usage.Service.Length == 0 ? UnknownService : usage.Service,
                Timestamp = usage.Timestamp ?? now,
            };
        }

        return null;
    }

    /// <summary><see cref="Identifiers.WireError"/> as a usage event error (empty allowed when not <paramref name="required"/>); null when valid.</summary>
    public static UsageEventError? Identifier(string value, string field, int maxLength, bool required) =>
        value.Length == 0 && !required ? null
        : Identifiers.WireError(value, field, maxLength) is { } error ? new UsageEventError(field, error) : null;

    private static UsageEventError? Printable(string value, string field, bool required)
    {
        if (value.Length == 0)
        {
            return required ? new UsageEventError(field, $"{field} must be 1..128 characters") : null;
        }

        if (value.Length > 128)
        {
            return new UsageEventError(field, $"{field} must be {(required ? "1" : "0")}..128 characters");
        }

        foreach (var c in value)
        {
            if (c is < '!' or > '~')
            {
                return new UsageEventError(field, $"{field} must be printable ASCII without spaces");
            }
        }

        return null;
    }

    private static UsageEventError? Quantity(long quantity) => quantity switch
    {
        <= 0 => new UsageEventError("quantity", "quantity must be > 0"),
        > MaxQuantity => new UsageEventError("quantity", $"quantity must be at most {MaxQuantity}"),
        _ => null,
    };

    private static UsageEventError? TraceId(string value)
    {
        if (value.Length == 0)
        {
            return null;
        }

        return value.Length == 32 && IsLowerHex(value) && value.AsSpan().ContainsAnyExcept('0')
            ? null
            : new UsageEventError("trace_id", "trace_id must be a W3C trace-id: 32 lower-case hex characters, not all zero");
    }

    private static UsageEventError? SourceDigest(string value)
    {
        const string prefix = "sha256:";
        if (value.Length == 0)
        {
            return null;
        }

        return value.Length == prefix.Length + 64 && value.StartsWith(prefix, StringComparison.Ordinal) && IsLowerHex(value.AsSpan(prefix.Length))
            ? null
            : new UsageEventError("source_digest", "source_digest must be \"sha256:\" followed by 64 lower-case hex characters");
    }

    private static bool IsLowerHex(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
