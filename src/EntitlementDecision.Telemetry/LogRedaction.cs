using System.Text.RegularExpressions;

namespace EntitlementDecision.Telemetry;

/// <summary>
/// The one redaction rule for log output (every line of both hosts goes through it): Stripe secret and restricted keys, webhook
/// signing secrets, Stripe-Signature values, bearer tokens and JWTs, e-mail addresses, phone numbers and card-like digit runs
/// become "[REDACTED:kind]". Card data never reaches us (Stripe-hosted checkout), so a card-like run is redacted as a precaution.
/// </summary>
internal static partial class LogRedaction
{
    public static string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? "";
        }

        text = StripeKey().Replace(text, "[REDACTED:stripe_key]");
        text = WebhookSecret().Replace(text, "[REDACTED:webhook_secret]");
        text = StripeSignature().Replace(text, "t=[REDACTED:signature]");
        text = Bearer().Replace(text, "Bearer [REDACTED:token]");
        text = Jwt().Replace(text, "[REDACTED:token]");
        text = Email().Replace(text, "[REDACTED:email]");
        text = CardLike().Replace(text, m => Luhn(m.Value) ? "[REDACTED:card]" : m.Value);
        text = Phone().Replace(text, "[REDACTED:phone]");
        return text;
    }

    [GeneratedRegex(@"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9_]+")]
    private static partial Regex StripeKey();

    [GeneratedRegex(@"\bwhsec_[A-Za-z0-9_]+")]
    private static partial Regex WebhookSecret();

    // A Stripe-Signature header value: t=<timestamp>,v1=<hex>[,v0=...]
    private static bool Luhn(string candidate)
    {
        int sum = 0, position = 0;
        for (var i = candidate.Length - 1; i >= 0; i--)
        {
            if (!char.IsAsciiDigit(candidate[i]))
            {
                continue;
            }

            var digit = candidate[i] - '0';
            if (position++ % 2 == 1)
            {
                digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
            }

            sum += digit;
        }

        return sum % 10 == 0;
    }

    [GeneratedRegex(@"\bt=\d+,v\d=[0-9a-fA-F]+(?:,v\d=[0-9a-fA-F]+)*")]
    private static partial Regex StripeSignature();

    [GeneratedRegex(@"\bBearer\s+[A-Za-z0-9\-_\.=+/]+", RegexOptions.IgnoreCase)]
    private static partial Regex Bearer();

    [GeneratedRegex(@"\beyJ[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]+\.[A-Za-z0-9\-_]*")]
    private static partial Regex Jwt();

    [GeneratedRegex(@"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")]
    private static partial Regex Email();

    // 14 to 19 digits, optionally grouped by single spaces or dashes, that pass the Luhn check (13-digit ms timestamps stay).
    [GeneratedRegex(@"\b\d(?:[ \-]?\d){13,18}\b")]
    private static partial Regex CardLike();

    // E.164 numbers ("+" and 8 to 15 digits, optional separators).
    [GeneratedRegex(@"\+\d(?:[ \-]?\d){7,14}\b")]
    private static partial Regex Phone();
}
