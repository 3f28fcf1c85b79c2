using System.Security.Claims;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Configuration;
using EntitlementDecision.ControlPlane.Data;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary>
/// The operator console at <c>/admin</c>: Razor Pages (server-rendered, no JavaScript), signed in with a staff token (operator acts,
/// support reads) kept in an encrypted HttpOnly SameSite=Strict cookie; with ED_AUTH_AUTHORITY and ED_ADMIN_OIDC_CLIENT_ID, also OIDC
/// sign-in (authorization code flow). Pages read and act only through <see cref="AdminApi"/>. Forms carry antiforgery tokens (Razor
/// Pages validate every POST); responses carry a strict Content-Security-Policy and no-store.
/// </summary>
internal static class AdminConsole
{
    public const string CookieScheme = "admin";
    public const string OidcScheme = "admin-oidc";
    public const string Policy = "admin-console";
    public const string ClientIdVariable = "ED_ADMIN_OIDC_CLIENT_ID";
    public const string ClientSecretVariable = "ED_ADMIN_OIDC_CLIENT_SECRET";

    /// <summary>A console session lasts at most this long (and never beyond the token's own expiry).</summary>
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromHours(8);

    public static IServiceCollection AddAdminConsole(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddHttpContextAccessor();
        services.AddSingleton<ConsoleSessions>();
        // Cookies and antiforgery tokens must survive restarts and verify on every replica: one key ring, in PostgreSQL.
        services.AddDataProtection().SetApplicationName("entitlement-decision-controlplane").PersistKeysToDbContext<EntitlementsDbContext>();
        services.AddHttpClient<AdminApi>((sp, http) =>
        {
            http.BaseAddress = LoopbackAddress(sp.GetRequiredService<IOptions<ControlPlaneOptions>>().Value.Url);
            http.Timeout = TimeSpan.FromSeconds(30);
        });
        services.AddRazorPages(o =>
        {
            o.RootDirectory = "/Admin";
            o.Conventions.AuthorizeFolder("/", Policy);
            o.Conventions.AllowAnonymousToPage("/SignIn");
        });
        var authentication = services.AddAuthentication().AddCookie(CookieScheme, o =>
        {
            o.Cookie.Name = "ed_admin";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.Cookie.Path = "/admin";
            o.LoginPath = "/admin/sign-in";
            o.LogoutPath = "/admin/sign-out";
            o.AccessDeniedPath = "/admin/sign-in";
            o.ExpireTimeSpan = SessionLifetime;
            o.SlidingExpiration = false;
            o.Events.OnSigningIn = ConsoleSessions.OnSigningIn;
            o.Events.OnValidatePrincipal = ConsoleSessions.OnValidatePrincipal;
        });
        if (configuration[ControlPlaneOptions.AuthAuthorityVariable] is { Length: > 0 } authority && configuration[ClientIdVariable] is { Length: > 0 } clientId)
        {
            authentication.AddOpenIdConnect(OidcScheme, o =>
            {
                o.Authority = authority;
                o.ClientId = clientId;
                o.ClientSecret = configuration[ClientSecretVariable];
                o.ResponseType = "code";
                o.UsePkce = true;
                o.SaveTokens = true; // the access token is what the console sends to the API
                o.MapInboundClaims = false;
                o.SignInScheme = CookieScheme;
                o.CallbackPath = "/admin/signin-oidc";
                o.SignedOutCallbackPath = "/admin/signout-oidc";
                o.RequireHttpsMetadata = !ControlPlaneOptions.IsLoopbackHttp(authority);
                o.TokenValidationParameters.RoleClaimType = "role";
                if (configuration[ControlPlaneOptions.AuthAudienceVariable] is { Length: > 0 } audience)
                {
                    o.Resource = audience;
                }
            });
        }

        services.AddAuthorizationBuilder().AddPolicy(Policy, p => p.AddAuthenticationSchemes(CookieScheme).RequireAuthenticatedUser().RequireClaim("role", Roles.Staff));
        return services;
    }

    /// <summary>True when OIDC sign-in is configured (the sign-in page then offers it).</summary>
    public static bool HasOidc(IServiceProvider services) =>
        services.GetRequiredService<IAuthenticationSchemeProvider>().GetSchemeAsync(OidcScheme).GetAwaiter().GetResult() is not null;

    public static void MapAdminConsole(this WebApplication app)
    {
        app.UseWhen(http => http.Request.Path.StartsWithSegments("/admin"), admin => admin.Use((http, next) =>
        {
            var headers = http.Response.Headers;
            headers.ContentSecurityPolicy = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
            headers.CacheControl = "no-store";
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            return next(http);
        }));
        app.MapRazorPages();
        app.MapGet("/admin", () => Results.Redirect("/admin/tenants")).AllowAnonymous().ExcludeFromDescription();
        app.MapGet("/admin/sign-in/oidc", (string? returnUrl) => Results.Challenge(
            new AuthenticationProperties { RedirectUri = SafeReturn(returnUrl) }, [OidcScheme])).AllowAnonymous().ExcludeFromDescription();
    }

    /// <summary>Signs in with a pasted bearer token: the API must accept it and its role must be staff. The token's owner when
    /// signed in, else why not.</summary>
    public static async Task<(WhoAmIDto? Who, string? Error)> SignInWithTokenAsync(HttpContext http, AdminApi api, string token, CancellationToken ct)
    {
        var who = await api.WhoAmIAsync(token, ct);
        if (!who.Ok)
        {
            return (null, who.Status == 401 ? "The control plane refused this token (expired, or not signed by this deployment's key)." : who.Error);
        }

        if (!Roles.Staff.Contains(who.Value!.Role))
        {
            return (null, $"A '{who.Value.Role}' token cannot use the console: it needs the operator or support role.");
        }

        // The session ends at SessionLifetime or the token's exp, whichever is first (ConsoleSessions.OnSigningIn, on the host's clock).
        var identity = new ClaimsIdentity([new Claim("sub", who.Value.Subject), new Claim("role", who.Value.Role)], CookieScheme, "sub", "role");
        var properties = new AuthenticationProperties { IsPersistent = false, AllowRefresh = false };
        List<AuthenticationToken> tokens = [new() { Name = "access_token", Value = token }];
        if (who.Value.ExpiresAt is { } exp)
        {
            tokens.Add(new() { Name = "expires_at", Value = exp.ToString("o", System.Globalization.CultureInfo.InvariantCulture) });
        }

        properties.StoreTokens(tokens);
        await http.SignInAsync(CookieScheme, new ClaimsPrincipal(identity), properties);
        return (who.Value, null);
    }

    /// <summary>Only local console paths are followed after sign-in (no open redirect): under <c>/admin</c>, no backslash, no
    /// control character (a CR/LF would break the Location header); anything else becomes <c>/admin/tenants</c>.</summary>
    public static string SafeReturn(string? returnUrl) =>
        returnUrl is { Length: > 1 } && returnUrl.StartsWith("/admin", StringComparison.Ordinal) && !returnUrl.StartsWith("//", StringComparison.Ordinal)
            && !returnUrl.Contains('\\') && !returnUrl.Any(char.IsControl)
            ? returnUrl : "/admin/tenants";

    /// <summary>The address this process listens on, for its own API: a wildcard host becomes 127.0.0.1.</summary>
    internal static Uri LoopbackAddress(string urls)
    {
        var first = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)[0];
        first = first.Replace("://0.0.0.0", "://127.0.0.1").Replace("://[::]", "://127.0.0.1").Replace("://*", "://127.0.0.1").Replace("://+", "://127.0.0.1");
        return new Uri(first.EndsWith('/') ? first : first + "/");
    }
}
