using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using EntitlementDecision.ControlPlane.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// Notices to a tenant, delivered by the running host's dispatcher to a real HTTP endpoint (a Kestrel server in this test): signed
/// like Stripe's webhooks, retried after a failure, logged per attempt, and readable by the tenant's owner.
/// </summary>
public sealed class NoticeTests(ControlPlaneFixture fx) : IClassFixture<ControlPlaneFixture>, IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly ConcurrentQueue<(string Signature, byte[] Body)> _received = new();
    private int _requests;
    private WebApplication _receiver = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _receiver = builder.Build();
        _receiver.MapPost("/notices", async (HttpContext http) =>
        {
            using var copy = new MemoryStream();
            await http.Request.Body.CopyToAsync(copy);
            // The first delivery fails, so the retry path is exercised.
            if (Interlocked.Increment(ref _requests) == 1)
            {
                return Results.StatusCode(500);
            }

            _received.Enqueue((http.Request.Headers["ED-Signature"].ToString(), copy.ToArray()));
            return Results.Ok();
        });
        await _receiver.StartAsync(Ct);
    }

    public async ValueTask DisposeAsync() => await _receiver.DisposeAsync();

    private string ReceiverUrl => _receiver.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/notices";

    [Fact]
    public async Task Suspension_NotifiesTheTenant_SignedRetriedLogged_AndTheOwnerReadsIt()
    {
        var tenant = await fx.CreateTenantAsync();
        var owner = fx.Token(Roles.Owner, tenant);
        Assert.Equal(HttpStatusCode.Forbidden, (await fx.SendAsync(HttpMethod.Put, "/billing/notices/endpoint", fx.Token(Roles.Admin, tenant), new { url = ReceiverUrl })).Response.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await fx.SendAsync(HttpMethod.Put, "/billing/notices/endpoint", owner, new { url = "http://example.com/x" })).Response.StatusCode);
        var (set, endpoint) = await fx.SendAsync(HttpMethod.Put, "/billing/notices/endpoint", owner, new { url = ReceiverUrl });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        var secret = (string)endpoint!["secret"]!;
        Assert.StartsWith("nsec_", secret, StringComparison.Ordinal);
        Assert.Null((string?)(await fx.SendAsync(HttpMethod.Get, "/billing/notices/endpoint", owner)).Json!["secret"]); // shown once

        await fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/suspend", fx.OperatorToken());
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (_received.IsEmpty)
        {
            Assert.True(DateTime.UtcNow < deadline, "the notice was not delivered within 15 s");
            await Task.Delay(50, Ct);
        }

        var (signature, body) = _received.Single();
        var notice = JsonNode.Parse(body)!;
        Assert.Equal(("notice.suspended", tenant), ((string)notice["type"]!, (string)notice["tenant_id"]!));
        Assert.Equal("Your account is suspended", (string)notice["subject"]!);
        var t = signature.Split(',')[0]["t=".Length..];
        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(t + ".").Concat(body).ToArray()));
        Assert.Equal($"t={t},v1={expected}", signature);

        // The owner's own view, with the delivery log: one failed attempt (500), then delivered.
        await fx.SendAsync(HttpMethod.Post, $"/tenants/{tenant}/resume", fx.OperatorToken());
        var (_, notices) = await fx.SendAsync(HttpMethod.Get, $"/tenants/{tenant}/notices", fx.OperatorToken());
        var suspended = notices!.AsArray().Single(n => (string)n!["kind"]! == "suspended")!;
        Assert.Equal(("delivered", 2), ((string)suspended["status"]!, (int)suspended["attempts"]!));
        Assert.Equal([500, 200], suspended["deliveries"]!.AsArray().Select(d => (int)d!["status_code"]!));
        Assert.Contains(notices.AsArray(), n => (string)n!["kind"]! == "reactivated");
        var (own, ownJson) = await fx.SendAsync(HttpMethod.Get, "/billing/notices", owner);
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        Assert.Contains(ownJson!.AsArray(), n => (string)n!["kind"]! == "suspended");
        Assert.Equal(HttpStatusCode.Forbidden, (await fx.SendAsync(HttpMethod.Get, "/billing/notices", fx.Token(Roles.Member, tenant))).Response.StatusCode);
    }

    [Fact]
    public async Task PlanChange_WithoutAnEndpoint_IsKeptAsNoEndpoint()
    {
        var tenant = await fx.CreateTenantAsync();
        await fx.ApprovedAsync(HttpMethod.Put, $"/tenants/{tenant}/entitlements/production/override", new { plan_id = "business" });

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        JsonNode? changed;
        do
        {
            Assert.True(DateTime.UtcNow < deadline, "the notice was not processed within 15 s");
            await Task.Delay(50, Ct);
            var (_, notices) = await fx.SendAsync(HttpMethod.Get, "/billing/notices", fx.Token(Roles.Owner, tenant));
            changed = notices!.AsArray().SingleOrDefault(n => (string)n!["kind"]! == "plan_changed");
        }
        while (changed is null || (string)changed["status"]! == "pending");

        Assert.Equal(("no_endpoint", "Your plan changed to business"), ((string)changed["status"]!, (string)changed["subject"]!));
        Assert.Contains("from free to business", (string)changed["body"]!, StringComparison.Ordinal);
    }
}
