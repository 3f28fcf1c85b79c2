using System.Text.Json;
using Microsoft.AspNetCore.Mvc;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary>
/// <c>/admin/tenants/{id}/confirm?do=suspend|resume|delete|comp|override</c>: states what the action will do, then on POST calls
/// the API (the same audited endpoint curl would) and returns to the 360 saying what happened: done, pending approval, or why not.
/// </summary>
internal sealed class ConfirmModel : ConsolePage
{
    [FromRoute] public string TenantId { get; set; } = "";
    [BindProperty(SupportsGet = true, Name = "do")] public string? ActionName { get; set; }
    [BindProperty(SupportsGet = true, Name = "environment")] public string? Environment { get; set; }
    [BindProperty(SupportsGet = true, Name = "plan")] public string? Plan { get; set; }
    [BindProperty(SupportsGet = true, Name = "comped")] public bool? Comped { get; set; }

    public string Title => ActionName switch
    {
        "suspend" => $"Suspend {TenantId}",
        "resume" => $"Reactivate {TenantId}",
        "delete" => $"Delete {TenantId}",
        "comp" => Comped == false ? $"End the comp of {TenantId} in {Environment}" : $"Comp plan {Plan} for {TenantId} in {Environment}",
        "override" => string.IsNullOrEmpty(Plan) ? $"Clear the plan override of {TenantId} in {Environment}" : $"Override {TenantId}'s plan with {Plan} in {Environment}",
        _ => "Unknown action",
    };

    /// <summary>What the action does, in the words an operator needs before confirming.</summary>
    public string Effect => !CanAct ? "" : ActionName switch
    {
        "suspend" => "Blocks the tenant everywhere at once: every sidecar check answers TENANT_SUSPENDED, the tenant's own tokens get 403 at the control plane and usage is refused. Nothing is deleted; reactivating restores exactly the prior state. Stripe billing is not changed.",
        "resume" => "Restores the tenant's access as it was before the suspension: checks answer by its plan again and its tokens work.",
        "delete" => "Refused while a Stripe subscription is live (cancel it first). Otherwise the tenant is tombstoned: denied everywhere, data kept until the retention period ends, then the purge removes its personal data (irreversible). By policy this needs a second operator's approval.",
        "comp" => Comped == false
            ? "Ends the comp: the tenant's plan falls back to its paid subscription or the baseline plan at once. May need a second operator's approval."
            : "Grants the plan free of charge, whatever Stripe bills, until the comp is ended. May need a second operator's approval.",
        "override" => string.IsNullOrEmpty(Plan)
            ? "Removes the override: the plan is resolved from the comp, subscription or baseline again. May need a second operator's approval."
            : "Forces this plan over every other source (subscription, comp, baseline) until cleared. May need a second operator's approval.",
        _ => "",
    };

    public IActionResult OnGet()
    {
        if (!CanAct)
        {
            Response.StatusCode = StatusCodes.Status403Forbidden;
            Error = "Your role can see tenants but not act on them.";
            return Page();
        }

        if (Effect.Length == 0)
        {
            Error = $"Unknown action '{ActionName}'.";
        }

        return Page();
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken ct)
    {
        var path = $"/tenants/{Esc(TenantId)}";
        var environment = Esc(string.IsNullOrEmpty(Environment) ? "production" : Environment);
        var call = ActionName switch
        {
            "suspend" => (HttpMethod.Post, path + "/suspend", (object?)null),
            "resume" => (HttpMethod.Post, path + "/resume", null),
            "delete" => (HttpMethod.Delete, path, null),
            "comp" => (HttpMethod.Put, $"{path}/entitlements/{environment}/comp", new { plan_id = string.IsNullOrEmpty(Plan) ? null : Plan, comped = Comped ?? true }),
            "override" => (HttpMethod.Put, $"{path}/entitlements/{environment}/override", new { plan_id = string.IsNullOrEmpty(Plan) ? null : Plan }),
            _ => default,
        };
        if (call.Item2 is null)
        {
            Error = $"Unknown action '{ActionName}'.";
            return Page();
        }

        // Support never reaches here with a button, but a crafted POST is refused by the API itself (403), shown as the error.
        var result = await Api.SendAsync(call.Item1, call.Item2, call.Item3, ct);
        if (!result.Ok)
        {
            Error = result.Error;
            return Page();
        }

        Flash = result.Status == 202 && result.Value.TryGetProperty("approval", out var approval)
            ? $"{Title}: pending approval {approval.GetProperty("id").GetString()}. It takes effect when another operator approves it."
            : $"{Title}: done." + Warnings(result.Value);
        return Redirect($"/admin/tenants/{Esc(TenantId)}");
    }

    private static string Warnings(JsonElement body) =>
        body.ValueKind == JsonValueKind.Object && body.TryGetProperty("irreversible", out var list) && list.ValueKind == JsonValueKind.Array && list.GetArrayLength() > 0
            ? " Irreversible: " + string.Join(" ", list.EnumerateArray().Select(x => x.GetString())) : "";
}
