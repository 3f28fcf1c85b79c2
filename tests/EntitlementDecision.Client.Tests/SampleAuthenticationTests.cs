using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace EntitlementDecision.Client.Tests;

/// <summary>
/// The classes that build the sample's host with WebApplicationFactory&lt;Program&gt;: run one at a time, since hosts of a
/// top-level-statements Program built concurrently are found through one process-wide DiagnosticListener and can be mixed up.
/// </summary>
[CollectionDefinition(nameof(SampleHostCollection), DisableParallelization = true)]
public sealed class SampleHostCollection;

/// <summary>
/// The sample product API authenticates its callers (bearer JWT of the dev issuer) before any entitlement check, with no sidecar
/// behind it (a refused port): /api/projects fails open, so a 200 there shows the token passed and a 401 that it did not.
/// </summary>
[Collection(nameof(SampleHostCollection))]
public sealed class SampleAuthenticationTests
{
    private const string Key = "sample-test-token-signing-key-0123456789abcdef";
    private const string OtherKey = "another-token-signing-key-0123456789abcdef-x";

    /// <summary>The sample, its sidecar unreachable, validating tokens signed with <paramref name="signingKey"/>.</summary>
    internal static WebApplicationFactory<Program> Sample(string signingKey = Key) => new WebApplicationFactory<Program>()
        .WithWebHostBuilder(b => b.UseSetting("ED_SIDECAR_URL", "http://127.0.0.1:1").UseSetting("ED_TOKEN_SIGNING_KEY", signingKey));

    private static string Token(string? tenant, string key = Key, DateTimeOffset? issuedAt = null, string issuer = DevTokens.Issuer, string audience = DevTokens.Audience) =>
        DevTokens.Mint(key, "sample-test", tenant, tenant is null ? "operator" : "member", issuedAt ?? DateTimeOffset.UtcNow, TimeSpan.FromHours(1), issuer, audience);

    private static async Task<(HttpStatusCode Status, JsonNode? Body, HttpResponseMessage Response)> GetAsync(
        WebApplicationFactory<Program> sample, string path, string? token, string? tenantHeader = null)
    {
        using var http = sample.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (tenantHeader is not null)
        {
            request.Headers.Add("X-Tenant-Id", tenantHeader);
        }

        var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text), response);
    }

    [Fact]
    public async Task ValidToken_ReachesTheEntitlementCheckOfItsTenant()
    {
        await using var sample = Sample();
        var token = Token("acme");

        var projects = await GetAsync(sample, "/api/projects", token);
        var reports = await GetAsync(sample, "/api/reports/advanced", token);

        Assert.Equal(HttpStatusCode.OK, projects.Status); // fail open: the sidecar is down
        Assert.Equal((HttpStatusCode.Forbidden, true), (reports.Status, (bool?)reports.Body!["fallback"])); // fail closed
    }

    [Fact]
    public async Task NoToken_401ProblemWithBearerChallenge()
    {
        await using var sample = Sample();

        var (status, body, response) = await GetAsync(sample, "/api/projects", token: null, tenantHeader: "acme");

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(401, (int?)body!["status"]);
    }

    [Theory]
    [InlineData("signed with another key")]
    [InlineData("expired")]
    [InlineData("another issuer")]
    [InlineData("another audience")]
    [InlineData("alg none")]
    [InlineData("payload of another tenant")]
    [InlineData("not a JWT")]
    public async Task RejectedToken_401(string kind)
    {
        await using var sample = Sample();
        var token = kind switch
        {
            "signed with another key" => Token("acme", key: OtherKey),
            "expired" => Token("acme", issuedAt: DateTimeOffset.UtcNow.AddHours(-2)), // exp an hour ago, past the 30 s skew
            "another issuer" => Token("acme", issuer: "someone-else"),
            "another audience" => Token("acme", audience: "another-product"),
            "alg none" => Base64Url("""{"alg":"none","typ":"JWT"}""") + "." + Token("acme").Split('.')[1] + ".",
            "payload of another tenant" => SwapPayload(Token("acme"), Token("globex")),
            _ => "not-a-jwt",
        };

        var (status, _, response) = await GetAsync(sample, "/api/projects", token);

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
    }

    [Fact]
    public async Task TokenWithoutTenant_HeaderNamingOneIsIgnored_401NoTenant()
    {
        await using var sample = Sample();

        var (status, body, _) = await GetAsync(sample, "/api/projects", Token(tenant: null), tenantHeader: "acme");

        Assert.Equal((HttpStatusCode.Unauthorized, "No tenant"), (status, (string?)body!["title"]));
    }

    [Theory]
    [InlineData("")]
    [InlineData("shorter-than-32-bytes")]
    public async Task MissingOrShortSigningKey_StopsStartUpNamingTheVariable(string key)
    {
        // The sample as its own process (as a team runs it): WebApplicationFactory disposes a host that fails to start and can
        // surface that as ObjectDisposedException instead of the start-up error.
        // 60 s is a bound, not a latency check: a sample that starts would serve forever.
        var run = await TestProcess.RunAsync(
            "dotnet",
            ["exec", Path.Combine(AppContext.BaseDirectory, "EntitlementDecision.Samples.ProductApi.dll")],
            TimeSpan.FromSeconds(60),
            environment: new Dictionary<string, string?> { ["ED_TOKEN_SIGNING_KEY"] = key, ["ED_SIDECAR_URL"] = "http://127.0.0.1:1", ["ASPNETCORE_URLS"] = "http://127.0.0.1:0" },
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("ED_TOKEN_SIGNING_KEY is required", run.Output, StringComparison.Ordinal);
    }

    // The header and payload of one token under the signature of another: what a caller editing its token's tenant sends.
    private static string SwapPayload(string signed, string wanted)
    {
        var s = signed.Split('.');
        var w = wanted.Split('.');
        return w[0] + "." + w[1] + "." + s[2];
    }

    private static string Base64Url(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
