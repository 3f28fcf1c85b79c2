using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Metering;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// The squashed baselines (Data/Migrations, Metering/Migrations): the model and the migrations agree, the design-time factories
/// that <c>dotnet ef</c> uses build both contexts, and the hand-written SQL of the baseline is applied.
/// </summary>
public sealed class MigrationsTests
{
    [Fact]
    public void DesignTimeFactories_BuildBothContexts_WhoseModelsHaveNoChangesMissingFromTheirMigrations()
    {
        // HasPendingModelChanges diffs the model against the snapshot; it needs no database.
        using var entitlements = new EntitlementsDesignTimeFactory().CreateDbContext([]);
        using var metering = new MeteringDesignTimeFactory().CreateDbContext([]);
        Assert.False(entitlements.Database.HasPendingModelChanges(), "EntitlementsDbContext changed without a migration");
        Assert.False(metering.Database.HasPendingModelChanges(), "MeteringDbContext changed without a migration");
        Assert.Equal(["Baseline"], entitlements.Database.GetMigrations().Select(m => m[15..]).Take(1));
        Assert.Equal(["Baseline"], metering.Database.GetMigrations().Select(m => m[15..]).Take(1));
    }

    [Fact]
    public async Task Baseline_OnFreshDatabase_CreatesTheCheckoutSessionIndex_ThatTheSuccessPageLookupUses()
    {
        var ct = TestContext.Current.CancellationToken;
        var database = await TestServices.CreateDatabaseAsync();
        try
        {
            await using (var db = new EntitlementsDbContext(new DbContextOptionsBuilder<EntitlementsDbContext>().UseNpgsql(database).Options))
            {
                await db.Database.MigrateAsync(ct);
            }

            await using var connection = new NpgsqlConnection(database);
            await connection.OpenAsync(ct);
            await using (var off = new NpgsqlCommand("SET enable_seqscan = off", connection))
            {
                await off.ExecuteNonQueryAsync(ct);
            }

            // The query shape of Subscriptions/CheckoutPages.cs; on an empty table only a matching index beats the disabled scan.
            await using var explain = new NpgsqlCommand(
                "EXPLAIN SELECT * FROM stripe_events WHERE type = 'checkout.session.completed' AND (payload->'data'->'object'->>'id') = 'cs_test_1' ORDER BY received_at DESC LIMIT 1",
                connection);
            var plan = new List<string>();
            await using (var reader = await explain.ExecuteReaderAsync(ct))
            {
                while (await reader.ReadAsync(ct))
                {
                    plan.Add(reader.GetString(0));
                }
            }

            Assert.Contains(plan, line => line.Contains("ix_stripe_events_checkout_session", StringComparison.Ordinal));
        }
        finally
        {
            await TestServices.DropDatabaseAsync(database);
        }
    }
}
