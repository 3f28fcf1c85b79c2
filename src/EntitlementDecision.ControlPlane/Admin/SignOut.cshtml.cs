using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary><c>POST /admin/sign-out</c>: drops the console cookie (the token itself stays valid until it expires).</summary>
internal sealed class SignOutModel : ConsolePage
{
    public IActionResult OnGet() => Redirect("/admin/tenants");

    public async Task<IActionResult> OnPostAsync()
    {
        await HttpContext.SignOutAsync(AdminConsole.CookieScheme);
        return Redirect("/admin/sign-in");
    }
}
