using System.Globalization;
using EntitlementDecision.ControlPlane.Auth;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary>Base of every console page: the API client, who is signed in, and the error or flash line the layout shows.</summary>
internal abstract class ConsolePage : PageModel
{
    private AdminApi? _api;

    internal AdminApi Api => _api ??= HttpContext.RequestServices.GetRequiredService<AdminApi>();

    /// <summary>True for the operator role: only then are actions rendered (support sees, cannot act; the API refuses it too).</summary>
    public bool CanAct => User.FindFirst("role")?.Value == Roles.Operator;

    /// <summary>The signed-in member as the audit trail names them, e.g. "operator:alice".</summary>
    public string Me => User.Actor();

    /// <summary>What went wrong, in words (an API ProblemDetails' title and detail).</summary>
    public string? Error { get; set; }

    /// <summary>The outcome of the last action (kept across its redirect).</summary>
    [TempData]
    public string? Flash { get; set; }

    /// <summary>Keeps the first error of a page's several API calls.</summary>
    internal T? Take<T>(ApiResult<T> result)
    {
        if (!result.Ok)
        {
            Error ??= result.Error;
        }

        return result.Value;
    }

    public static string When(DateTimeOffset? at) => at?.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) ?? "–";

    public static string Money(long minor, string currency) => (minor / 100m).ToString("0.00", CultureInfo.InvariantCulture) + " " + currency.ToUpperInvariant();

    public static string Esc(string value) => Uri.EscapeDataString(value);
}
