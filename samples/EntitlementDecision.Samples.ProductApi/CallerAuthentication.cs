using System.Text;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.Tokens;

namespace EntitlementDecision.Samples.ProductApi;

/// <summary>
/// Who calls the sample: <c>Authorization: Bearer &lt;JWT&gt;</c> of the control plane's development issuer (HS256 signed with
/// ED_TOKEN_SIGNING_KEY, at least 32 bytes; <c>iss</c> entitlementdecision-dev, <c>aud</c> entitlementdecision, <c>exp</c>
/// required, 30 s clock skew), as <c>mint-token</c> prints them. Claims keep their JWT names, so the SDK's default tenant
/// resolver reads the token's <c>tenant_id</c>. A missing or short key stops start-up naming the variable. A product with its
/// own identity provider sets <c>Authority</c> and <c>Audience</c> instead of the key.
/// </summary>
internal static class CallerAuthentication
{
    public const string SigningKeyVariable = "ED_TOKEN_SIGNING_KEY";
    public const string Issuer = "entitlementdecision-dev";
    public const string Audience = "entitlementdecision";

    public static IServiceCollection AddCallerAuthentication(this IServiceCollection services)
    {
        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<IConfiguration>((jwt, configuration) =>
            {
                jwt.MapInboundClaims = false; // tenant_id, sub and role as issued, not renamed to WS-* claim types
                jwt.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = Issuer,
                    ValidAudience = Audience,
                    IssuerSigningKey = SigningKey(configuration[SigningKeyVariable]),
                    ValidAlgorithms = [SecurityAlgorithms.HmacSha256], // so "none" and algorithm confusion fail
                    RequireSignedTokens = true,
                    RequireExpirationTime = true,
                    ClockSkew = TimeSpan.FromSeconds(30),
                    NameClaimType = "sub",
                    RoleClaimType = "role",
                };
            })
            .Validate(jwt => jwt.TokenValidationParameters.IssuerSigningKey is not null,
                $"{SigningKeyVariable} is required (at least 32 bytes): the key the control plane's dev tokens are signed with.")
            .ValidateOnStart();
        services.AddAuthorization();
        return services;
    }

    // Null unless the key has the 32 bytes HS256 needs (IdentityModel would otherwise refuse every token at request time).
    private static SymmetricSecurityKey? SigningKey(string? value) =>
        value is not null && Encoding.UTF8.GetByteCount(value) >= 32 ? new SymmetricSecurityKey(Encoding.UTF8.GetBytes(value)) : null;
}
