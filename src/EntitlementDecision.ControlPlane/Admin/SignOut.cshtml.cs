using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using StackExchange.Redis;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary><c>POST /admin/sign-out</c> (antiforgery-checked): records the session as ended (<see cref="ConsoleSessions"/>, so a
/// copy of the cookie is refused) and drops the console cookie. The token itself stays valid for the API until it expires.</summary>
internal sealed class SignOutModel(ConsoleSessions sessions, ILogger<SignOutModel> log) : ConsolePage
{
    public IActionResult OnGet() => Redirect("/admin/tenants");

    public async Task<IActionResult> OnPostAsync()
    {
        if (User.FindFirst(ConsoleSessions.SessionClaim)?.Value is { Length: > 0 } sessionId)
        {
            var current = await HttpContext.AuthenticateAsync(AdminConsole.CookieScheme);
            try
            {
                await sessions.EndAsync(sessionId, current.Properties?.ExpiresUtc);
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // The cookie still goes; only a copy taken before now would outlive this sign-out.
                log.LogError(e, "console sign-out of {Actor} not recorded: Redis did not answer", Me);
            }
        }

        await HttpContext.SignOutAsync(AdminConsole.CookieScheme);
        return Redirect("/admin/sign-in");
    }
}
