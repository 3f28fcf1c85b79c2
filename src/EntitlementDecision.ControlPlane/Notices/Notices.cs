using System.Diagnostics;
using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Json;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Notices;

/// <summary><c>PUT /billing/notices/endpoint</c> body: <c>{ "url": "https://..." }</c>.</summary>
internal sealed record NoticeEndpointRequest(string? Url);

/// <summary>The tenant's notice endpoint: <c>{ url, secret (only in the answer that creates it), updated_at }</c>.</summary>
internal sealed record NoticeEndpointDto(string Url, string? Secret, DateTimeOffset UpdatedAt);

/// <summary>
/// A notice: <c>{ id, environment, kind, template_version, subject, body, created_at, status (pending|delivered|failed|no_endpoint),
/// attempts, delivered_at, last_error, deliveries: [{ attempt, at, url, status_code, error, duration_ms }] }</c>.
/// </summary>
internal sealed record NoticeDto(
    long Id, string? Environment, string Kind, string TemplateVersion, string Subject, string Body, DateTimeOffset CreatedAt, string Status,
    int Attempts, DateTimeOffset? DeliveredAt, string? LastError, IReadOnlyList<NoticeDeliveryDto> Deliveries);

internal sealed record NoticeDeliveryDto(int Attempt, DateTimeOffset At, string Url, int? StatusCode, string? Error, long DurationMs);

/// <summary>
/// Notices to tenants ("email + webhook notifications" of the runbook; raised by <see cref="Audit.NoticeRules"/>). A tenant's owner
/// sets where they go (<c>PUT /billing/notices/endpoint</c>, answered once with the signing secret); each is POSTed there as JSON
/// <c>{ id, type: "notice.&lt;kind&gt;", tenant_id, environment, created_at, template_version, subject, body, data }</c> with header
/// <c>ED-Signature: t=&lt;unix s&gt;,v1=&lt;hex HMAC-SHA256(secret, t + "." + body)&gt;</c> (Stripe's scheme, our header). The owner and
/// admins read them at <c>GET /billing/notices</c>, operators at <c>GET /tenants/{id}/notices</c>, with the delivery log.
/// </summary>
internal static class NoticeEndpoints
{
    public static void MapNotices(this IEndpointRouteBuilder app)
    {
        app.MapPut("/billing/notices/endpoint", PutEndpoint).RequireAuthorization(Policies.TenantMember);
        app.MapGet("/billing/notices/endpoint", GetEndpoint).RequireAuthorization(Policies.TenantMember);
        app.MapDelete("/billing/notices/endpoint", DeleteEndpoint).RequireAuthorization(Policies.TenantMember);
        app.MapGet("/billing/notices", Own).RequireAuthorization(Policies.TenantMember);
        app.MapGet("/tenants/{tenantId}/notices", (string tenantId, EntitlementsDbContext db, CancellationToken ct) => ListAsync(db, tenantId, ct))
            .RequireAuthorization(Policies.Staff);
    }

    /// <summary>Owner only: sets the URL (absolute https; http only on loopback) and issues a new signing secret, returned once. Audited.</summary>
    public static async Task<Results<Ok<NoticeEndpointDto>, ProblemHttpResult>> PutEndpoint(
        NoticeEndpointRequest? request, ClaimsPrincipal user, EntitlementsDbContext db, TimeProvider time, CancellationToken ct)
    {
        if (user.FindFirst("role")?.Value != Roles.Owner)
        {
            return Forbidden("Only the tenant's owner sets where notices go.");
        }

        if (!Uri.TryCreate(request?.Url, UriKind.Absolute, out var url) || !(url.Scheme == "https" || (url.Scheme == "http" && url.IsLoopback)) || request!.Url!.Length > 2048)
        {
            return TypedResults.Problem(statusCode: 400, title: "Invalid notice endpoint", detail: "url must be an absolute https URL (http only on loopback), at most 2048 characters.");
        }

        var tenantId = user.TenantId()!;
        var now = time.GetUtcNow();
        var secret = "nsec_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var row = await db.NoticeEndpoints.FirstOrDefaultAsync(e => e.TenantId == tenantId, ct);
        var before = row is null ? null : new { row.Url };
        if (row is null)
        {
            row = new NoticeEndpoint { TenantId = tenantId, Url = url.ToString(), Secret = secret };
            db.NoticeEndpoints.Add(row);
        }

        row.Url = url.ToString();
        row.Secret = secret;
        row.UpdatedAt = now;
        Audit.AuditLog.Add(db, tenantId, null, now, user.Actor(), "notices.endpoint_set", before, new { row.Url }, "request");
        await db.SaveChangesAsync(ct);
        return TypedResults.Ok(new NoticeEndpointDto(row.Url, secret, now));
    }

