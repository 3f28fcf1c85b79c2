using System.CommandLine;
using EntitlementDecision.ControlPlane.Metering;

namespace EntitlementDecision.ControlPlane.Cli;

/// <summary>The metering commands (see <see cref="MeteringCommands"/>): they read ED_POSTGRES, and ED_REDIS for the counter commands.</summary>
internal static class LedgerCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Ledger("ledger-verify", "Recompute every ledger hash chain; exit 1 naming the first broken row per chain.", withEnvironment: true);
        yield return Ledger("ledger-rebuild-counters", "Set Redis usage counters and dedupe markers from the ledger (after Redis lost its data).");
        yield return Ledger("ledger-check-counters", "Compare Redis usage counters with the ledger; exit 1 naming each mismatch.");

        var from = new Option<string>("--from") { Description = "First day, yyyy-MM-dd (UTC).", Required = true };
        var to = new Option<string>("--to") { Description = "Last day, yyyy-MM-dd (UTC).", Required = true };
        var tenant = TenantOption();
        var rollup = new Command("usage-rollup", "Recompute the daily rollups and integrity report of a range of days.") { from, to, tenant };
        rollup.SetAction((parse, _) => MeteringCommands.RunAsync("usage-rollup", parse.GetValue(tenant), null, parse.GetValue(from), parse.GetValue(to), Console.Out, Console.Error));
        yield return rollup;
    }

    private static Command Ledger(string name, string description, bool withEnvironment = false)
    {
        var tenant = TenantOption();
        var environment = new Option<string?>("--environment") { Description = "Only this environment of the tenant." };
        var command = new Command(name, description) { tenant };
        if (withEnvironment)
        {
            command.Options.Add(environment);
        }

        command.SetAction((parse, _) => MeteringCommands.RunAsync(name, parse.GetValue(tenant), withEnvironment ? parse.GetValue(environment) : null, null, null, Console.Out, Console.Error));
        return command;
    }

    private static Option<string?> TenantOption() => new("--tenant") { Description = "Only this tenant (default: all)." };
}
