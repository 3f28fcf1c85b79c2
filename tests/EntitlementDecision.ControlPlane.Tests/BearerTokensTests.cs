using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using EntitlementDecision.ControlPlane.Auth;

namespace EntitlementDecision.ControlPlane.Tests;

public sealed class BearerTokensTests
{
    private const string Key = "unit-test-signing-key-0123456789abcdef-xyz";
    private static readonly DateTimeOffset Now = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);

    private static BearerTokens Tokens(FakeTimeProvider? clock = null) => new(Key, clock ?? new FakeTimeProvider(Now));

    private static string Sign(string headerJson, string payloadJson, string key = Key)
    {
        var input = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(headerJson)) + "." + Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payloadJson));
        return input + "." + Base64Url.EncodeToString(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), Encoding.ASCII.GetBytes(input)));
    }

    private static string Claims(long? exp = null, string aud = "\"entitlementdecision\"", string iss = "entitlementdecision-dev", string role = "owner", long? iat = null, string extra = "") =>
        $$"""{"iss":"{{iss}}","aud":{{aud}},"sub":"u1","tenant_id":"acme","role":"{{role}}","iat":{{iat ?? Now.ToUnixTimeSeconds()}},"exp":{{exp ?? Now.AddMinutes(5).ToUnixTimeSeconds()}}{{extra}}}""";

    [Fact]
    public void MintedToken_Validates_WithAllClaims()
    {
        var claims = Tokens().Validate(Tokens().Mint("u1", "acme", Roles.Admin, TimeSpan.FromMinutes(5)), out var failure);
        Assert.NotNull(claims);
        Assert.Equal(("u1", "acme", Roles.Admin), (claims.Subject, claims.TenantId, claims.Role));
        Assert.Equal("", failure);
    }

    [Fact]
    public void AlgNone_Rejected()
    {
        var unsigned = Base64Url.EncodeToString("""{"alg":"none","typ":"JWT"}"""u8) + "." + Base64Url.EncodeToString(Encoding.UTF8.GetBytes(Claims())) + ".AAAA";
        Assert.Null(Tokens().Validate(unsigned, out var failure));
        Assert.Equal("bad signature", failure); // IdentityModel: no HS256 key verifies another alg
    }

    [Theory]
    [InlineData("HS512")]
    [InlineData("hs256")]
    [InlineData("RS256")]
    public void OtherAlgorithm_EvenWithValidHmac_Rejected(string alg)
    {
        Assert.Null(Tokens().Validate(Sign($$"""{"alg":"{{alg}}"}""", Claims()), out var failure));
        Assert.Equal("bad signature", failure); // IdentityModel: no HS256 key verifies another alg
    }

    [Fact]
    public void WrongKey_Rejected()
    {
        Assert.Null(Tokens().Validate(Sign("""{"alg":"HS256"}""", Claims(), key: "another-key-another-key-another-key-0000"), out var failure));
        Assert.Equal("bad signature", failure);
    }

    [Fact]
    public void TamperedPayload_Rejected()
    {
        var token = Tokens().Mint("u1", "acme", Roles.Member, TimeSpan.FromMinutes(5));
        var parts = token.Split('.');
        var forged = parts[0] + "." + Base64Url.EncodeToString(Encoding.UTF8.GetBytes(Claims(role: "operator"))) + "." + parts[2];
        Assert.Null(Tokens().Validate(forged, out _));
    }

    [Fact]
    public void WrongAudienceOrIssuer_Rejected()
    {
        Assert.Null(Tokens().Validate(Sign("""{"alg":"HS256"}""", Claims(aud: "\"someone-else\"")), out var f1));
        Assert.Equal("wrong audience", f1);
        Assert.Null(Tokens().Validate(Sign("""{"alg":"HS256"}""", Claims(iss: "evil")), out var f2));
        Assert.Equal("wrong issuer", f2);
        Assert.NotNull(Tokens().Validate(Sign("""{"alg":"HS256"}""", Claims(aud: """["x","entitlementdecision"]""")), out _));
    }

    [Fact]
    public void Expiry_HonoursThirtySecondSkew()
    {
        var clock = new FakeTimeProvider(Now);
        var token = Tokens(clock).Mint("u1", "acme", Roles.Owner, TimeSpan.FromMinutes(1));
        clock.Advance(TimeSpan.FromSeconds(60 + 29));
        Assert.NotNull(Tokens(clock).Validate(token, out _));
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Null(Tokens(clock).Validate(token, out var failure));
        Assert.Equal("expired", failure);
    }

    [Fact]
    public void TenantRoleWithoutTenant_Rejected()
    {
        Assert.Null(Tokens().Validate(Tokens().Mint("u1", null, Roles.Member, TimeSpan.FromMinutes(5)), out var failure));
        Assert.Equal("tenant role without tenant_id", failure);
        Assert.NotNull(Tokens().Validate(Tokens().Mint("ops", null, Roles.Operator, TimeSpan.FromMinutes(5)), out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("a.b")]
    [InlineData("!!.??.**")]
    public void Garbage_Rejected(string token) => Assert.Null(Tokens().Validate(token, out _));

    [Fact]
    public void AlgNone_WithANonEmptySignatureThatIsTheValidHmac_Rejected()
    {
        // The strongest "none" forgery: the signature bytes are a correct HS256 MAC of the input, only the header lies.
        var signed = Sign("""{"alg":"none","typ":"JWT"}""", Claims());
        Assert.Null(Tokens().Validate(signed, out var failure));
        Assert.Equal("bad signature", failure); // IdentityModel: no HS256 key verifies another alg
    }

    [Fact]
    public void IssuedInTheFuture_BeyondSkew_Rejected()
    {
        var ahead = Now.AddMinutes(2).ToUnixTimeSeconds();
        Assert.Null(Tokens().Validate(Sign("""{"alg":"HS256"}""", Claims(iat: ahead, exp: Now.AddMinutes(10).ToUnixTimeSeconds())), out var failure));
        Assert.Equal("not yet valid", failure);
        Assert.NotNull(Tokens().Validate(Sign("""{"alg":"HS256"}""", Claims(iat: Now.AddSeconds(20).ToUnixTimeSeconds())), out _));
    }

    [Fact]
    public void NotBeforeInTheFuture_Rejected()
    {
        var token = Sign("""{"alg":"HS256"}""", Claims(extra: $$""","nbf":{{Now.AddMinutes(2).ToUnixTimeSeconds()}}"""));
        Assert.Null(Tokens().Validate(token, out var failure));
        Assert.Equal("not yet valid", failure);
    }

    [Fact]
    public void MissingExp_Rejected()
    {
        var token = Sign("""{"alg":"HS256"}""", $$"""{"iss":"entitlementdecision-dev","aud":"entitlementdecision","sub":"u1","tenant_id":"acme","role":"owner","iat":{{Now.ToUnixTimeSeconds()}}}""");
        Assert.Null(Tokens().Validate(token, out var failure));
        Assert.Equal("missing exp", failure);
    }

    [Fact]
    public void CriticalHeader_Rejected_EvenWhenSigned()
    {
        Assert.Null(Tokens().Validate(Sign("""{"alg":"HS256","crit":["exp"],"exp":1}""", Claims()), out var failure));
        Assert.Equal("critical header not supported", failure);
    }

    [Fact]
    public void OversizedToken_Rejected_EvenWhenSigned()
    {
        var padding = new string('x', BearerTokens.MaxTokenLength);
        var token = Sign("""{"alg":"HS256"}""", Claims(extra: $$""","pad":"{{padding}}" """));
        Assert.True(token.Length > BearerTokens.MaxTokenLength);
        Assert.Null(Tokens().Validate(token, out var failure));
        Assert.Equal("malformed token", failure);
    }

    [Fact]
    public void MintedToken_IsAStandardJwt_WithTheDocumentedClaims()
    {
        var token = Tokens().Mint("u1", "acme", Roles.Owner, TimeSpan.FromMinutes(5), Now);
        var jwt = new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(token);
        Assert.Equal(("HS256", "entitlementdecision-dev", "acme", "owner"), (jwt.Alg, jwt.Issuer, jwt.GetPayloadValue<string>("tenant_id"), jwt.GetPayloadValue<string>("role")));
        Assert.Equal(Now.AddMinutes(5).UtcDateTime, jwt.ValidTo);
    }
}
