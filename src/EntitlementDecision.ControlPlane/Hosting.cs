using System.Text.Json;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Billing;
using EntitlementDecision.ControlPlane.Catalog;
using EntitlementDecision.ControlPlane.Configuration;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Metering;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.ControlPlane.Tenants;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Stripe;
using EntitlementDecision.Stripe.Api;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace EntitlementDecision.ControlPlane
{
    /// <summary>Service registration of the control plane.</summary>
    public static class ControlPlaneServices
    {
        public static IServiceCollection AddControlPlane(this IServiceCollection services, IConfiguration configuration, string contentRoot)
        {
            services.AddOptions<ControlPlaneOptions>()
                .Configure(o => ControlPlaneOptions.Bind(o, configuration, contentRoot))
                .ValidateOnStart();
            services.AddSingleton<IValidateOptions<ControlPlaneOptions>, ControlPlaneOptionsValidator>();

            services.TryAddSingletonTimeProvider();
            services.AddSingleton(sp => PlanCatalogLoader.LoadFile(sp.GetRequiredService<IOptions<ControlPlaneOptions>>().Value.CatalogPath!));
            services.AddSingleton(sp => new WebhookSignatureVerifier(
                sp.GetRequiredService<IOptions<ControlPlaneOptions>>().Value.WebhookSecrets,
                WebhookSignatureVerifier.DefaultTolerance,
                sp.GetRequiredService<TimeProvider>()));
            services.AddDbContext<EntitlementsDbContext>((sp, o) => o.UseNpgsql(sp.GetRequiredService<IOptions<ControlPlaneOptions>>().Value.Postgres));
            services.AddSingleton<RedisConnection>();
            services.AddSingleton<OutboxSignal>();
            services.AddBilling(configuration);
            services.AddHttpClient<IStripeBilling, StripeNetBilling>((http, sp) =>
            {
                var options = sp.GetRequiredService<IOptions<ControlPlaneOptions>>().Value;
                return new StripeNetBilling(http, new StripeApiOptions { ApiKey = options.StripeApiKey!, BaseAddress = new Uri(options.StripeApiBase) });
            });
            services.AddHostedService<DatabaseMigrator>();
            services.AddHostedService<OutboxPublisher>();
            services.AddMetering();

            services.AddProblemDetails();
            services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
            services.AddBearerAuthentication();
            return services;
        }

        private static void TryAddSingletonTimeProvider(this IServiceCollection services)
        {
            if (!services.Any(d => d.ServiceType == typeof(TimeProvider)))
            {
                services.AddSingleton(TimeProvider.System);
            }
        }
    }

    /// <summary><c>GET /healthz</c>: 200 <c>{ "status": "healthy" }</c> when PostgreSQL and Redis answer, else 503 ProblemDetails naming the failing one.</summary>
    public static class Health
    {
        public sealed record HealthDto(string Status);

        public static async Task<Results<Ok<HealthDto>, ProblemHttpResult>> CheckAsync(EntitlementsDbContext db, RedisConnection redis, CancellationToken ct)
        {
            var failing = new List<string>();
            try
            {
                if (!await db.Database.CanConnectAsync(ct))
                {
                    failing.Add("postgresql");
                }
            }
            catch (Exception)
            {
                failing.Add("postgresql");
            }

            try
            {
                var connection = await redis.GetAsync().WaitAsync(TimeSpan.FromSeconds(2), ct);
                await connection.GetDatabase().PingAsync().WaitAsync(TimeSpan.FromSeconds(2), ct);
            }
            catch (Exception)
            {
                failing.Add("redis");
            }

            return failing.Count == 0
                ? TypedResults.Ok(new HealthDto("healthy"))
                : TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Unhealthy", detail: $"Not answering: {string.Join(", ", failing)}.");
        }
    }

    /// <summary>The non-serving commands of the executable.</summary>
    public static class Commands
    {
        /// <summary><c>migrate</c>: applies the EF migrations of both contexts (entitlements, metering) to ED_POSTGRES and exits 0 (2 when ED_POSTGRES is missing).</summary>
        public static async Task<int> MigrateAsync()
        {
            var connectionString = Environment.GetEnvironmentVariable(ControlPlaneOptions.PostgresVariable);
            if (string.IsNullOrWhiteSpace(connectionString))
            {
                await Console.Error.WriteLineAsync($"{ControlPlaneOptions.PostgresVariable} is required (Npgsql connection string).");
                return 2;
            }

            var options = new DbContextOptionsBuilder<EntitlementsDbContext>().UseNpgsql(connectionString).Options;
            await using var db = new EntitlementsDbContext(options);
            var pending = (await db.Database.GetPendingMigrationsAsync()).ToList();
            await db.Database.MigrateAsync();
            await using var metering = MeteringDbContext.Create(connectionString);
            pending.AddRange(await metering.Database.GetPendingMigrationsAsync());
            await metering.Database.MigrateAsync();
            Console.WriteLine($"Applied {pending.Count} migration(s){(pending.Count > 0 ? ": " + string.Join(", ", pending) : "")}.");
            return 0;
        }

        /// <summary><c>mint-token --tenant &lt;id&gt; --role &lt;operator|owner|admin|member&gt; [--ttl-minutes 60] [--subject dev]</c>: prints a signed token.</summary>
        public static int MintToken(string[] args)
        {
            string? tenant = null, role = null, subject = "dev";
            var ttlMinutes = 60;
            for (var i = 0; i < args.Length; i++)
            {
                var value = i + 1 < args.Length ? args[i + 1] : null;
                switch (args[i])
                {
                    case "--tenant": tenant = value; i++; break;
                    case "--role": role = value; i++; break;
                    case "--subject": subject = value; i++; break;
                    case "--ttl-minutes" when int.TryParse(value, out var m) && m > 0: ttlMinutes = m; i++; break;
                    default:
                        Console.Error.WriteLine($"unknown or invalid argument '{args[i]}'");
                        return Usage();
                }
            }

            if (tenant is null || role is null || !Roles.All.Contains(role) || string.IsNullOrEmpty(subject))
            {
                return Usage();
            }

            var key = Environment.GetEnvironmentVariable(ControlPlaneOptions.SigningKeyVariable);
            if (string.IsNullOrEmpty(key) || System.Text.Encoding.UTF8.GetByteCount(key) < 32)
            {
                Console.Error.WriteLine($"{ControlPlaneOptions.SigningKeyVariable} is required (at least 32 bytes).");
                return 2;
            }

            Console.WriteLine(new BearerTokens(key, TimeProvider.System).Mint(subject, tenant, role, TimeSpan.FromMinutes(ttlMinutes)));
            return 0;
        }

        private static int Usage()
        {
            Console.Error.WriteLine("usage: mint-token --tenant <id> --role <operator|owner|admin|member> [--ttl-minutes 60] [--subject dev]");
            return 2;
        }
    }
}
