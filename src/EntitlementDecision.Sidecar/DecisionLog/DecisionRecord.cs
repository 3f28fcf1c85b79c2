using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using EntitlementDecision.Contracts.V1;

namespace EntitlementDecision.Sidecar.DecisionLog;

/// <summary>
/// One CheckEntitlement decision as the decision log keeps it: references to strings the call already holds, so building one
/// allocates nothing. <see cref="Reason"/> and <see cref="FallbackCause"/> are proto enum names without their prefix ("GRANTED",
/// "NOT_IN_PLAN", "USAGE_UNAVAILABLE"); <see cref="TraceId"/> is the W3C trace id (32 lower-case hex digits) or null.
/// </summary>
internal readonly record struct DecisionRecord(
    DateTimeOffset Time,
    string TenantId,
    string Environment,
    string FeatureKey,
    bool Allowed,
    string Reason,
    long SnapshotVersion,
    bool Fallback,
    string? FallbackCause,
    string? TraceId)
{
    private static readonly string[] ReasonNames = EnumNames(EnumValues(typeof(DecisionReason)), "DECISION_REASON_");
    private static readonly string[] FallbackCauseNames = EnumNames(EnumValues(typeof(Contracts.V1.FallbackCause)), "FALLBACK_CAUSE_");

    private static readonly JsonEncodedText TimeName = JsonEncodedText.Encode("time");
    private static readonly JsonEncodedText TenantName = JsonEncodedText.Encode("tenant_id");
    private static readonly JsonEncodedText EnvironmentName = JsonEncodedText.Encode("environment");
    private static readonly JsonEncodedText FeatureName = JsonEncodedText.Encode("feature_key");
    private static readonly JsonEncodedText AllowedName = JsonEncodedText.Encode("allowed");
    private static readonly JsonEncodedText ReasonName = JsonEncodedText.Encode("reason");
    private static readonly JsonEncodedText VersionName = JsonEncodedText.Encode("snapshot_version");
    private static readonly JsonEncodedText FallbackName = JsonEncodedText.Encode("fallback");
    private static readonly JsonEncodedText FallbackCauseName = JsonEncodedText.Encode("fallback_cause");
    private static readonly JsonEncodedText TraceName = JsonEncodedText.Encode("trace_id");

    /// <summary>The record of a check's answer; <paramref name="traceId"/> defaults to <see cref="Activity.Current"/>'s W3C trace id.</summary>
    public static DecisionRecord Of(DateTimeOffset time, CheckEntitlementRequest request, string environment, CheckEntitlementResponse response, string? traceId = null) => new(
        time,
        request.TenantId,
        environment,
        request.FeatureKey,
        response.Allowed,
        Name(ReasonNames, (int)response.Reason),
        response.SnapshotVersion,
        response.Fallback,
        response.Fallback ? Name(FallbackCauseNames, (int)response.FallbackCause) : null,
        traceId ?? (Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity ? activity.TraceId.ToHexString() : null));

    /// <summary>Writes the record as one JSON object (fields in the order of the README; fallback_cause and trace_id only when set).</summary>
    public void WriteTo(Utf8JsonWriter json)
    {
        Span<byte> time = stackalloc byte[24];
        FormatUtcMilliseconds(Time.UtcDateTime, time);
        json.WriteStartObject();
        json.WriteString(TimeName, time);
        json.WriteString(TenantName, TenantId);
        json.WriteString(EnvironmentName, Environment);
        json.WriteString(FeatureName, FeatureKey);
        json.WriteBoolean(AllowedName, Allowed);
        json.WriteString(ReasonName, Reason);
        json.WriteNumber(VersionName, SnapshotVersion);
        json.WriteBoolean(FallbackName, Fallback);
        if (FallbackCause is not null)
        {
            json.WriteString(FallbackCauseName, FallbackCause);
        }

        if (TraceId is not null)
        {
            json.WriteString(TraceName, TraceId);
        }

        json.WriteEndObject();
    }

    // RFC 3339 with milliseconds, "2026-06-15T12:00:00.123Z": by hand, a custom format string costs ~120 ns more a record.
    private static void FormatUtcMilliseconds(DateTime utc, Span<byte> into)
    {
        var (year, month, day) = utc;
        Digits(into[..4], year);
        into[4] = (byte)'-';
        Digits(into.Slice(5, 2), month);
        into[7] = (byte)'-';
        Digits(into.Slice(8, 2), day);
        into[10] = (byte)'T';
        Digits(into.Slice(11, 2), utc.Hour);
        into[13] = (byte)':';
        Digits(into.Slice(14, 2), utc.Minute);
        into[16] = (byte)':';
        Digits(into.Slice(17, 2), utc.Second);
        into[19] = (byte)'.';
        Digits(into.Slice(20, 3), utc.Millisecond);
        into[23] = (byte)'Z';
    }

    private static void Digits(Span<byte> into, int value)
    {
        for (var i = into.Length - 1; i >= 0; i--, value /= 10)
        {
            into[i] = (byte)('0' + value % 10);
        }
    }

    private static string Name(string[] names, int value) =>
        (uint)value < (uint)names.Length ? names[value] : value.ToString(CultureInfo.InvariantCulture);

    // Indexed by enum number; a number this build does not know (a gap, or a newer proto) prints as digits.
    private static IList<Google.Protobuf.Reflection.EnumValueDescriptor> EnumValues(System.Type clrType) =>
        Contracts.V1.EntitlementDecisionReflection.Descriptor.EnumTypes.First(e => e.ClrType == clrType).Values;

    private static string[] EnumNames(IList<Google.Protobuf.Reflection.EnumValueDescriptor> values, string prefix)
    {
        var names = new string[values.Max(v => v.Number) + 1];
        foreach (var v in values)
        {
            names[v.Number] = v.Name.StartsWith(prefix, StringComparison.Ordinal) ? v.Name[prefix.Length..] : v.Name;
        }

        for (var i = 0; i < names.Length; i++)
        {
            names[i] ??= i.ToString(CultureInfo.InvariantCulture);
        }

        return names;
    }
}
