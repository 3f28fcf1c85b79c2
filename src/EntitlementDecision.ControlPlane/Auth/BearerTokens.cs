using System.Text;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace EntitlementDecision.ControlPlane.Auth;

/// <summary>Roles a bearer token can carry: the platform staff roles <see cref="Operator"/> (reads and acts on any tenant) and
/// <see cref="Support"/> (reads any tenant, acts on none: least privilege for the help desk), and the tenant roles.</summary>
internal static class Roles
{
    public const string Operator = "operator";
    public const string Support = "support";
    public const string Owner = "owner";
    public const string Admin = "admin";
    public const string Member = "member";

    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal) { Operator, Support, Owner, Admin, Member };

    public static readonly IReadOnlySet<string> Staff = new HashSet<string>(StringComparer.Ordinal) { Operator, Support };

    public static readonly IReadOnlySet<string> TenantRoles = new HashSet<string>(StringComparer.Ordinal) { Owner, Admin, Member };
}

/// <summary>The validated claims of a bearer token.</summary>
internal sealed record TokenClaims(string Subject, string? TenantId, string Role, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt);

/// <summary>
/// The token rules of the control plane, on Microsoft.IdentityModel (the same handler JwtBearer runs). Development
/// tokens are JWTs signed HS256 with ED_TOKEN_SIGNING_KEY: <c>iss</c> = <see cref="Issuer"/>, <c>aud</c> =
/// <see cref="Audience"/>, claims <c>sub</c>, <c>role</c>, <c>tenant_id</c> (required for tenant roles), <c>iat</c>,
/// <c>exp</c>. Every token, dev or from an external issuer: <c>exp</c> required, <c>iat</c>/<c>nbf</c> not in the
/// future, 30 s clock skew, at most 8192 characters, no <c>crit</c> header (RFC 7515 §4.1.11: we support no extension).
/// </summary>
internal sealed class BearerTokens
{
    public const string Issuer = "entitlementdecision-dev";
    public const string Audience = "entitlementdecision";
    public const int MaxTokenLength = 8192;
    public static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(30);

    private readonly SymmetricSecurityKey? _key;
    private readonly TimeProvider _time;
    private readonly JsonWebTokenHandler _handler = CreateHandler();

    /// <param name="signingKey">The HMAC key (UTF-8 bytes of ED_TOKEN_SIGNING_KEY), at least 32 bytes; null when only an external issuer signs.</param>
    /// <param name="time">Clock for the iat/nbf/exp checks.</param>
    public BearerTokens(string? signingKey, TimeProvider time)
    {
        if (signingKey is not null)
        {
            var bytes = Encoding.UTF8.GetBytes(signingKey);
            if (bytes.Length < 32)
            {
                throw new ArgumentException("the signing key must be at least 32 bytes", nameof(signingKey));
            }

            _key = new SymmetricSecurityKey(bytes);
        }

        _time = time;
    }

    /// <summary>A token handler limited to <see cref="MaxTokenLength"/>, claims kept under their JWT names.</summary>
    public static JsonWebTokenHandler CreateHandler() => new() { MaximumTokenSizeInBytes = MaxTokenLength, MapInboundClaims = false };

