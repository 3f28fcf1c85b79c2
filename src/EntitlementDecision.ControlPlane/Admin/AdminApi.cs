using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;

namespace EntitlementDecision.ControlPlane.Admin;

/// <summary>What the API answered: <see cref="Value"/> on 2xx, else <see cref="Error"/> in words (a ProblemDetails' title, detail
/// and field errors, or the bare status when the body is none).</summary>
internal sealed record ApiResult<T>(int Status, T? Value, string? Error)
{
    public bool Ok => Error is null;
}

/// <summary>
/// The console's only way to read or change anything: the control plane's own HTTP API over loopback, with the signed-in operator's
/// bearer token (kept in the console's encrypted HttpOnly cookie). So every console action runs the same authorization, approval
/// policy and audit as a curl call would, and a support user is refused by the API itself, not only by a hidden button.
/// </summary>
internal sealed class AdminApi(HttpClient http, IHttpContextAccessor context, Microsoft.Extensions.Options.IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json)
{
    private JsonSerializerOptions Json => json.Value.SerializerOptions;

    public async Task<ApiResult<T>> GetAsync<T>(string path, CancellationToken ct = default)
    {
        using var response = await SendRawAsync(HttpMethod.Get, path, null, ct);
        return await ReadAsync<T>(response, ct);
    }

    /// <summary>POST/PUT/DELETE with an optional JSON body; the answer as JSON (202 pending approvals included).</summary>
    public async Task<ApiResult<JsonElement>> SendAsync(HttpMethod method, string path, object? body = null, CancellationToken ct = default)
    {
        using var response = await SendRawAsync(method, path, body, ct);
        return await ReadAsync<JsonElement>(response, ct);
    }

    /// <summary>The raw answer (downloads); the caller disposes it.</summary>
    public async Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string path, object? body, CancellationToken ct = default)
    {
        var request = new HttpRequestMessage(method, path);
        if (await TokenAsync() is { } token)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType(), options: Json);
        }

        try
        {
            return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
        }
        catch (HttpRequestException e)
        {
            // The API is this process: unreachable means it is starting or stopping; say so instead of a 500 page.
            return new HttpResponseMessage(System.Net.HttpStatusCode.ServiceUnavailable)
            {
                Content = JsonContent.Create(new { title = "Control plane API unreachable", detail = e.Message }),
            };
        }
    }

    /// <summary>Asks the API who <paramref name="token"/> belongs to (sign-in), without a cookie yet.</summary>
    public async Task<ApiResult<Auth.WhoAmIDto>> WhoAmIAsync(string token, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/auth/whoami");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request, ct);
        return await ReadAsync<Auth.WhoAmIDto>(response, ct);
    }

    private async Task<string?> TokenAsync() =>
        context.HttpContext is { } http ? await http.GetTokenAsync(AdminConsole.CookieScheme, "access_token") : null;

    private async Task<ApiResult<T>> ReadAsync<T>(HttpResponseMessage response, CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        if (response.IsSuccessStatusCode)
        {
            return new ApiResult<T>(status, await response.Content.ReadFromJsonAsync<T>(Json, ct), null);
        }

        return new ApiResult<T>(status, default, await ProblemText(response, ct));
    }

    /// <summary>A ProblemDetails in words: "title: detail (field: message; ...)", or "HTTP 403" when the body is not one.</summary>
    public static async Task<string> ProblemText(HttpResponseMessage response, CancellationToken ct)
    {
        var text = $"HTTP {(int)response.StatusCode}";
        try
        {
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return text;
            }

            var title = root.TryGetProperty("title", out var t) ? t.GetString() : null;
            var detail = root.TryGetProperty("detail", out var d) ? d.GetString() : null;
            text = string.Join(": ", new[] { title, detail }.Where(s => !string.IsNullOrEmpty(s)).DefaultIfEmpty(text));
            if (root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object)
            {
                text += " (" + string.Join("; ", errors.EnumerateObject().Select(e => $"{e.Name}: {string.Join(" ", e.Value.EnumerateArray().Select(m => m.GetString()))}")) + ")";
            }
        }
        catch (JsonException)
        {
        }

        return $"{text} [HTTP {(int)response.StatusCode}]";
    }
}
