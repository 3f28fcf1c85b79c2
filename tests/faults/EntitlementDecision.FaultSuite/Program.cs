using System.CommandLine;
using System.Diagnostics;
using EntitlementDecision.FaultSuite;

// The fault suite's driver (issue 11, item 5). tests/faults/run.sh starts the servers and runs this; each case prints its
// figures, and the last line is "N passed, M failed" (exit 1 when a case failed).
FaultCase[] cases =
[
    new RedisLossCase(),
    new ControlPlaneKillCase(),
    new PostgresRestartCase(),
    new StripeFailureCase(),
    new BadInputCase(),
];

var only = new Option<string?>("--only") { Description = "Comma-separated case names to run (default: all): " + string.Join(", ", cases.Select(c => c.Name)) };
var root = new RootCommand("The fault suite: real servers, faults injected under load, nothing lost or counted twice.") { only };
root.SetAction(async (parse, ct) =>
{
    var selected = parse.GetValue(only) is { Length: > 0 } names
        ? names.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
        : cases.Select(c => c.Name).ToArray();
    var unknown = selected.Where(n => cases.All(c => c.Name != n)).ToList();
    if (unknown.Count > 0)
    {
        Console.Error.WriteLine($"faults: unknown case(s) {string.Join(", ", unknown)}; known: {string.Join(", ", cases.Select(c => c.Name))}");
        return 2;
    }

    await using var stack = FaultStack.FromEnvironment();
    var clock = Stopwatch.StartNew();
    int passed = 0, failed = 0;
    foreach (var fault in cases.Where(c => selected.Contains(c.Name)))
    {
        Console.WriteLine($"-- {fault.Name}: {fault.Description}");
        var report = new CaseReport(fault.Name);
        try
        {
            await fault.RunAsync(stack, report, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            report.Fail($"the case threw: {e.GetType().Name}: {e.Message}");
        }

        report.Print(Console.Out);
        if (report.Failures.Count == 0)
        {
            passed++;
        }
        else
        {
            failed++;
        }
    }

    Console.WriteLine($"fault suite: {clock.Elapsed.TotalSeconds:0.0} s");
    Console.WriteLine($"{passed} passed, {failed} failed");
    return failed == 0 ? 0 : 1;
});
return await root.Parse(args).InvokeAsync();
