using System.Net;
using System.Text.RegularExpressions;
using EntitlementDecision.ControlPlane.Admin;
using EntitlementDecision.ControlPlane.Auth;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>The standard host (shipped defaults) on its own database, with a clock the tests move instead of waiting.</summary>
public sealed class ConsoleSessionWorld : IAsyncLifetime
{
    private string _database = "";
    private ControlPlaneFactory? _factory;

    // The system clock moved by an offset the test sets (timers and delays still run on the system's).
    public ShiftedClock Clock { get; } = new();

    public ControlPlaneFixture Host { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _database = await TestServices.CreateDatabaseAsync();
        _factory = new ControlPlaneFactory(ControlPlaneFactory.DefaultSettings(_database), services => services.AddSingleton<TimeProvider>(Clock));
        Host = new ControlPlaneFixture(_factory);
        await Host.ConnectRedisAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeHelpersAsync();
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
        }

        if (_database.Length > 0)
        {
            await TestServices.DropDatabaseAsync(_database);
        }
    }
}

/// <summary>The console session: capped at the token's expiry (on the host's clock), ended by sign-out for good (the old cookie
/// is refused too), and the return URL after sign-in kept on this site.</summary>
public sealed class ConsoleSessionTests(ConsoleSessionWorld world) : IClassFixture<ConsoleSessionWorld>, IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ControlPlaneFixture Fx => world.Host;

    public void Dispose() => world.Clock.Offset = TimeSpan.Zero;

    private string Operator(TimeSpan ttl, string subject = "ops") => Fx.Tokens.Mint(subject, "platform", Roles.Operator, ttl, world.Clock.GetUtcNow());

    [Fact]
    public async Task Session_EndsAtTheTokensExpiry_AndARequestAfterItGoesBackToSignIn()
    {
        var token = Operator(TimeSpan.FromMinutes(5));
        var (_, whoami) = await Fx.SendAsync(HttpMethod.Get, "/auth/whoami", token);
        var exp = DateTimeOffset.Parse((string)whoami!["expires_at"]!, System.Globalization.CultureInfo.InvariantCulture);
        var (response, cookie) = await SignInAsync(token);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);

        var ticket = Ticket(cookie!);
        Assert.NotNull(ticket.Properties.ExpiresUtc);
        Assert.True(ticket.Properties.ExpiresUtc <= exp, $"session until {ticket.Properties.ExpiresUtc:O}, token until {exp:O}");
        Assert.True(ticket.Properties.ExpiresUtc > world.Clock.GetUtcNow(), "the session has not ended at sign-in");
        Assert.Equal(HttpStatusCode.OK, (await ConsoleGetAsync("/admin/tenants", cookie)).StatusCode);

        // One second past exp the API would still take the token (30 s clock skew): the session itself must have ended.
        world.Clock.Offset = exp + TimeSpan.FromSeconds(1) - TimeProvider.System.GetUtcNow();
        var after = await ConsoleGetAsync("/admin/tenants", cookie);
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
        Assert.StartsWith("/admin/sign-in", Local(after.Headers.Location));
    }

    [Fact]
    public async Task Session_OfALongLivedToken_LastsAtMostEightHours()
    {
        var (_, cookie) = await SignInAsync(Operator(TimeSpan.FromHours(24)));
        var signedInAt = world.Clock.GetUtcNow();
        var ticket = Ticket(cookie!);
        Assert.InRange(ticket.Properties.ExpiresUtc!.Value, signedInAt + AdminConsole.SessionLifetime - TimeSpan.FromMinutes(1), signedInAt + AdminConsole.SessionLifetime);

        world.Clock.Offset = AdminConsole.SessionLifetime + TimeSpan.FromSeconds(1);
        Assert.StartsWith("/admin/sign-in", Local((await ConsoleGetAsync("/admin/tenants", cookie)).Headers.Location));
    }

    [Fact]
    public async Task SignOut_EndsTheSession_AndTheOldCookieIsRefused_WhileAnotherSessionGoesOn()
    {
        var (_, cookie) = await SignInAsync(Operator(TimeSpan.FromHours(1)));
        var (_, other) = await SignInAsync(Operator(TimeSpan.FromHours(1), "ops-2"));
        var page = await ConsoleGetAsync("/admin/tenants", cookie);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var html = await page.Content.ReadAsStringAsync(Ct);
        var form = Regex.Match(html, "<form method=\"post\" action=\"/admin/sign-out\">(.*?)</form>", RegexOptions.Singleline);
        Assert.True(form.Success, "the layout offers a sign-out form");
        var antiforgery = Regex.Match(form.Groups[1].Value, "name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"").Groups[1].Value;
        Assert.NotEmpty(antiforgery);

        // Without the antiforgery token the POST is refused and the session lives on.
        var forged = await PostAsync("/admin/sign-out", new() { }, cookie, page);
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ConsoleGetAsync("/admin/tenants", cookie)).StatusCode);

        var signedOut = await PostAsync("/admin/sign-out", new() { ["__RequestVerificationToken"] = antiforgery }, cookie, page);
        Assert.Equal(HttpStatusCode.Redirect, signedOut.StatusCode);
        Assert.Equal("/admin/sign-in", Local(signedOut.Headers.Location));
        var cleared = Assert.Single(signedOut.Headers.GetValues("Set-Cookie"), c => c.StartsWith("ed_admin=", StringComparison.Ordinal));
        Assert.Contains("expires=Thu, 01 Jan 1970", cleared, StringComparison.OrdinalIgnoreCase);

        var next = await ConsoleGetAsync("/admin/tenants", null);
        Assert.StartsWith("/admin/sign-in", Local(next.Headers.Location));
        // A copy of the cookie taken before sign-out (its ticket is still unexpired) no longer opens the console.
        Assert.True(Ticket(cookie!).Properties.ExpiresUtc > world.Clock.GetUtcNow());
        var replayed = await ConsoleGetAsync("/admin/tenants", cookie);
        Assert.Equal(HttpStatusCode.Redirect, replayed.StatusCode);
        Assert.StartsWith("/admin/sign-in", Local(replayed.Headers.Location));
        Assert.Equal(HttpStatusCode.OK, (await ConsoleGetAsync("/admin/tenants", other)).StatusCode);
    }

    [Theory]
    [InlineData("/admin/billing?status=failed", "/admin/billing?status=failed")]
    [InlineData("/admin/tenants/t-1", "/admin/tenants/t-1")]
    [InlineData("https://evil.example/admin", "/admin/tenants")]
    [InlineData("//evil.example/admin", "/admin/tenants")]
    [InlineData("/\\evil.example", "/admin/tenants")]
    [InlineData("\\\\evil.example", "/admin/tenants")]
    [InlineData("/admin\\..\\\\evil.example", "/admin/tenants")]
    [InlineData("javascript:alert(1)", "/admin/tenants")]
    [InlineData("/tenants", "/admin/tenants")]
    [InlineData("/admin/\r\nSet-Cookie: x=1", "/admin/tenants")]
    [InlineData("", "/admin/tenants")]
    public async Task SignIn_FollowsOnlyConsolePaths_AfterSignIn(string returnUrl, string expected)
    {
        // The page carries the guarded value into its form, and the POST guards what it is sent again.
        var page = await ConsoleGetAsync("/admin/sign-in?ReturnUrl=" + Uri.EscapeDataString(returnUrl), null);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var html = await page.Content.ReadAsStringAsync(Ct);
        Assert.Contains("data-testid=\"sign-in-form\"", html);
        var carried = WebUtility.HtmlDecode(Regex.Match(html, "name=\"returnUrl\" value=\"([^\"]*)\"").Groups[1].Value);
        Assert.Equal(expected, carried);

        var (response, cookie) = await SignInAsync(Operator(TimeSpan.FromHours(1)), returnUrl);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.NotNull(cookie);
        Assert.Equal(expected, Local(response.Headers.Location));
    }

    [Fact]
    public async Task SignIn_FromTheLoginRedirect_ReturnsToThePageFirstAsked()
    {
        var asked = await ConsoleGetAsync("/admin/billing?status=failed", null);
        Assert.Equal(HttpStatusCode.Redirect, asked.StatusCode);
        var signInUrl = Local(asked.Headers.Location);
        var returnUrl = Uri.UnescapeDataString(Regex.Match(signInUrl, "[?&]ReturnUrl=([^&]+)").Groups[1].Value);
        Assert.Equal("/admin/billing?status=failed", returnUrl);

        var (response, _) = await SignInAsync(Operator(TimeSpan.FromHours(1)), returnUrl);
        Assert.Equal("/admin/billing?status=failed", Local(response.Headers.Location));
    }

    private Microsoft.AspNetCore.Authentication.AuthenticationTicket Ticket(string cookie)
    {
        var options = Fx.Factory.Services.GetRequiredService<IOptionsMonitor<CookieAuthenticationOptions>>().Get(AdminConsole.CookieScheme);
        var value = cookie.Split(';')[0]["ed_admin=".Length..];
        return options.TicketDataFormat.Unprotect(value) ?? throw new InvalidOperationException("the console cookie does not decrypt");
    }

    private static string Local(Uri? location) => location?.OriginalString.Replace("http://localhost", "") ?? "";

    private async Task<HttpResponseMessage> ConsoleGetAsync(string url, string? cookie)
    {
        using var client = Fx.Factory.CreateClient(new() { AllowAutoRedirect = false });
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie.Split(';')[0]);
        }

        return await client.SendAsync(request, Ct);
    }

    /// <summary>POSTs a form with the session cookie and the antiforgery cookie <paramref name="page"/> set.</summary>
    private async Task<HttpResponseMessage> PostAsync(string url, Dictionary<string, string> form, string? cookie, HttpResponseMessage page)
    {
        using var client = Fx.Factory.CreateClient(new() { AllowAutoRedirect = false });
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new FormUrlEncodedContent(form) };
        var cookies = page.Headers.TryGetValues("Set-Cookie", out var set) ? set.Select(c => c.Split(';')[0]).ToList() : [];
        if (cookie is not null)
        {
            cookies.Add(cookie.Split(';')[0]);
        }

        request.Headers.Add("Cookie", string.Join("; ", cookies));
        return await client.SendAsync(request, Ct);
    }

    /// <summary>GET /admin/sign-in for its antiforgery token and cookie, then POST the token (and return URL); the answer and the session cookie.</summary>
    private async Task<(HttpResponseMessage Response, string? Cookie)> SignInAsync(string token, string? returnUrl = null)
    {
        var page = await ConsoleGetAsync("/admin/sign-in", null);
        var html = await page.Content.ReadAsStringAsync(Ct);
        var antiforgery = Regex.Match(html, "name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"").Groups[1].Value;
        Assert.NotEmpty(antiforgery);
        var form = new Dictionary<string, string> { ["token"] = token, ["__RequestVerificationToken"] = antiforgery };
        if (returnUrl is not null)
        {
            form["returnUrl"] = returnUrl;
        }

        var response = await PostAsync("/admin/sign-in", form, null, page);
        var session = response.Headers.TryGetValues("Set-Cookie", out var set) ? set.FirstOrDefault(c => c.StartsWith("ed_admin=", StringComparison.Ordinal)) : null;
        return (response, session);
    }
}
