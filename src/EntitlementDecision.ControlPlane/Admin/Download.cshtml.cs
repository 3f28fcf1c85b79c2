using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary>
/// <c>/admin/download?path=</c>: streams an API report to the browser (which holds the cookie, not the token), for an allow-list of
/// read-only report paths only: usage statements, packs, integrity and daily reports, reconciliation reports, the tenant dossier.
/// </summary>
internal sealed partial class DownloadModel : ConsolePage
{
    public async Task<IActionResult> OnGetAsync(string? path, CancellationToken ct)
    {
        if (path is null || !Allowed().IsMatch(path))
        {
            return BadRequest("Not a downloadable report path.");
        }

        using var response = await Api.SendRawAsync(HttpMethod.Get, path, null, ct);
        if (!response.IsSuccessStatusCode)
        {
            return StatusCode((int)response.StatusCode, await AdminApi.ProblemText(response, ct));
        }

        var bytes = await response.Content.ReadAsByteArrayAsync(ct);
        var type = response.Content.Headers.ContentType?.ToString() ?? "application/octet-stream";
        var name = response.Content.Headers.ContentDisposition?.FileNameStar ?? response.Content.Headers.ContentDisposition?.FileName?.Trim('"')
            ?? Path.GetFileName(path.Split('?')[0]) + (type.StartsWith("application/json", StringComparison.Ordinal) ? ".json" : "");
        return File(bytes, type, name);
    }

    [GeneratedRegex(@"^/(tenants/[a-z0-9][a-z0-9-]{1,62}/(usage/(statements/\d{4}-\d{2}(/pack)?|integrity|daily)|dossier)|billing/reconciliation/runs/\d+/report\.(csv|json))(\?[A-Za-z0-9_=&.%-]*)?$")]
    private static partial Regex Allowed();
}
