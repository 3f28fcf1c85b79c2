using System.Globalization;
using EntitlementDecision.ControlPlane.Configuration;
using EntitlementDecision.Redis;
using StackExchange.Redis;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>
/// The metering commands of the executable (they read ED_POSTGRES, and ED_REDIS for the counter commands):
/// <c>ledger-verify [--tenant X] [--environment E]</c>: exit 0 "N rows verified", 1 naming the first broken row per chain;
/// <c>ledger-rebuild-counters [--tenant X]</c>: sets Redis counters and dedupe markers from the ledger, exit 0;
/// <c>ledger-check-counters [--tenant X]</c>: exit 0 "N counters match the ledger", 1 naming each mismatch;
/// <c>usage-rollup --from yyyy-MM-dd --to yyyy-MM-dd [--tenant X]</c>: recomputes the daily rollups and integrity report of the range.
/// Exit 2: a bad range or a missing variable.
/// </summary>
internal static class MeteringCommands
{
    /// <summary>Runs <paramref name="command"/> with its parsed options (see <see cref="Cli.LedgerCommands"/>).</summary>
    public static async Task<int> RunAsync(string command, string? tenant, string? environment, string? from, string? to, TextWriter output, TextWriter error)
    {
        var postgres = Environment.GetEnvironmentVariable(ControlPlaneOptions.PostgresVariable);
        if (string.IsNullOrWhiteSpace(postgres))
        {
            await error.WriteLineAsync($"{ControlPlaneOptions.PostgresVariable} is required (Npgsql connection string).");
            return 2;
        }

        var redis = Environment.GetEnvironmentVariable(ControlPlaneOptions.RedisVariable);
        if (command is "ledger-rebuild-counters" or "ledger-check-counters" && string.IsNullOrWhiteSpace(redis))
        {
            await error.WriteLineAsync($"{ControlPlaneOptions.RedisVariable} is required (e.g. 127.0.0.1:6379).");
            return 2;
        }

        await using var db = MeteringDbContext.Create(postgres);
        switch (command)
        {
            case "ledger-verify":
                return await VerifyAsync(db, tenant, environment, output, CancellationToken.None);
            case "usage-rollup":
                if (!UsageEndpoints.TryRange(from, to, out var range, out var rangeError))
                {
                    await error.WriteLineAsync($"usage-rollup: {rangeError}");
                    return 2;
                }

                await Rollups.RecomputeRangeAsync(db, tenant, range.From, range.To, DateTimeOffset.UtcNow, CancellationToken.None);
                await output.WriteLineAsync($"Recomputed {range.From:yyyy-MM-dd}..{range.To:yyyy-MM-dd}{(tenant is null ? "" : " for " + tenant)}.");
                return 0;
        }

        var config = ConfigurationOptions.Parse(redis!);
        config.AbortOnConnectFail = false;
        using var connection = await ConnectionMultiplexer.ConnectAsync(config);
        var admin = new UsageCounterAdmin(connection);
        return command == "ledger-rebuild-counters"
            ? await RebuildAsync(db, admin, tenant, DateTimeOffset.UtcNow, output, CancellationToken.None)
            : await CheckAsync(db, admin, tenant, DateTimeOffset.UtcNow, output, CancellationToken.None);
    }

    public static async Task<int> VerifyAsync(MeteringDbContext db, string? tenant, string? environment, TextWriter output, CancellationToken ct)
    {
        var (rows, problems) = await LedgerVerifier.VerifyAsync(db, tenant, environment, ct);
        foreach (var p in problems)
        {
            await output.WriteLineAsync($"FAILED {p.TenantId}/{p.Environment}: {p.Message}");
        }

        await output.WriteLineAsync(problems.Count == 0
            ? $"{rows.ToString(CultureInfo.InvariantCulture)} rows verified"
            : $"{problems.Count} chain(s) broken; {rows.ToString(CultureInfo.InvariantCulture)} rows read");
        return problems.Count == 0 ? 0 : 1;
    }

    public static async Task<int> RebuildAsync(MeteringDbContext db, UsageCounterAdmin redis, string? tenant, DateTimeOffset now, TextWriter output, CancellationToken ct)
    {
        var (counters, markers) = await CounterRebuild.RebuildAsync(db, redis, now, tenant, ct);
        await output.WriteLineAsync($"Rebuilt {counters} counter(s) and {markers} dedupe marker(s) from the ledger.");
        return 0;
    }

    public static async Task<int> CheckAsync(MeteringDbContext db, UsageCounterAdmin redis, string? tenant, DateTimeOffset now, TextWriter output, CancellationToken ct)
    {
        var (compared, mismatches) = await CounterRebuild.CheckAsync(db, redis, now, tenant, ct);
        foreach (var m in mismatches)
        {
            await output.WriteLineAsync($"MISMATCH {m}");
        }

        await output.WriteLineAsync(mismatches.Count == 0
            ? $"{compared} counter(s) match the ledger"
            : $"{mismatches.Count} of {compared} counter(s) differ from the ledger");
        return mismatches.Count == 0 ? 0 : 1;
    }
}
