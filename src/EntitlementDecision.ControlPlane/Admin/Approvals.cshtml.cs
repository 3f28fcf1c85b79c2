using EntitlementDecision.ControlPlane.Approvals;
using Microsoft.AspNetCore.Mvc;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary><c>/admin/approvals</c>: the queue (<c>GET /approvals?status=</c>) with approve and reject for operators other than the
/// requester (the API refuses one's own request too).</summary>
internal sealed class ApprovalsModel : ConsolePage
{
    [FromQuery(Name = "status")] public string Status { get; set; } = "pending";

    public List<ApprovalDto> Approvals { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken ct) =>
        Approvals = Take(await Api.GetAsync<List<ApprovalDto>>($"/approvals?status={Esc(Status)}", ct)) ?? [];

    public Task<IActionResult> OnPostApproveAsync(string id, CancellationToken ct) => DecideAsync(id, "approve", ct);

    public Task<IActionResult> OnPostRejectAsync(string id, CancellationToken ct) => DecideAsync(id, "reject", ct);

    private async Task<IActionResult> DecideAsync(string id, string decision, CancellationToken ct)
    {
        var result = await Api.SendAsync(HttpMethod.Post, $"/approvals/{Esc(id)}/{decision}", null, ct);
        if (!result.Ok)
        {
            Error = result.Error;
            await OnGetAsync(ct);
            return Page();
        }

        var outcome = result.Value.TryGetProperty("approval", out var a) && a.TryGetProperty("result_status", out var s) && s.ValueKind == System.Text.Json.JsonValueKind.Number
            ? $" The action answered HTTP {s.GetInt32()}." : "";
        Flash = $"Approval {id} {(decision == "approve" ? "approved and executed" : "rejected")}.{outcome}";
        return Redirect("/admin/approvals");
    }

    /// <summary>True when the signed-in operator may decide <paramref name="approval"/>: pending, and not their own request.</summary>
    public bool MayDecide(ApprovalDto approval) => CanAct && approval.Status == "pending" && approval.RequestedBy != Me;
}
