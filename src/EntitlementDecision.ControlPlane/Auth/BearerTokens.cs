using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace EntitlementDecision.ControlPlane.Auth;

/// <summary>Roles a bearer token can carry: <see cref="Operator"/> (platform staff, any tenant) and the tenant roles.</summary>
public static class Roles
{
    public const string Operator = "operator";
    public const string Owner = "owner";
    public const string Admin = "admin";
    public const string Member = "member";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal) { Operator, Owner, Admin, Member };

    public static readonly IReadOnlySet<string> TenantRoles = new HashSet<string>(StringComparer.Ordinal) { Owner, Admin, Member };
}

/// <summary>The validated claims of a bearer token.</summary>
public sealed record TokenClaims(string Subject, string? TenantId, string Role, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt);

/// <summary>
/// Bearer tokens as compact JWS (RFC 7515) with HS256 only: <c>base64url(header).base64url(claims).base64url(HMAC-SHA256)</c>.
/// Header <c>{"alg":"HS256","typ":"JWT"}</c>; claims <c>sub</c>, <c>tenant_id</c> (required for tenant roles), <c>role</c>,
/// <c>iat</c>, <c>exp</c> (Unix seconds), <c>iss</c> = <see cref="Issuer"/>, <c>aud</c> = <see cref="Audience"/>.
/// Any other <c>alg</c> (including <c>none</c>) is rejected; signatures are compared in fixed time; 30 s clock skew.
/// </summary>
public sealed class BearerTokens
{
    public const string Issuer = "entitlementdecision-dev";
    public const string Audience = "entitlementdecision";
    public static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(30);
    private const int MaxTokenLength = 8192;

    private readonly byte[] _key;
    private readonly TimeProvider _time;

    /// <param name="signingKey">The HMAC key (UTF-8 bytes of ED_TOKEN_SIGNING_KEY); at least 32 bytes.</param>
    /// <param name="time">Clock for iat/exp checks.</param>
    public BearerTokens(string signingKey, TimeProvider time)
    {
        _key = Encoding.UTF8.GetBytes(signingKey);
        if (_key.Length < 32)
        {
            throw new ArgumentException("the signing key must be at least 32 bytes", nameof(signingKey));
        }

        _time = time;
    }

    /// <summary>Mints a signed token valid from now for <paramref name="ttl"/>.</summary>
    public string Mint(string subject, string? tenantId, string role, TimeSpan ttl, DateTimeOffset? now = null)
    {
        var issued = now ?? _time.GetUtcNow();
        var header = """{"alg":"HS256","typ":"JWT"}"""u8.ToArray();
        var claims = new Dictionary<string, object?>
        {
            ["iss"] = Issuer,
            ["aud"] = Audience,
            ["sub"] = subject,
            ["tenant_id"] = tenantId,
            ["role"] = role,
            ["iat"] = issued.ToUnixTimeSeconds(),
            ["exp"] = (issued + ttl).ToUnixTimeSeconds(),
        };
        var signingInput = Base64Url.EncodeToString(header) + "." + Base64Url.EncodeToString(JsonSerializer.SerializeToUtf8Bytes(claims));
        var signature = HMACSHA256.HashData(_key, Encoding.ASCII.GetBytes(signingInput));
        return signingInput + "." + Base64Url.EncodeToString(signature);
    }

    /// <summary>Validates <paramref name="token"/>; returns the claims, or null with <paramref name="failure"/> saying why (safe to log: no token content).</summary>
    public TokenClaims? Validate(string token, out string failure)
    {
        failure = "";
        if (token.Length > MaxTokenLength)
        {
            failure = "token too long";
            return null;
        }

        var parts = token.Split('.');
        if (parts.Length != 3 || parts[0].Length == 0 || parts[1].Length == 0 || parts[2].Length == 0)
        {
            failure = "not a compact JWS";
            return null;
        }

        byte[] headerBytes, payloadBytes, signature;
        try
        {
            headerBytes = Base64Url.DecodeFromChars(parts[0]);
            payloadBytes = Base64Url.DecodeFromChars(parts[1]);
            signature = Base64Url.DecodeFromChars(parts[2]);
        }
        catch (FormatException)
        {
            failure = "invalid base64url";
            return null;
        }

        try
        {
            using (var header = JsonDocument.Parse(headerBytes))
            {
                // Algorithm allow-list: HS256 only. "none", RS256, "hs256"... are all rejected before any key is used.
                if (header.RootElement.ValueKind != JsonValueKind.Object
                    || !header.RootElement.TryGetProperty("alg", out var alg) || alg.ValueKind != JsonValueKind.String || alg.GetString() != "HS256")
                {
                    failure = "algorithm not allowed";
                    return null;
                }

                if (header.RootElement.TryGetProperty("crit", out _))
                {
                    failure = "critical header not supported";
                    return null;
                }
            }

            var expected = HMACSHA256.HashData(_key, Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]));
            if (!CryptographicOperations.FixedTimeEquals(expected, signature))
            {
                failure = "bad signature";
                return null;
            }

            using var payload = JsonDocument.Parse(payloadBytes);
            var root = payload.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                failure = "claims are not an object";
                return null;
            }

            if (GetString(root, "iss") != Issuer)
            {
                failure = "wrong issuer";
                return null;
            }

            if (!AudienceMatches(root))
            {
                failure = "wrong audience";
                return null;
            }

            var sub = GetString(root, "sub");
            var role = GetString(root, "role");
            var tenantId = GetString(root, "tenant_id");
            if (string.IsNullOrEmpty(sub) || role is null || !Roles.All.Contains(role))
            {
                failure = "missing sub or unknown role";
                return null;
            }

            if (Roles.TenantRoles.Contains(role) && string.IsNullOrEmpty(tenantId))
            {
                failure = "tenant role without tenant_id";
                return null;
            }

            if (!TryGetSeconds(root, "exp", out var exp) || !TryGetSeconds(root, "iat", out var iat))
            {
                failure = "missing exp or iat";
                return null;
            }

            var now = _time.GetUtcNow();
            if (now - ClockSkew >= exp)
            {
                failure = "expired";
                return null;
            }

            if (iat > now + ClockSkew || (TryGetSeconds(root, "nbf", out var nbf) && nbf > now + ClockSkew))
            {
                failure = "not yet valid";
                return null;
            }

            return new TokenClaims(sub, string.IsNullOrEmpty(tenantId) ? null : tenantId, role, iat, exp);
        }
        catch (JsonException)
        {
            failure = "invalid JSON";
            return null;
        }
    }

    private static bool AudienceMatches(JsonElement root)
    {
        if (!root.TryGetProperty("aud", out var aud))
        {
            return false;
        }

        return aud.ValueKind switch
        {
            JsonValueKind.String => aud.GetString() == Audience,
            JsonValueKind.Array => aud.EnumerateArray().Any(a => a.ValueKind == JsonValueKind.String && a.GetString() == Audience),
            _ => false,
        };
    }

    private static string? GetString(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static bool TryGetSeconds(JsonElement obj, string name, out DateTimeOffset value)
    {
        value = default;
        if (!obj.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var s) || s is < 0 or > 253_402_300_799)
        {
            return false;
        }

        value = DateTimeOffset.FromUnixTimeSeconds(s);
        return true;
    }
}
