using System.CommandLine;

namespace EntitlementDecision.ControlPlane.Cli;

/// <summary>
/// The executable's commands on System.CommandLine; each has <c>--help</c>. Without a command (or with host arguments
/// such as <c>--urls</c>) the executable serves the HTTP API instead. Exit codes: 0 done, 1 bad arguments or a check that
/// failed, 2 a missing or invalid environment variable.
/// </summary>
internal static class ControlPlaneCli
{
    private static readonly string[] HelpTokens = ["--help", "-h", "-?", "--version"];

    /// <summary>True when <paramref name="args"/> name a command (or ask for help), so the host must not start.</summary>
    public static bool Handles(string[] args) =>
        args.Length > 0 && (HelpTokens.Contains(args[0]) || Build().Subcommands.Any(c => c.Name == args[0]));

    public static Task<int> RunAsync(string[] args) => Build().Parse(args).InvokeAsync();

    public static RootCommand Build()
    {
        var root = new RootCommand("EntitlementDecision control plane. Without a command: serves the HTTP API on ED_CONTROLPLANE_URL.");
        root.Subcommands.Add(MigrateCommand.Create());
        root.Subcommands.Add(MintTokenCommand.Create());
        root.Subcommands.Add(CatalogGateCommand.Create());
        foreach (var ledger in LedgerCommands.Create())
        {
            root.Subcommands.Add(ledger);
        }

        return root;
    }
}
