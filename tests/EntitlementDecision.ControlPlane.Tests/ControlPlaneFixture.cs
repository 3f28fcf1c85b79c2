using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Redis;
using EntitlementDecision.Stripe;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using StackExchange.Redis;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// Where the test services are: ED_POSTGRES / ED_REDIS (as exported by scripts/services.sh), else the defaults of
/// <c>services_start .run/dev 55432 56379</c>.
/// </summary>
public static class TestServices
{
    public static string Postgres =>
        Environment.GetEnvironmentVariable("ED_POSTGRES") is { Length: > 0 } pg ? pg : "Host=127.0.0.1;Port=55432;Database=entitlements;Username=entitlements;Password=entitlements-dev";

    public static string Redis => Environment.GetEnvironmentVariable("ED_REDIS") is { Length: > 0 } r ? r : "127.0.0.1:56379";

    public const string WebhookSecretOld = "whsec_test_previous_0123456789";
    public const string WebhookSecret = "whsec_test_current_0123456789";
    public const string SigningKey = "controlplane-tests-signing-key-0123456789abcdef";
    public const string ProPrice = "price_1PgafmB7WZ01zgkW6dKueIc5";

    /// <summary>A fresh database ed_test_&lt;random&gt; on the ED_POSTGRES server; returns its connection string.</summary>
    public static async Task<string> CreateDatabaseAsync()
    {
        var name = "ed_test_" + Guid.NewGuid().ToString("N")[..16];
        await using (var admin = new NpgsqlConnection(Postgres))
        {
            await admin.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", admin);
            await cmd.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(Postgres) { Database = name }.ConnectionString;
    }

    /// <summary>
    /// Drops a test database. FORCE cannot end PostgreSQL's own workers (an autovacuum worker on a fresh database answers
    /// 42501): a few tries, then the database is left to the throwaway cluster, since clean-up is not what a test checks.
    /// </summary>
    public static async Task DropDatabaseAsync(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        NpgsqlConnection.ClearAllPools();
        await using var admin = new NpgsqlConnection(Postgres);
        await admin.OpenAsync();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var cmd = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", admin);
                await cmd.ExecuteNonQueryAsync();
                return;
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InsufficientPrivilege or PostgresErrorCodes.ObjectInUse)
            {
                if (attempt == 5)
                {
                    return;
                }

                await Task.Delay(200 * attempt);
            }
        }
    }

    public static string NewTenantId(string prefix = "t") => $"{prefix}-{Guid.NewGuid():N}"[..Math.Min(40, prefix.Length + 33)];
}

/// <summary>The control plane host on a fresh database with the given environment overrides (null value = unset).</summary>
public sealed class ControlPlaneFactory(IReadOnlyDictionary<string, string?> settings, Action<IServiceCollection>? services = null) : WebApplicationFactory<Program>
{
    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value ?? "");
        }

        // The admin console calls the API over loopback; in-process there is no socket, so route it to the test server.
        builder.ConfigureServices(s => s.AddHttpClient<EntitlementDecision.ControlPlane.Admin.AdminApi>()
            .ConfigurePrimaryHttpMessageHandler(sp => ((Microsoft.AspNetCore.TestHost.TestServer)sp.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()).CreateHandler()));
        if (services is not null)
        {
            builder.ConfigureServices(services);
        }
    }

    public static Dictionary<string, string?> DefaultSettings(string postgres) => new()
    {
        ["STRIPE_WEBHOOK_SECRET"] = $"{TestServices.WebhookSecretOld},{TestServices.WebhookSecret}",
        ["STRIPE_API_KEY"] = "sk_test_not_used",
        ["ED_TOKEN_SIGNING_KEY"] = TestServices.SigningKey,
        ["ED_POSTGRES"] = postgres,
        ["ED_REDIS"] = TestServices.Redis,
        ["ED_CATALOG_PATH"] = Path.Combine(RepoPaths.Root, "catalog", "plans.json"),
        // The shipped mode (re-reads on) with no Stripe API behind it: events decidable from their payloads apply without a read; one
        // that needs a read fails fast (connection refused) and is retried. Classes that need Stripe start the fake (StripeWorld).
        ["STRIPE_API_BASE"] = "http://127.0.0.1:9/",
        ["ED_WEBHOOK_RETRY_BASE_MS"] = "1",
        ["ED_RECONCILE_INTERVAL_MINUTES"] = "0",
        // The ledger consumer shares the Redis usage stream with the control plane test.sh starts: a test host consuming it
        // would take and acknowledge entries the end-to-end tests wait for. Tests that need the ledger pump it themselves.
        ["ED_USAGE_LEDGER_CONSUMER"] = "off",
        // Healing rewrites counters of the shared Redis from this host's ledger; RedisHealingTests turns it on, on its own database.
        ["ED_REDIS_HEAL"] = "off",
    };
}

