using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace EntitlementDecision.Stripe;

/// <summary>
/// Produces <c>Stripe-Signature</c> header values the way Stripe signs webhooks (per Stripe's
/// "Check webhook signatures" guide, and equal to stripe-node's <c>webhooks.generateTestHeaderString</c>).
/// For tests, the demo and load tests, and the control plane's notices to tenants (signed with the same scheme under
/// <c>ED-Signature</c>); Stripe's own webhooks are only verified (<see cref="WebhookSignatureVerifier"/>).
/// </summary>
public static class WebhookSignature
{
    /// <summary>
    /// Builds a <c>Stripe-Signature</c> header value <c>t={unix seconds},v1={64 lowercase hex chars}</c>, where
    /// the v1 value is HMAC-SHA256, keyed with the UTF-8 bytes of <paramref name="secret"/>, over
    /// <c>"{t}." + payload</c>.
    /// </summary>
    /// <param name="payload">The exact body bytes that will be sent.</param>
    /// <param name="secret">The endpoint signing secret (<c>whsec_...</c>), used as-is.</param>
    /// <param name="timestamp">Signing time; truncated to whole Unix seconds. Must not be before 1970-01-01.</param>
    /// <exception cref="ArgumentException"><paramref name="secret"/> is null, empty or whitespace.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timestamp"/> is before the Unix epoch.</exception>
    public static string CreateHeader(ReadOnlySpan<byte> payload, string secret, DateTimeOffset timestamp)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(secret);
        var seconds = timestamp.ToUnixTimeSeconds();
        ArgumentOutOfRangeException.ThrowIfNegative(seconds, nameof(timestamp));

        var t = seconds.ToString(CultureInfo.InvariantCulture);
        Span<byte> signature = stackalloc byte[32];
        ComputeSignature(Encoding.UTF8.GetBytes(secret), t, payload, signature);
        return $"t={t},v1={Convert.ToHexStringLower(signature)}";
    }

    /// <summary>HMAC-SHA256(key, ASCII(timestampDigits) + "." + payload) into <paramref name="destination"/> (32 bytes).</summary>
    internal static void ComputeSignature(byte[] key, ReadOnlySpan<char> timestampDigits, ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        Span<byte> prefix = stackalloc byte[timestampDigits.Length + 1];
        for (var i = 0; i < timestampDigits.Length; i++)
        {
            prefix[i] = (byte)timestampDigits[i]; // caller guarantees ASCII digits
        }

        prefix[^1] = (byte)'.';
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(prefix);
        hmac.AppendData(payload);
        hmac.GetHashAndReset(destination);
    }
}
