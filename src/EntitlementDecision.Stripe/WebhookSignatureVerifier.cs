using System.Security.Cryptography;
using System.Text;

namespace EntitlementDecision.Stripe;

/// <summary>
/// Verifies the <c>Stripe-Signature</c> header of a webhook request, per Stripe's "Check webhook signatures"
/// guide: the header is <c>t=&lt;unix seconds&gt;,v1=&lt;hex&gt;[,v1=&lt;hex&gt;...][,v0=...]</c>; the signed
/// payload is the ASCII timestamp, a <c>.</c>, then the raw request body bytes; the signature is
/// HMAC-SHA256 keyed with the endpoint secret (<c>whsec_...</c>, used as its UTF-8 bytes, as-is) in
/// lowercase hex. Several secrets are accepted (secret rotation: Stripe signs with every active secret,
/// each as its own <c>v1</c> entry), comparison is constant-time
/// (<see cref="CryptographicOperations.FixedTimeEquals"/>), and the timestamp must be within the
/// tolerance of <see cref="TimeProvider.GetUtcNow"/> in both directions.
/// </summary>
/// <remarks>
/// Thread-safe and allocation-light; create one per set of secrets and reuse it. Verify the raw bytes first, parse
/// after (<see cref="StripeWebhookEvents.Parse(string)"/>). Ours rather than Stripe.net's <c>EventUtility.ValidateSignature</c>,
/// which checks a re-encoded string against one secret and reports every failure as one exception: this checks the
/// bytes as received against every rotation secret and says which check failed (for metrics and the security log).
/// Tests prove both accept the same headers. <see cref="Verify"/> never throws, whatever the header contains.
/// </remarks>
public sealed class WebhookSignatureVerifier
{
    /// <summary>Stripe's default tolerance between the signed timestamp and now: 300 seconds.</summary>
    public static readonly TimeSpan DefaultTolerance = TimeSpan.FromSeconds(300);

    /// <summary>Headers longer than this (in chars) are rejected as <see cref="SignatureCheckResult.MalformedHeader"/>
    /// without being parsed. A real header with a few rotated secrets is well under 1 KB.</summary>
    public const int MaxHeaderLength = 8192;

    private const int SignatureByteLength = 32; // HMAC-SHA256
    private const int SignatureHexLength = SignatureByteLength * 2;
    private const long MaxUnixSeconds = 253_402_300_799; // 9999-12-31T23:59:59Z, DateTimeOffset's limit

    private readonly byte[][] _keys;
    private readonly long _toleranceSeconds;
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates a verifier.</summary>
    /// <param name="secrets">Endpoint signing secrets (<c>whsec_...</c>), at least one; during a rotation pass
    /// both the new and the old secret. A signature matching any of them is accepted.</param>
    /// <param name="tolerance">Largest accepted distance between the header's <c>t</c> and now, in either
    /// direction, whole seconds (fractions are truncated); must be at least one second. Stripe's default is
    /// <see cref="DefaultTolerance"/> (300 s).</param>
    /// <param name="timeProvider">Source of "now" (use <see cref="TimeProvider.System"/> in production).</param>
    /// <exception cref="ArgumentNullException"><paramref name="secrets"/> or <paramref name="timeProvider"/> is null.</exception>
    /// <exception cref="ArgumentException">No secret, or a secret that is null, empty or whitespace.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="tolerance"/> is under one second.</exception>
    public WebhookSignatureVerifier(IReadOnlyList<string> secrets, TimeSpan tolerance, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        ArgumentNullException.ThrowIfNull(timeProvider);
        if (secrets.Count == 0)
        {
            throw new ArgumentException("At least one webhook signing secret is required.", nameof(secrets));
        }

        var keys = new byte[secrets.Count][];
        for (var i = 0; i < secrets.Count; i++)
        {
            if (string.IsNullOrWhiteSpace(secrets[i]))
            {
                throw new ArgumentException($"Webhook signing secret #{i} is null, empty or whitespace.", nameof(secrets));
            }

            keys[i] = Encoding.UTF8.GetBytes(secrets[i]);
        }

        if (tolerance < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(tolerance), tolerance, "Tolerance must be at least one second.");
        }

