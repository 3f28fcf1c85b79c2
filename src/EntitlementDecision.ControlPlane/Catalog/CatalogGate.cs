using StripeException = Stripe.StripeException;
using System.Globalization;
using EntitlementDecision.ControlPlane.Configuration;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Stripe.Api;

namespace EntitlementDecision.ControlPlane.Catalog;

/// <summary>One row of the gate's table: a catalog price and what Stripe says of it. <see cref="Problem"/> is null when it matches.</summary>
internal sealed record CatalogGateRow(string PlanId, string PriceId, string Catalog, string Stripe, string? Problem);

/// <summary>
/// <c>catalog-gate [--catalog path]</c>: checks that Stripe sells what the catalog says. For each ACTIVE plan, each catalog price
/// must exist in Stripe (<see cref="IStripeBilling.GetPriceAsync"/>), be active, be recurring with interval_count 1, and match the
/// catalog's unit_amount, currency and interval; an active purchasable plan must list at least one price. Prints one table row per
/// price (<c>plan  price  catalog  stripe  result</c>), then <c>OK: N prices match</c> (exit 0) or one <c>MISMATCH plan/price: ...</c>
/// line per problem (exit 1). Exit 2: usage errors, a missing/invalid catalog, STRIPE_API_KEY missing, or Stripe could not be asked
/// (the gate cannot decide). Reads <c>--catalog</c> or ED_CATALOG_PATH (default: catalog/plans.json in the working directory or a
/// folder above it), STRIPE_API_KEY (never printed), STRIPE_API_BASE (default https://api.stripe.com).
/// </summary>
internal static class CatalogGate
{
    public const string Command = "catalog-gate";

    /// <summary>Runs the gate with the process environment and a real Stripe client.</summary>
    public static async Task<int> RunAsync(string? catalogPath, TextWriter output, TextWriter error, CancellationToken ct = default)
    {
        using var http = new HttpClient { Timeout = StripeApiOptions.AttemptTimeout };
        return await RunAsync(catalogPath, Environment.GetEnvironmentVariable, options => new StripeNetBilling(http, options), output, error, ct);
    }

    /// <summary>Runs the gate; <paramref name="variable"/> reads configuration, <paramref name="stripeFor"/> builds the Stripe client (tests: the fake).</summary>
    public static async Task<int> RunAsync(
        string? catalogPath, Func<string, string?> variable, Func<StripeApiOptions, IStripeBilling> stripeFor, TextWriter output, TextWriter error, CancellationToken ct = default)
    {
        catalogPath = ControlPlaneOptions.ResolveCatalogPath(catalogPath ?? Blank(variable(ControlPlaneOptions.CatalogPathVariable)), Directory.GetCurrentDirectory());
        if (catalogPath is null || !File.Exists(catalogPath))
        {
            await error.WriteLineAsync($"catalog not found ({catalogPath ?? "no catalog/plans.json here or above"}): pass --catalog or set {ControlPlaneOptions.CatalogPathVariable}.");
            return 2;
        }

        PlanCatalog catalog;
        try
        {
            catalog = PlanCatalogLoader.LoadFile(catalogPath);
        }
        catch (Exception e) when (e is CatalogException or IOException or System.Text.Json.JsonException)
        {
            await error.WriteLineAsync($"catalog {catalogPath} is invalid: {e.Message}");
            return 2;
        }

        if (Blank(variable(ControlPlaneOptions.ApiKeyVariable)) is not { } apiKey)
        {
            await error.WriteLineAsync($"{ControlPlaneOptions.ApiKeyVariable} is required (a Stripe key that may read prices).");
            return 2;
        }

        var apiBase = Blank(variable(ControlPlaneOptions.StripeApiBaseVariable)) ?? ControlPlaneOptions.DefaultStripeApiBase;
        if (!Uri.TryCreate(apiBase, UriKind.Absolute, out var baseUri))
        {
            await error.WriteLineAsync($"{ControlPlaneOptions.StripeApiBaseVariable} must be an absolute URL.");
            return 2;
        }

        var stripe = stripeFor(new StripeApiOptions { ApiKey = apiKey, BaseAddress = baseUri });
        List<CatalogGateRow> rows;
        try
        {
            rows = await CheckAsync(catalog, stripe, ct);
        }
        catch (StripeException e)
        {
            await error.WriteLineAsync($"Stripe could not be asked ({StripeProblemDetails.From(e).Title}: HTTP {e.Status()?.ToString(CultureInfo.InvariantCulture) ?? "none"}, {e.StripeError?.Type}); the gate cannot decide.");
            return 2;
        }

        await output.WriteLineAsync($"catalog {catalog.Version} ({catalogPath}) against {baseUri}");
        await WriteTableAsync(output, rows);
        var problems = rows.Where(r => r.Problem is not null).ToList();
        foreach (var row in problems)
        {
            await output.WriteLineAsync($"MISMATCH {row.PlanId}/{row.PriceId}: {row.Problem}");
        }

        if (problems.Count > 0)
        {
            await output.WriteLineAsync($"FAILED: {problems.Count} of {rows.Count} catalog prices do not match Stripe");
            return 1;
        }

        await output.WriteLineAsync($"OK: {rows.Count} prices match");
        return 0;
    }