/// <summary>
/// One running control plane per test class (fresh database, shared Redis) plus helpers: tokens, tenants, signed webhooks,
/// Redis snapshot polling (with a deadline, no sleeps).
/// </summary>
public sealed class ControlPlaneFixture : IAsyncLifetime
{
    private string _database = "";
    private ConnectionMultiplexer? _redis;

    /// <summary>Used by xunit: the standard host, created in <see cref="InitializeAsync"/>.</summary>
    public ControlPlaneFixture()
    {
    }

    /// <summary>Wraps a host that a test class created itself (helpers only; the caller disposes the factory).</summary>
    internal ControlPlaneFixture(ControlPlaneFactory factory)
    {
        Factory = factory;
        Client = factory.CreateClient();
    }

    public ControlPlaneFactory Factory { get; private set; } = null!;

    public HttpClient Client { get; private set; } = null!;

    internal BearerTokens Tokens { get; } = new(TestServices.SigningKey, TimeProvider.System);

    public RedisSnapshotStore Snapshots { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        _database = await TestServices.CreateDatabaseAsync();
        Factory = new ControlPlaneFactory(ControlPlaneFactory.DefaultSettings(_database));
        Client = Factory.CreateClient();
        var config = ConfigurationOptions.Parse(TestServices.Redis);
        config.AbortOnConnectFail = false;
        _redis = await ConnectionMultiplexer.ConnectAsync(config);
        Snapshots = new RedisSnapshotStore(_redis);
    }

    /// <summary>For a fixture wrapping a host (internal constructor): connects <see cref="Snapshots"/> to the test Redis.</summary>
    internal async Task ConnectRedisAsync()
    {
        var config = ConfigurationOptions.Parse(TestServices.Redis);
        config.AbortOnConnectFail = false;
        _redis = await ConnectionMultiplexer.ConnectAsync(config);
        Snapshots = new RedisSnapshotStore(_redis);
    }

    /// <summary>For a fixture wrapping a host: disposes the client and Redis connection (the caller disposes the factory and database).</summary>
    internal ValueTask DisposeHelpersAsync()
    {
        Client?.Dispose();
        _redis?.Dispose();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (Factory is not null)
        {
            await Factory.DisposeAsync();
        }

        _redis?.Dispose();
        if (_database.Length > 0)
        {
            await TestServices.DropDatabaseAsync(_database);
        }
    }

    public string Token(string role, string? tenantId, string subject = "tester") => Tokens.Mint(subject, tenantId, role, TimeSpan.FromMinutes(10));

    public string OperatorToken() => Token(Roles.Operator, "platform", "ops");

