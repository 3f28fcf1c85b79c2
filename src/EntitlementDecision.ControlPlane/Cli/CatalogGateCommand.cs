using System.CommandLine;
using EntitlementDecision.ControlPlane.Catalog;

namespace EntitlementDecision.ControlPlane.Cli;

/// <summary><c>catalog-gate</c>: checks every purchasable plan's prices against Stripe (see <see cref="CatalogGate"/>).</summary>
internal static class CatalogGateCommand
{
    public static Command Create()
    {
        var catalog = new Option<string?>("--catalog") { Description = "The catalog file (default: ED_CATALOG_PATH, else catalog/plans.json here or above)." };
        var command = new Command(CatalogGate.Command, "Check the catalog's prices against Stripe (STRIPE_API_KEY, STRIPE_API_BASE); exit 1 on any mismatch.") { catalog };
        command.SetAction((parse, ct) => CatalogGate.RunAsync(parse.GetValue(catalog), Console.Out, Console.Error, ct));
        return command;
    }
}