    public static async Task<Results<Ok<NoticeEndpointDto>, ProblemHttpResult>> GetEndpoint(ClaimsPrincipal user, EntitlementsDbContext db, CancellationToken ct) =>
        await db.NoticeEndpoints.AsNoTracking().FirstOrDefaultAsync(e => e.TenantId == user.TenantId(), ct) is { } row
            ? TypedResults.Ok(new NoticeEndpointDto(row.Url, null, row.UpdatedAt))
            : TypedResults.Problem(statusCode: 404, title: "No notice endpoint", detail: "Notices are kept (GET /billing/notices) but not sent: PUT /billing/notices/endpoint sets where.");

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteEndpoint(ClaimsPrincipal user, EntitlementsDbContext db, TimeProvider time, CancellationToken ct)
    {
        if (user.FindFirst("role")?.Value != Roles.Owner)
        {
            return Forbidden("Only the tenant's owner sets where notices go.");
        }

        var tenantId = user.TenantId()!;
        if (await db.NoticeEndpoints.FirstOrDefaultAsync(e => e.TenantId == tenantId, ct) is { } row)
        {
            db.NoticeEndpoints.Remove(row);
            Audit.AuditLog.Add(db, tenantId, null, time.GetUtcNow(), user.Actor(), "notices.endpoint_removed", new { row.Url }, null, "request");
            await db.SaveChangesAsync(ct);
        }

        return TypedResults.NoContent();
    }

    /// <summary>Owner and admins: the tenant's notices, newest first (at most 100), with their delivery log.</summary>
    public static async Task<Results<Ok<List<NoticeDto>>, ProblemHttpResult>> Own(ClaimsPrincipal user, EntitlementsDbContext db, CancellationToken ct) =>
        user.FindFirst("role")?.Value is Roles.Owner or Roles.Admin
            ? await ListAsync(db, user.TenantId()!, ct)
            : Forbidden("Notices are for the tenant's owner and admins.");

    private static async Task<Results<Ok<List<NoticeDto>>, ProblemHttpResult>> ListAsync(EntitlementsDbContext db, string tenantId, CancellationToken ct)
    {
        var notices = await db.Notices.AsNoTracking().Where(n => n.TenantId == tenantId).OrderByDescending(n => n.Id).Take(100).ToListAsync(ct);
        var ids = notices.Select(n => n.Id).ToList();
        var deliveries = (await db.NoticeDeliveries.AsNoTracking().Where(d => ids.Contains(d.NoticeId)).OrderBy(d => d.Id).ToListAsync(ct)).ToLookup(d => d.NoticeId);
        return TypedResults.Ok(notices.Select(n => new NoticeDto(
            n.Id, n.Environment, n.Kind, n.TemplateVersion, n.Subject, n.Body, n.CreatedAt, n.Status, n.Attempts, n.DeliveredAt, n.LastError,
            deliveries[n.Id].Select(d => new NoticeDeliveryDto(d.Attempt, d.At, d.Url, d.StatusCode, d.Error, d.DurationMs)).ToList())).ToList());
    }

    private static ProblemHttpResult Forbidden(string detail) => TypedResults.Problem(statusCode: 403, title: "Forbidden", detail: detail);
}