    public HttpRequestMessage Request(HttpMethod method, string url, string? token, object? body = null)
    {
        var request = new HttpRequestMessage(method, url);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body.GetType());
        }

        return request;
    }

    public async Task<(HttpResponseMessage Response, JsonNode? Json)> SendAsync(HttpMethod method, string url, string? token, object? body = null)
    {
        var response = await Client.SendAsync(Request(method, url, token, body), TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    /// <summary>
    /// An approval-first operator action the shipped way (ED_APPROVAL_REQUIRED unset): operator <c>ops</c> asks (202 with the
    /// approval), operator <c>reviewer</c> approves; returns the executed action's answer (its status and body) as if answered
    /// directly. An answer other than 202 (e.g. a 400 before anything is filed) is returned as is.
    /// </summary>
    public async Task<(HttpResponseMessage Response, JsonNode? Json)> ApprovedAsync(HttpMethod method, string url, object? body = null)
    {
        var (asked, filed) = await SendAsync(method, url, OperatorToken(), body);
        if (asked.StatusCode != System.Net.HttpStatusCode.Accepted)
        {
            return (asked, filed);
        }

        var id = (string)filed!["approval"]!["id"]!;
        var (approved, decided) = await SendAsync(HttpMethod.Post, $"/approvals/{id}/approve", Token(Roles.Operator, "platform", "reviewer"));
        Assert.Equal(System.Net.HttpStatusCode.OK, approved.StatusCode);
        var status = (System.Net.HttpStatusCode)(int)decided!["approval"]!["result_status"]!;
        return (new HttpResponseMessage(status), decided["result"]);
    }

    /// <summary>Creates a tenant (operator) and returns its id; asserts 201.</summary>
    public async Task<string> CreateTenantAsync(string environment = "production")
    {
        var id = TestServices.NewTenantId();
        var (response, _) = await SendAsync(HttpMethod.Post, "/tenants", OperatorToken(), new Dictionary<string, string> { ["tenant_id"] = id, ["name"] = "Test " + id, ["environment"] = environment });
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        return id;
    }

    /// <summary>POSTs a webhook body signed with <paramref name="secret"/> at <paramref name="signedAt"/> (default now).</summary>
    public async Task<(HttpResponseMessage Response, JsonNode? Json)> PostWebhookAsync(byte[] body, string? secret = TestServices.WebhookSecret, DateTimeOffset? signedAt = null, string? header = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/billing/webhook") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        header ??= secret is null ? null : WebhookSignature.CreateHeader(body, secret, signedAt ?? DateTimeOffset.UtcNow);
        if (header is not null)
        {
            request.Headers.TryAddWithoutValidation("Stripe-Signature", header);
        }

        var response = await Client.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    /// <summary>A subscription event for the tenant with metadata tenant_id/environment, the catalog's pro price and a unique event id.</summary>
    public static StripeEventBuilder SubscriptionEvent(string type, string tenantId, string status, DateTimeOffset created, string subscriptionId = "sub_test_1", string environment = "production") =>
        StripeEventBuilder.Subscription(type)
            .WithEventId("evt_" + Guid.NewGuid().ToString("N"))
            .WithCreated(created)
            .WithObjectId(subscriptionId)
            .WithStatus(status)
            .WithMetadata("tenant_id", tenantId)
            .WithMetadata("environment", environment)
            .WithPriceIds(TestServices.ProPrice);

    /// <summary>Waits (polling, at most 15 s) until the stored event <paramref name="eventId"/> is no longer pending; returns it.</summary>
    internal async Task<StripeEventRecord> WaitProcessedAsync(string eventId)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        StripeEventRecord? row;
        do
        {
            row = await DbAsync(db => db.StripeEvents.AsNoTracking().FirstOrDefaultAsync(e => e.EventId == eventId));
            if (row is not null && row.Status != StripeEventRecord.Pending)
            {
                return row;
            }

            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Fail($"event {eventId} still {row?.Status ?? "absent"} after 15 s (attempts {row?.Attempts}, last error {row?.LastError})");
        return row!;
    }

    /// <summary>The processing outcome of the event a webhook answer names (<c>event_id</c>), once processed; "failed: error" when it failed.</summary>
    public async Task<string?> OutcomeAsync(JsonNode? ack)
    {
        var eventId = (string?)ack?["event_id"] ?? throw new InvalidOperationException("the answer names no event_id");
        var row = await WaitProcessedAsync(eventId);
        return row.Status == StripeEventRecord.Failed ? $"failed: {row.LastError}" : row.Outcome;
    }

    /// <summary>POSTs a signed webhook, asserts 200 and waits until the event is processed; returns its outcome.</summary>
    public async Task<string?> DeliverAsync(byte[] body)
    {
        var (response, json) = await PostWebhookAsync(body);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        return await OutcomeAsync(json);
    }

    /// <summary>Polls Redis until the snapshot satisfies <paramref name="predicate"/> or 5 s pass; returns the last one read.</summary>
    public async Task<Snapshot?> WaitForSnapshotAsync(string tenantId, Func<Snapshot, bool> predicate, string environment = "production")
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        Snapshot? snapshot;
        do
        {
            snapshot = await Snapshots.GetAsync(new TenantKey(environment, tenantId), TestContext.Current.CancellationToken);
            if (snapshot is not null && predicate(snapshot))
            {
                return snapshot;
            }

            await Task.Yield();
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
        while (DateTime.UtcNow < deadline);

        return snapshot;
    }

    /// <summary>Runs <paramref name="query"/> on a fresh DbContext of the host.</summary>
    internal async Task<T> DbAsync<T>(Func<EntitlementsDbContext, Task<T>> query)
    {
        await using var scope = Factory.Services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>());
    }

    public Task<int> StripeEventCountAsync() => DbAsync(db => db.StripeEvents.CountAsync());

    internal Task<Entitlement> EntitlementAsync(string tenantId, string environment = "production") =>
        DbAsync(db => db.Entitlements.AsNoTracking().SingleAsync(e => e.TenantId == tenantId && e.Environment == environment));

    public static JsonSerializerOptions Json { get; } = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
