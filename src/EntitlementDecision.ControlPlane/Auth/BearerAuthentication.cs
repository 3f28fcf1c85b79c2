using System.Security.Claims;
using EntitlementDecision.ControlPlane.Configuration;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;

namespace EntitlementDecision.ControlPlane.Auth;

/// <summary>
/// <c>Authorization: Bearer &lt;JWT&gt;</c> on Microsoft's JwtBearer handler. Without ED_AUTH_AUTHORITY: development
/// tokens signed with ED_TOKEN_SIGNING_KEY (<see cref="BearerTokens"/>); with it: tokens of that OIDC issuer (keys
/// from its discovery document) for ED_AUTH_AUDIENCE. Claims as issued (<c>sub</c>, <c>role</c>, <c>tenant_id</c>).
/// 401 is a ProblemDetails with <c>WWW-Authenticate: Bearer</c>; 403 a ProblemDetails.
/// </summary>
internal static partial class BearerAuthentication
{
    public static IServiceCollection AddBearerAuthentication(this IServiceCollection services)
    {
        services.AddSingleton(sp => new BearerTokens(sp.GetRequiredService<IOptions<ControlPlaneOptions>>().Value.TokenSigningKey, sp.GetRequiredService<TimeProvider>()));
        services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();
        services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<IOptions<ControlPlaneOptions>, BearerTokens, ILoggerFactory>((jwt, options, tokens, loggers) =>
                Configure(jwt, options.Value, tokens, loggers.CreateLogger("EntitlementDecision.ControlPlane.Auth")));
        services.AddAuthorizationBuilder()
            .AddPolicy(Policies.Operator, p => p.RequireAuthenticatedUser().RequireClaim("role", Roles.Operator))
            .AddPolicy(Policies.Staff, p => p.RequireAuthenticatedUser().RequireClaim("role", Roles.Staff))
            .AddPolicy(Policies.MayWrite, p => p.RequireAuthenticatedUser().RequireClaim("role", Roles.Operator, Roles.Owner, Roles.Admin, Roles.Member))
            .AddPolicy(Policies.TenantMember, p => p.RequireAuthenticatedUser().RequireClaim("role", Roles.Owner, Roles.Admin, Roles.Member).RequireClaim("tenant_id"))
            .AddPolicy(Policies.AnyRole, p => p.RequireAuthenticatedUser().RequireClaim("role", Roles.All));
        return services;
    }

    private static void Configure(JwtBearerOptions jwt, ControlPlaneOptions options, BearerTokens tokens, ILogger logger)
    {
        jwt.MapInboundClaims = false;
        jwt.TokenHandlers.Clear();
        jwt.TokenHandlers.Add(BearerTokens.CreateHandler());
        if (options.AuthAuthority is { } authority)
        {
            jwt.Authority = authority;
            jwt.Audience = options.AuthAudience;
            jwt.RequireHttpsMetadata = !ControlPlaneOptions.IsLoopbackHttp(authority);
            jwt.TokenValidationParameters = tokens.ExternalParameters(options.AuthAudience!);
        }
        else
        {
            jwt.TokenValidationParameters = tokens.DevelopmentParameters();
        }

        jwt.Events = new JwtBearerEvents
        {
            OnAuthenticationFailed = context =>
            {
                LogTokenRejected(logger, BearerTokens.Describe(context.Exception));
                return Task.CompletedTask;
            },
            OnTokenValidated = context =>
            {
                var failure = "not a JWT";
                if (context.SecurityToken is not JsonWebToken token || BearerTokens.ReadClaims(token, out failure) is null)
                {
                    LogTokenRejected(logger, failure);
                    context.Fail(failure);
                }

                return Task.CompletedTask;
            },
            OnChallenge = async context =>
            {
                context.HandleResponse();
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await WriteProblemAsync(context.HttpContext, 401, "Unauthorized", "A valid bearer token is required.");
            },
            OnForbidden = context =>
                WriteProblemAsync(context.HttpContext, 403, "Forbidden", "The token's role does not allow this operation."),
        };
    }

    private static async Task WriteProblemAsync(HttpContext http, int status, string title, string detail)
    {
        http.Response.StatusCode = status;
        await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
    }

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Bearer token rejected: {Reason}")]
    private static partial void LogTokenRejected(ILogger logger, string reason);
}

/// <summary>Authorization policy names and the caller's identity as endpoints see it.</summary>
internal static class Policies
{
    /// <summary>Role operator.</summary>
    public const string Operator = "operator";

    /// <summary>Role operator or support: platform staff reads (support never acts).</summary>
    public const string Staff = "staff";

    /// <summary>Any role but support: writes that tenant roles may make for their own tenant (usage ingestion).</summary>
    public const string MayWrite = "may-write";

    /// <summary>Role owner, admin or member (a tenant id is guaranteed).</summary>
    public const string TenantMember = "tenant-member";

    /// <summary>Any valid token (operator or tenant role).</summary>
    public const string AnyRole = "any-role";

    public static string Subject(this ClaimsPrincipal user) => user.FindFirst("sub")?.Value ?? "";

    public static string? TenantId(this ClaimsPrincipal user) => user.FindFirst("tenant_id")?.Value;

    public static bool IsOperator(this ClaimsPrincipal user) => user.FindFirst("role")?.Value == Roles.Operator;

    /// <summary>True for platform staff: operator or support.</summary>
    public static bool IsStaff(this ClaimsPrincipal user) => user.FindFirst("role")?.Value is Roles.Operator or Roles.Support;

    /// <summary>True for platform staff (operator, support), or a tenant role of <paramref name="tenantId"/>. Reads only: actions
    /// require <see cref="Policies.Operator"/> or a tenant role's own policy.</summary>
    public static bool MayReadTenant(this ClaimsPrincipal user, string tenantId) =>
        user.IsStaff() || (user.TenantId() is { } own && string.Equals(own, tenantId, StringComparison.Ordinal));

    /// <summary>The audit actor: "operator:&lt;sub&gt;" or "&lt;role&gt;:&lt;sub&gt;".</summary>
    public static string Actor(this ClaimsPrincipal user) => $"{user.FindFirst("role")?.Value}:{user.Subject()}";
}