/// <summary>
/// Delivers pending notices (hosted; every <see cref="PollInterval"/>): up to 20 due at a time, FOR UPDATE SKIP LOCKED, each POSTed
/// signed to the tenant's endpoint (10 s timeout). 2xx: delivered. Otherwise retried with backoff 2^attempt s (at most 1 h); failed
/// after <see cref="MaxAttempts"/>. No endpoint: kept as no_endpoint. Every attempt is logged in <c>notice_deliveries</c>.
/// </summary>
internal sealed partial class NoticeDispatcher(IServiceScopeFactory scopes, IHttpClientFactory http, TimeProvider time, ILogger<NoticeDispatcher> logger)
    : Background.BackgroundLoop(logger)
{
    public const int MaxAttempts = 8;
    public const string HttpClientName = "notices";
    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    protected override TimeProvider Time => time;

    protected override TimeSpan? InitialDelay => TimeSpan.FromSeconds(1);

    protected override async Task<TimeSpan?> PassAsync(CancellationToken ct) => await DeliverDueAsync(ct) == 0 ? PollInterval : TimeSpan.Zero;

    /// <summary>One batch of due notices; returns how many were attempted.</summary>
    internal async Task<int> DeliverDueAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var now = time.GetUtcNow();
        var due = await db.Notices.FromSql($"SELECT * FROM notices WHERE status = 'pending' AND next_attempt_at <= {now} ORDER BY id LIMIT 20 FOR UPDATE SKIP LOCKED").ToListAsync(ct);
        var tenants = due.Select(n => n.TenantId).Distinct().ToList();
        var endpoints = await db.NoticeEndpoints.AsNoTracking().Where(e => tenants.Contains(e.TenantId)).ToDictionaryAsync(e => e.TenantId, ct);
        foreach (var notice in due)
        {
            if (!endpoints.TryGetValue(notice.TenantId, out var endpoint))
            {
                notice.Status = Notice.NoEndpoint;
                continue;
            }

            await AttemptAsync(db, notice, endpoint, ct);
        }

        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return due.Count;
    }

    private async Task AttemptAsync(EntitlementsDbContext db, Notice notice, NoticeEndpoint endpoint, CancellationToken ct)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
        {
            ["id"] = "ntc_" + notice.Id.ToString(CultureInfo.InvariantCulture),
            ["type"] = "notice." + notice.Kind,
            ["tenant_id"] = notice.TenantId,
            ["environment"] = notice.Environment,
            ["created_at"] = notice.CreatedAt,
            ["template_version"] = notice.TemplateVersion,
            ["subject"] = notice.Subject,
            ["body"] = notice.Body,
            ["data"] = JsonDocument.Parse(notice.Data).RootElement,
        });
        var started = Stopwatch.GetTimestamp();
        notice.Attempts++;
        int? status = null;
        string? error = null;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, endpoint.Url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new("application/json");
            // Stripe's scheme, so tenants verify it with the code they already use for Stripe's webhooks.
            request.Headers.Add("ED-Signature", global::EntitlementDecision.Stripe.WebhookSignature.CreateHeader(body, endpoint.Secret, time.GetUtcNow()));
            using var response = await http.CreateClient(HttpClientName).SendAsync(request, ct);
            status = (int)response.StatusCode;
            error = response.IsSuccessStatusCode ? null : $"HTTP {status}";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            error = e.GetType().Name + ": " + e.Message;
        }

        var now = time.GetUtcNow();
        db.NoticeDeliveries.Add(new NoticeDelivery
        {
            NoticeId = notice.Id, Attempt = notice.Attempts, At = now, Url = endpoint.Url, StatusCode = status, Error = error,
            DurationMs = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds,
        });
        if (error is null)
        {
            notice.Status = Notice.Delivered;
            notice.DeliveredAt = now;
            notice.LastError = null;
            return;
        }

        notice.LastError = error;
        notice.Status = notice.Attempts >= MaxAttempts ? Notice.Failed : Notice.Pending;
        notice.NextAttemptAt = now + TimeSpan.FromSeconds(Math.Min(3600, Math.Pow(2, notice.Attempts)));
        LogFailed(logger, notice.Id, notice.TenantId, notice.Attempts, error);
    }

    [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "Notice {NoticeId} to tenant {TenantId}: attempt {Attempt} failed ({Error})")]
    private static partial void LogFailed(ILogger logger, long noticeId, string tenantId, int attempt, string error);
}
