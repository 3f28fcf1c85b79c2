using EntitlementDecision.ControlPlane.Audit;
using EntitlementDecision.ControlPlane.Data;
using Microsoft.AspNetCore.Mvc;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary>
/// <c>/admin/sign-in</c>: paste a staff token once; the API confirms it (<c>GET /auth/whoami</c>) and the console keeps it in its cookie.
/// Each sign-in is audited (<c>console.signed_in</c>, tenant <c>_system</c>, actor role:subject). <c>POST /admin/sign-out</c> ends it.
/// </summary>
internal sealed class SignInModel(EntitlementsDbContext db, TimeProvider time) : ConsolePage
{
    public string ReturnUrl { get; private set; } = "/admin/tenants";

    public bool Denied { get; private set; }

    public bool HasOidc => AdminConsole.HasOidc(HttpContext.RequestServices);

    public void OnGet(string? returnUrl)
    {
        ReturnUrl = AdminConsole.SafeReturn(returnUrl);
        Denied = User.Identity?.IsAuthenticated == true; // sent back here by AccessDeniedPath
    }

    public async Task<IActionResult> OnPostAsync(string? token, string? returnUrl, CancellationToken ct)
    {
        ReturnUrl = AdminConsole.SafeReturn(returnUrl);
        token = token?.Trim();
        if (string.IsNullOrEmpty(token))
        {
            Error = "Paste a bearer token.";
            return Page();
        }

        var (who, failure) = await AdminConsole.SignInWithTokenAsync(HttpContext, Api, token, ct);
        if (who is null)
        {
            Error = failure;
            return Page();
        }

        AuditLog.Add(db, AuditLog.SystemTenant, null, time.GetUtcNow(), $"{who.Role}:{who.Subject}", "console.signed_in", null, new { who.Role, who.ExpiresAt }, "admin console");
        await db.SaveChangesAsync(ct);
        return LocalRedirect(ReturnUrl);
    }
}