        _keys = keys;
        _toleranceSeconds = (long)tolerance.TotalSeconds;
        _timeProvider = timeProvider;
    }

    /// <summary>Creates a verifier with Stripe's default 300 s tolerance and the system clock.</summary>
    /// <param name="secrets">See <see cref="WebhookSignatureVerifier(IReadOnlyList{string}, TimeSpan, TimeProvider)"/>.</param>
    public WebhookSignatureVerifier(IReadOnlyList<string> secrets)
        : this(secrets, DefaultTolerance, TimeProvider.System)
    {
    }

    /// <summary>
    /// Checks <paramref name="signatureHeader"/> against <paramref name="payload"/>.
    /// </summary>
    /// <param name="payload">The raw request body exactly as received (not re-serialized JSON).</param>
    /// <param name="signatureHeader">The <c>Stripe-Signature</c> header value, or null when absent.</param>
    /// <returns>
    /// Checks in this order: <see cref="SignatureCheckResult.MissingHeader"/>,
    /// <see cref="SignatureCheckResult.MalformedHeader"/>, <see cref="SignatureCheckResult.NoSignatureForScheme"/>,
    /// <see cref="SignatureCheckResult.NoMatchingSignature"/>, then <see cref="SignatureCheckResult.TimestampOutsideTolerance"/>
    /// (so a stale/future result is reported only for an authentic signature), else <see cref="SignatureCheckResult.Valid"/>.
    /// Never throws.
    /// </returns>
    public SignatureCheckResult Verify(ReadOnlySpan<byte> payload, string? signatureHeader)
    {
        if (string.IsNullOrWhiteSpace(signatureHeader))
        {
            return SignatureCheckResult.MissingHeader;
        }

        if (signatureHeader.Length > MaxHeaderLength)
        {
            return SignatureCheckResult.MalformedHeader;
        }

        var header = signatureHeader.AsSpan();
        Range timestampText = default;
        var timestampCount = 0;
        var v1Count = 0;
        foreach (var elementRange in header.Split(','))
        {
            var element = header[elementRange];
            var eq = element.IndexOf('=');
            if (eq < 0)
            {
                continue; // empty or key-only element: ignored, like Stripe's libraries do
            }

            var key = element[..eq].Trim();
            if (key.SequenceEqual("t"))
            {
                timestampCount++;
                var value = element[(eq + 1)..];
                var start = elementRange.Start.GetOffset(header.Length) + eq + 1 + (value.Length - value.TrimStart().Length);
                timestampText = new Range(start, start + value.Trim().Length);
            }
            else if (key.SequenceEqual("v1"))
            {
                v1Count++;
            }
        }

        if (timestampCount != 1 || !TryParseUnixSeconds(header[timestampText], out var timestamp))
        {
            return SignatureCheckResult.MalformedHeader;
        }

        if (v1Count == 0)
        {
            return SignatureCheckResult.NoSignatureForScheme;
        }

        if (!AnySignatureMatches(payload, header, header[timestampText]))
        {
            return SignatureCheckResult.NoMatchingSignature;
        }

        var now = _timeProvider.GetUtcNow().ToUnixTimeSeconds();
        var age = now - timestamp; // both within ±2.6e11: no overflow
        return age > _toleranceSeconds || -age > _toleranceSeconds
            ? SignatureCheckResult.TimestampOutsideTolerance
            : SignatureCheckResult.Valid;
    }

    private bool AnySignatureMatches(ReadOnlySpan<byte> payload, ReadOnlySpan<char> header, ReadOnlySpan<char> timestampDigits)
    {
        Span<byte> expected = stackalloc byte[SignatureByteLength];
        Span<byte> candidate = stackalloc byte[SignatureByteLength];
        var matched = false;
        foreach (var key in _keys)
        {
            WebhookSignature.ComputeSignature(key, timestampDigits, payload, expected);
            foreach (var elementRange in header.Split(','))
            {
                var element = header[elementRange];
                var eq = element.IndexOf('=');
                if (eq < 0 || !element[..eq].Trim().SequenceEqual("v1"))
                {
                    continue;
                }

                var hex = element[(eq + 1)..].Trim();
                if (hex.Length != SignatureHexLength
                    || Convert.FromHexString(hex, candidate, out _, out var written) != System.Buffers.OperationStatus.Done
                    || written != SignatureByteLength)
                {
                    continue;
                }

                // Non-short-circuit OR: every candidate is compared, in constant time.
                matched |= CryptographicOperations.FixedTimeEquals(candidate, expected);
            }
        }

        return matched;
    }

    private static bool TryParseUnixSeconds(ReadOnlySpan<char> digits, out long seconds)
    {
        seconds = 0;
        if (digits.Length is 0 or > 12)
        {
            return false;
        }

        foreach (var c in digits)
        {
            if (c is < '0' or > '9')
            {
                return false; // no sign, no spaces inside, no hex, no non-ASCII digits
            }

            seconds = (seconds * 10) + (c - '0');
        }

        return seconds <= MaxUnixSeconds;
    }
}
