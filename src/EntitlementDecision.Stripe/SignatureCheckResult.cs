namespace EntitlementDecision.Stripe;

/// <summary>
/// Outcome of <see cref="WebhookSignatureVerifier.Verify"/>. Only <see cref="Valid"/> means the payload
/// was signed by Stripe with one of the configured endpoint secrets within the tolerance window.
/// </summary>
public enum SignatureCheckResult
{
    /// <summary>A <c>v1</c> signature matches one of the secrets and the timestamp is within tolerance.</summary>
    Valid,

    /// <summary>The <c>Stripe-Signature</c> header is absent, empty or whitespace.</summary>
    MissingHeader,

    /// <summary>The header is too long, or has no usable <c>t=</c> element (missing, repeated, not a
    /// non-negative integer of Unix seconds, or out of range).</summary>
    MalformedHeader,

    /// <summary>The header has a timestamp but no <c>v1=</c> (HMAC-SHA256) element; other schemes such as
    /// <c>v0</c> are ignored, as Stripe's guide says.</summary>
    NoSignatureForScheme,

    /// <summary>A <c>v1</c> signature matches but the signed timestamp is further than the tolerance from now
    /// (in the past: possible replay; in the future: clock skew or forgery attempt).</summary>
    TimestampOutsideTolerance,

    /// <summary>No <c>v1</c> signature matches the payload for any configured secret (tampered body,
    /// wrong secret, or malformed hex).</summary>
    NoMatchingSignature,
}
