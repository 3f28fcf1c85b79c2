using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace EntitlementDecision.ControlPlane.Auth;

/// <summary>
/// Authenticates <c>Authorization: Bearer &lt;token&gt;</c> with <see cref="BearerTokens"/>. Claims: "sub", "tenant_id", "role"
/// (also <see cref="ClaimTypes.Role"/>). Challenge → 401 ProblemDetails with <c>WWW-Authenticate: Bearer</c>; forbid → 403 ProblemDetails.
/// </summary>
public sealed partial class BearerAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    BearerTokens tokens,
    IProblemDetailsService problemDetails) : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "Bearer";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return Task.FromResult(AuthenticateResult.Fail("not a bearer token"));
        }

        var claims = tokens.Validate(header["Bearer ".Length..].Trim(), out var failure);
        if (claims is null)
        {
            LogTokenRejected(Logger, failure);
            return Task.FromResult(AuthenticateResult.Fail(failure));
        }

        var identity = new ClaimsIdentity(SchemeName, "sub", ClaimTypes.Role);
        identity.AddClaim(new Claim("sub", claims.Subject));
        identity.AddClaim(new Claim("role", claims.Role));
        identity.AddClaim(new Claim(ClaimTypes.Role, claims.Role));
        if (claims.TenantId is not null)
        {
            identity.AddClaim(new Claim("tenant_id", claims.TenantId));
        }

        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = "Bearer";
        await problemDetails.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = { Status = 401, Title = "Unauthorized", Detail = "A valid bearer token is required." },
        });
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        await problemDetails.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = Context,
            ProblemDetails = { Status = 403, Title = "Forbidden", Detail = "The token's role does not allow this operation." },
        });
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Bearer token rejected: {Reason}")]
    private static partial void LogTokenRejected(ILogger logger, string reason);
}

/// <summary>Authorization policy names and the caller's identity as endpoints see it.</summary>
public static class Policies
{
    /// <summary>Role operator.</summary>
    public const string Operator = "operator";

    /// <summary>Role owner, admin or member (a tenant id is guaranteed).</summary>
    public const string TenantMember = "tenant-member";

    /// <summary>Any valid token (operator or tenant role).</summary>
    public const string AnyRole = "any-role";

    public static string Subject(this ClaimsPrincipal user) => user.FindFirst("sub")?.Value ?? "";

    public static string? TenantId(this ClaimsPrincipal user) => user.FindFirst("tenant_id")?.Value;

    public static bool IsOperator(this ClaimsPrincipal user) => user.FindFirst("role")?.Value == Roles.Operator;

    /// <summary>True for an operator, or a tenant role of <paramref name="tenantId"/>.</summary>
    public static bool MayAccessTenant(this ClaimsPrincipal user, string tenantId) =>
        user.IsOperator() || (user.TenantId() is { } own && string.Equals(own, tenantId, StringComparison.Ordinal));

    /// <summary>The audit actor: "operator:&lt;sub&gt;" or "&lt;role&gt;:&lt;sub&gt;".</summary>
    public static string Actor(this ClaimsPrincipal user) => $"{user.FindFirst("role")?.Value}:{user.Subject()}";
}
