using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace EntitlementDecision.TestSupport;

/// <summary>
/// Development bearer tokens as the control plane's <c>mint-token</c> signs them (HS256 JWT, issuer <c>entitlementdecision-dev</c>,
/// audience <c>entitlementdecision</c>, claims sub/role/tenant_id), for the fault suite and the load driver: they need one per
/// tenant, and starting the control-plane executable once per token would cost seconds.
/// </summary>
public static class DevTokens
{
    public const string Issuer = "entitlementdecision-dev";
    public const string Audience = "entitlementdecision";

    /// <summary>A token for <paramref name="role"/> (and <paramref name="tenantId"/> for tenant roles) valid from <paramref name="now"/> for
    /// <paramref name="ttl"/>; <paramref name="issuer"/> and <paramref name="audience"/> differ only in tests of their rejection.</summary>
    public static string Mint(string signingKey, string subject, string? tenantId, string role, DateTimeOffset now, TimeSpan ttl,
        string issuer = Issuer, string audience = Audience)
    {
        var header = Base64Url("""{"alg":"HS256","typ":"JWT"}"""u8.ToArray());
        var claims = new Dictionary<string, object>
        {
            ["iss"] = issuer,
            ["aud"] = audience,
            ["sub"] = subject,
            ["role"] = role,
            ["iat"] = now.ToUnixTimeSeconds(),
            ["nbf"] = now.ToUnixTimeSeconds(),
            ["exp"] = (now + ttl).ToUnixTimeSeconds(),
        };
        if (tenantId is not null)
        {
            claims["tenant_id"] = tenantId;
        }

        var payload = Base64Url(JsonSerializer.SerializeToUtf8Bytes(claims));
        var signature = Base64Url(HMACSHA256.HashData(Encoding.UTF8.GetBytes(signingKey), Encoding.ASCII.GetBytes(header + "." + payload)));
        return header + "." + payload + "." + signature;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
