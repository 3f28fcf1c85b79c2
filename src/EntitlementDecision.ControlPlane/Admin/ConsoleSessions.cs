using System.Globalization;
using System.Security.Claims;
using EntitlementDecision.ControlPlane.Snapshots;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using StackExchange.Redis;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary>
/// The console cookie's server-side checks. Each session gets an id (claim <c>console_session</c>) and ends at the earlier of
/// <see cref="AdminConsole.SessionLifetime"/> and its token's <c>expires_at</c>, on the host's <see cref="TimeProvider"/>. Sign-out
/// records the id in Redis (<c>ed:console:signed-out:{id}</c>, kept until the session would have expired), so a copy of the
/// cookie taken before sign-out is refused on every replica. When Redis cannot answer, the session is refused (fail closed).
/// </summary>
internal sealed class ConsoleSessions(RedisConnection redis, TimeProvider time, ILogger<ConsoleSessions> log)
{
    // Not "sid": an OIDC id_token may carry its own (the IdP session, shared by several console sign-ins).
    public const string SessionClaim = "console_session";

    private static RedisKey Key(string sessionId) => "ed:console:signed-out:" + sessionId;

    /// <summary>Cookie event: gives the new session its id and caps its end at the token's expiry.</summary>
    public static Task OnSigningIn(CookieSigningInContext context)
    {
        if (context.Principal?.Identity is ClaimsIdentity identity && !identity.HasClaim(c => c.Type == SessionClaim))
        {
            identity.AddClaim(new Claim(SessionClaim, Guid.NewGuid().ToString("N")));
        }

        // expires_at: the pasted token's exp, or what the OIDC handler saved from the token response (round-trip format).
        if (context.Properties.GetTokenValue("expires_at") is { } value
            && DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var tokenExpires)
            && (context.Properties.ExpiresUtc is null || tokenExpires < context.Properties.ExpiresUtc))
        {
            context.Properties.ExpiresUtc = tokenExpires;
        }

        return Task.CompletedTask;
    }

    /// <summary>Cookie event: refuses a session without an id, or one signed out (or unverifiable: Redis did not answer).</summary>
    public static async Task OnValidatePrincipal(CookieValidatePrincipalContext context)
    {
        var sessions = context.HttpContext.RequestServices.GetRequiredService<ConsoleSessions>();
        if (context.Principal?.FindFirst(SessionClaim)?.Value is not { Length: > 0 } sessionId || !await sessions.IsLiveAsync(sessionId))
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(AdminConsole.CookieScheme);
        }
    }

    /// <summary>Ends the signed-in session for good; its cookie is deleted by the caller's SignOutAsync. Throws when Redis did not
    /// take the record (the page says so: the cookie still goes, but a copy of it would not be refused).</summary>
    public async Task EndAsync(string sessionId, DateTimeOffset? expiresUtc)
    {
        var keep = (expiresUtc ?? time.GetUtcNow() + AdminConsole.SessionLifetime) - time.GetUtcNow();
        if (keep <= TimeSpan.Zero)
        {
            return;
        }

        var db = (await redis.GetAsync()).GetDatabase();
        await db.StringSetAsync(Key(sessionId), "1", keep + TimeSpan.FromMinutes(1));
    }

    private async Task<bool> IsLiveAsync(string sessionId)
    {
        try
        {
            var db = (await redis.GetAsync()).GetDatabase();
            return !await db.KeyExistsAsync(Key(sessionId));
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            log.LogWarning(e, "console session {SessionId} refused: Redis did not answer whether it was signed out", sessionId);
            return false;
        }
    }
}
