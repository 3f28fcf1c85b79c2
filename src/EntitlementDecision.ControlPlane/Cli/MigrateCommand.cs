using System.CommandLine;
using EntitlementDecision.ControlPlane.Configuration;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Metering;
using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Cli;

/// <summary><c>migrate</c>: applies the EF migrations of both contexts (entitlements, metering) to ED_POSTGRES; exit 2 when it is missing.</summary>
internal static class MigrateCommand
{
    public static Command Create()
    {
        var command = new Command("migrate", "Apply the database migrations (entitlements and metering) to ED_POSTGRES, then exit.");
        command.SetAction((_, ct) => RunAsync(Console.Out, Console.Error, ct));
        return command;
    }

    private static async Task<int> RunAsync(TextWriter output, TextWriter error, CancellationToken ct)
    {
        var connectionString = Environment.GetEnvironmentVariable(ControlPlaneOptions.PostgresVariable);
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            await error.WriteLineAsync($"{ControlPlaneOptions.PostgresVariable} is required (Npgsql connection string).");
            return 2;
        }

        var options = new DbContextOptionsBuilder<EntitlementsDbContext>().UseNpgsql(connectionString).Options;
        await using var db = new EntitlementsDbContext(options);
        await using var metering = MeteringDbContext.Create(connectionString);
        try
        {
            await MigrationHistory.EnsureKnownAsync(db, ct);
            await MigrationHistory.EnsureKnownAsync(metering, ct);
        }
        catch (InvalidOperationException e)
        {
            await error.WriteLineAsync("migrate: " + e.Message);
            return 2;
        }

        var pending = (await db.Database.GetPendingMigrationsAsync(ct)).ToList();
        await db.Database.MigrateAsync(ct);
        pending.AddRange(await metering.Database.GetPendingMigrationsAsync(ct));
        await metering.Database.MigrateAsync(ct);
        await output.WriteLineAsync($"Applied {pending.Count} migration(s){(pending.Count > 0 ? ": " + string.Join(", ", pending) : "")}.");
        return 0;
    }
}
