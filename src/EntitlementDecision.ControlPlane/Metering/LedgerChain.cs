using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>
/// The ledger's hash chain. <c>hash = lower-hex SHA-256( UTF-8( prev_hash ) || UTF-8( Canonical(row) ) )</c>, where prev_hash is the
/// previous row's hash in the same (tenant, environment) chain (<see cref="Genesis"/>, 64 zeros, for seq 1) and the canonical
/// encoding is <c>"edl1;"</c> followed by each field below as <c>&lt;UTF-8 byte length&gt;:&lt;value&gt;;</c> in this order:
/// tenant_id, environment, seq, event_id, feature, quantity, unit, service, occurred_at (unix ms), received_at (unix ms), window,
/// limit, limit_mode, used_after, overage, undeclared ("1"/"0"), request_id, trace_id, source_digest, origin, lateness,
/// usage_day (yyyy-MM-dd). Integers are invariant decimal. The length prefix makes the encoding unambiguous whatever the values hold.
/// Not hashed: stream_id and recorded_at (provenance and bookkeeping only).
/// </summary>
internal static class LedgerChain
{
    public static readonly string Genesis = new('0', 64);

    public static string Canonical(LedgerRow r)
    {
        var sb = new StringBuilder(256).Append("edl1;");
        Field(sb, r.TenantId);
        Field(sb, r.Environment);
        Field(sb, Int(r.Seq));
        Field(sb, r.EventId);
        Field(sb, r.Feature);
        Field(sb, Int(r.Quantity));
        Field(sb, r.Unit);
        Field(sb, r.Service);
        Field(sb, Int(r.OccurredAt.ToUnixTimeMilliseconds()));
        Field(sb, Int(r.ReceivedAt.ToUnixTimeMilliseconds()));
        Field(sb, r.WindowKey);
        Field(sb, Int(r.LimitValue));
        Field(sb, r.LimitMode);
        Field(sb, Int(r.UsedAfter));
        Field(sb, Int(r.Overage));
        Field(sb, r.Undeclared ? "1" : "0");
        Field(sb, r.RequestId);
        Field(sb, r.TraceId);
        Field(sb, r.SourceDigest);
        Field(sb, r.Origin);
        Field(sb, r.Lateness);
        Field(sb, r.UsageDay.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        return sb.ToString();
    }

    /// <summary>The hash of <paramref name="row"/> chained on <paramref name="prevHash"/>.</summary>
    public static string Compute(string prevHash, LedgerRow row) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(prevHash + Canonical(row))));

    private static string Int(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static void Field(StringBuilder sb, string value) =>
        sb.Append(Encoding.UTF8.GetByteCount(value).ToString(CultureInfo.InvariantCulture)).Append(':').Append(value).Append(';');
}