    /// <summary>Mints a development token valid from <paramref name="now"/> (default: the clock) for <paramref name="ttl"/>.</summary>
    public string Mint(string subject, string? tenantId, string role, TimeSpan ttl, DateTimeOffset? now = null)
    {
        var key = _key ?? throw new InvalidOperationException("no signing key: minting needs ED_TOKEN_SIGNING_KEY");
        var issued = (now ?? _time.GetUtcNow()).UtcDateTime;
        var claims = new Dictionary<string, object> { ["sub"] = subject, ["role"] = role };
        if (tenantId is not null)
        {
            claims["tenant_id"] = tenantId;
        }

        return _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            Claims = claims,
            IssuedAt = issued,
            NotBefore = issued,
            Expires = issued + ttl,
            SigningCredentials = new SigningCredentials(key, SecurityAlgorithms.HmacSha256),
        });
    }

    /// <summary>Validation of development tokens: HS256 only (so <c>none</c> and algorithm confusion fail), our issuer and audience.</summary>
    public TokenValidationParameters DevelopmentParameters() => new()
    {
        ValidIssuer = Issuer,
        ValidAudience = Audience,
        IssuerSigningKey = _key ?? throw new InvalidOperationException("no signing key"),
        ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
        RequireSignedTokens = true,
        RequireExpirationTime = true,
        LifetimeValidator = ValidateLifetime,
        NameClaimType = "sub",
        RoleClaimType = "role",
    };

    /// <summary>Validation of an external OIDC issuer's tokens (keys and issuer from its metadata): asymmetric algorithms only.</summary>
    public TokenValidationParameters ExternalParameters(string audience) => new()
    {
        ValidAudience = audience,
        ValidAlgorithms =
        [
            SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512,
            SecurityAlgorithms.RsaSsaPssSha256, SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384,
        ],
        RequireSignedTokens = true,
        RequireExpirationTime = true,
        LifetimeValidator = ValidateLifetime,
        NameClaimType = "sub",
        RoleClaimType = "role",
    };

    /// <summary>Validates a development token; the claims, or null with <paramref name="failure"/> saying why (safe to log: no token content).</summary>
    public TokenClaims? Validate(string token, out string failure)
    {
        var result = _handler.ValidateTokenAsync(token, DevelopmentParameters()).GetAwaiter().GetResult();
        if (!result.IsValid)
        {
            failure = Describe(result.Exception);
            return null;
        }

        return ReadClaims((JsonWebToken)result.SecurityToken, out failure);
    }

    /// <summary>The checks IdentityModel leaves to us: no <c>crit</c>, a known role, <c>sub</c>, and <c>tenant_id</c> for tenant roles.</summary>
    public static TokenClaims? ReadClaims(JsonWebToken token, out string failure)
    {
        failure = "";
        if (token.TryGetHeaderValue<object>("crit", out _))
        {
            failure = "critical header not supported";
            return null;
        }

        token.TryGetPayloadValue<string>("sub", out var sub);
        token.TryGetPayloadValue<string>("role", out var role);
        token.TryGetPayloadValue<string>("tenant_id", out var tenantId);
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

        return new TokenClaims(sub, string.IsNullOrEmpty(tenantId) ? null : tenantId, role, token.IssuedAt, token.ValidTo);
    }

    /// <summary>Why IdentityModel refused a token, in words safe to log.</summary>
    public static string Describe(Exception? exception) => exception switch
    {
        SecurityTokenExpiredException => "expired",
        SecurityTokenNotYetValidException => "not yet valid",
        SecurityTokenNoExpirationException => "missing exp",
        SecurityTokenInvalidAlgorithmException => "algorithm not allowed",
        SecurityTokenInvalidSignatureException or SecurityTokenSignatureKeyNotFoundException => "bad signature",
        SecurityTokenInvalidIssuerException => "wrong issuer",
        SecurityTokenInvalidAudienceException => "wrong audience",
        SecurityTokenMalformedException or ArgumentException => "malformed token",
        null => "rejected",
        _ => exception.GetType().Name,
    };

    // exp required; nbf and iat not after now + skew; on our TimeProvider so tests control the clock.
    private bool ValidateLifetime(DateTime? notBefore, DateTime? expires, SecurityToken token, TokenValidationParameters parameters)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        if (expires is null)
        {
            throw new SecurityTokenNoExpirationException("missing exp");
        }

        if (now - ClockSkew >= expires)
        {
            throw new SecurityTokenExpiredException("expired") { Expires = expires.Value };
        }

        var issuedAt = token is JsonWebToken jwt && jwt.TryGetPayloadValue<long>("iat", out _) ? jwt.IssuedAt : (DateTime?)null;
        if (notBefore > now + ClockSkew || issuedAt > now + ClockSkew)
        {
            throw new SecurityTokenNotYetValidException("not yet valid");
        }

        return true;
    }
}