    /// <summary>The gate's rows for every price of every active plan (a purchasable plan without prices gets one failing row, price "-").</summary>
    public static async Task<List<CatalogGateRow>> CheckAsync(PlanCatalog catalog, IStripeBilling stripe, CancellationToken ct = default)
    {
        var rows = new List<CatalogGateRow>();
        foreach (var plan in catalog.Plans.Where(p => p.Active))
        {
            if (plan.Prices.Count == 0)
            {
                if (plan.Purchasable)
                {
                    rows.Add(new CatalogGateRow(plan.Id, "-", "-", "-", "plan is purchasable but lists no price"));
                }

                continue;
            }

            foreach (var price in plan.Prices)
            {
                var expected = Describe(price.UnitAmount, price.Currency, price.Interval, 1);
                var found = await stripe.GetPriceAsync(price.Id, ct);
                if (found is null)
                {
                    rows.Add(new CatalogGateRow(plan.Id, price.Id, expected, "missing", "price does not exist in Stripe"));
                    continue;
                }

                var problems = new List<string>();
                if (!found.Active)
                {
                    problems.Add("price is not active in Stripe");
                }

                if (found.Type != "recurring" || found.Recurring is null)
                {
                    problems.Add($"price is {found.Type ?? "not recurring"} in Stripe, the catalog needs recurring");
                }

                if (found.UnitAmount != price.UnitAmount)
                {
                    problems.Add($"unit_amount: catalog {price.UnitAmount}, Stripe {found.UnitAmount?.ToString(CultureInfo.InvariantCulture) ?? "none"}");
                }

                if (!string.Equals(found.Currency, price.Currency, StringComparison.OrdinalIgnoreCase))
                {
                    problems.Add($"currency: catalog {price.Currency}, Stripe {found.Currency}");
                }

                if (found.Recurring is { } recurring && (recurring.Interval != price.Interval || recurring.IntervalCount != 1))
                {
                    problems.Add($"interval: catalog {price.Interval}, Stripe {(recurring.IntervalCount == 1 ? "" : recurring.IntervalCount.ToString(CultureInfo.InvariantCulture) + " ")}{recurring.Interval}");
                }

                rows.Add(new CatalogGateRow(
                    plan.Id,
                    price.Id,
                    expected,
                    Describe(found.UnitAmount, found.Currency, found.Recurring?.Interval, (int)(found.Recurring?.IntervalCount ?? 0)) + (found.Active ? "" : " inactive"),
                    problems.Count == 0 ? null : string.Join("; ", problems)));
            }
        }

        return rows;
    }

    private static async Task WriteTableAsync(TextWriter output, IReadOnlyList<CatalogGateRow> rows)
    {
        string[] header = ["plan", "price", "catalog", "stripe", "result"];
        var cells = rows.Select(r => new[] { r.PlanId, r.PriceId, r.Catalog, r.Stripe, r.Problem is null ? "ok" : "MISMATCH" }).ToList();
        var widths = Enumerable.Range(0, header.Length).Select(i => cells.Select(c => c[i].Length).Append(header[i].Length).Max()).ToArray();
        await output.WriteLineAsync(string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        foreach (var row in cells)
        {
            await output.WriteLineAsync(string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
        }
    }

    private static string Describe(long? amount, string currency, string? interval, int intervalCount) =>
        string.Create(CultureInfo.InvariantCulture, $"{amount?.ToString(CultureInfo.InvariantCulture) ?? "?"} {currency}/{(intervalCount > 1 ? $"{intervalCount} " : "")}{interval ?? "one_time"}");

    private static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}
