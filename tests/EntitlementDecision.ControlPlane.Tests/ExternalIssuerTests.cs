using System.Buffers.Text;
using System.Net;
using System.Security.Cryptography;
using EntitlementDecision.ControlPlane.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// ED_AUTH_AUTHORITY / ED_AUTH_AUDIENCE: tokens are validated against a real OIDC issuer's discovery document and JWKS,
/// served over loopback HTTP by a small Kestrel host, and dev-key tokens stop working.
/// </summary>
public sealed class ExternalIssuerTests : IAsyncLifetime
{
    private const string Audience = "entitlementdecision-api";
    private readonly RSA _rsa = RSA.Create(2048);
    private WebApplication _issuer = null!;
    private string _authority = "";
    private string _database = "";
    private ControlPlaneFactory _factory = null!;
    private HttpClient _client = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _issuer = builder.Build();
        var parameters = _rsa.ExportParameters(false);
        _issuer.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = _authority,
            ["jwks_uri"] = _authority + "/jwks",
            ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
        }));
        _issuer.MapGet("/jwks", () => Results.Json(new Dictionary<string, object>
        {
            ["keys"] = new[]
            {
                new Dictionary<string, string>
                {
                    ["kty"] = "RSA", ["use"] = "sig", ["alg"] = "RS256", ["kid"] = "k1",
                    ["n"] = Base64Url.EncodeToString(parameters.Modulus), ["e"] = Base64Url.EncodeToString(parameters.Exponent),
                },
            },
        }));
        await _issuer.StartAsync(TestContext.Current.CancellationToken);
        _authority = _issuer.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();

        _database = await TestServices.CreateDatabaseAsync();
        var settings = ControlPlaneFactory.DefaultSettings(_database);
        settings["ED_AUTH_AUTHORITY"] = _authority;
        settings["ED_AUTH_AUDIENCE"] = Audience;
        _factory = new ControlPlaneFactory(settings);
        _client = _factory.CreateClient();
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _factory.DisposeAsync();
        await _issuer.DisposeAsync();
        await TestServices.DropDatabaseAsync(_database);
        _rsa.Dispose();
    }

    private string IssuerToken(string role, string? tenant, string audience = Audience, RSA? key = null) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = _authority,
            Audience = audience,
            Claims = tenant is null ? new Dictionary<string, object> { ["sub"] = "alice", ["role"] = role } : new Dictionary<string, object> { ["sub"] = "alice", ["role"] = role, ["tenant_id"] = tenant },
            Expires = DateTime.UtcNow.AddMinutes(5),
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(key ?? _rsa) { KeyId = "k1" }, SecurityAlgorithms.RsaSha256),
        });

    private async Task<HttpStatusCode> GetTenantsAsync(string token) => await SendAsync(HttpMethod.Get, "/tenants", token);

    private async Task<HttpStatusCode> SendAsync(HttpMethod method, string url, string token)
    {
        using var request = new HttpRequestMessage(method, url);
        request.Headers.Authorization = new("Bearer", token);
        using var response = await _client.SendAsync(request, TestContext.Current.CancellationToken);
        return response.StatusCode;
    }

    [Fact]
    public async Task IssuerToken_WithOperatorRole_IsAccepted()
    {
        Assert.Equal(HttpStatusCode.OK, await GetTenantsAsync(IssuerToken(Roles.Operator, null)));
    }

    [Fact]
    public async Task DevKeyToken_IsRejected_OnceAnIssuerIsConfigured()
    {
        var dev = new BearerTokens(TestServices.SigningKey, TimeProvider.System).Mint("ops", "platform", Roles.Operator, TimeSpan.FromMinutes(5));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetTenantsAsync(dev));
    }

    [Fact]
    public async Task IssuerToken_ForAnotherAudience_OrSignedByAnotherKey_IsRejected()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, await GetTenantsAsync(IssuerToken(Roles.Operator, null, audience: "someone-else")));
        using var other = RSA.Create(2048);
        Assert.Equal(HttpStatusCode.Unauthorized, await GetTenantsAsync(IssuerToken(Roles.Operator, null, key: other)));
    }

    [Fact]
    public async Task IssuerToken_WithATenantRole_IsForbiddenOnOperatorEndpoints()
    {
        Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(HttpMethod.Post, "/tenants/acme/suspend", IssuerToken(Roles.Member, "acme")));
        Assert.Equal(HttpStatusCode.OK, await GetTenantsAsync(IssuerToken(Roles.Member, "acme"))); // lists only its own
    }
}
