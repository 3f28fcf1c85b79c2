using System.Text.RegularExpressions;

namespace EntitlementDecision.Sidecar.Tests;

/// <summary>
/// The grpc-js conformance suite (tests/interop/conformance.mjs, the real @grpc/grpc-js peer) against the sidecar's gRPC
/// composition (<see cref="SidecarGrpc"/> on Grpc.AspNetCore) with <see cref="ConformanceService"/>, started in-process. Requires Node 20 and `npm ci --prefix tests/interop` (test.sh runs it).
/// </summary>
public sealed partial class GrpcJsConformanceTests
{
    [Fact]
    public async Task Conformance_GrpcJsSuite_AllPass()
    {
        var root = RepoPaths.Root;
        var interop = Path.Combine(root, "tests", "interop");
        Assert.True(
            Directory.Exists(Path.Combine(interop, "node_modules", "@grpc", "grpc-js")),
            $"grpc-js is not installed: run `npm ci --prefix tests/interop` in {root} first.");

        var (app, port) = await ConformanceService.StartAsync();
        await using var _ = app;

        var run = await TestProcess.RunAsync(
            "node", ["--test-reporter=spec", Path.Combine(interop, "conformance.mjs")], TimeSpan.FromMinutes(2), root,
            new Dictionary<string, string?> { ["GRPC_TARGET"] = $"127.0.0.1:{port}" }, TestContext.Current.CancellationToken);
        var output = run.Output;
        TestContext.Current.TestOutputHelper?.WriteLine(output);
        Assert.True(run.ExitCode == 0, $"conformance.mjs exited with {run.ExitCode}:\n{output}");
        // node:test's spec summary: "ℹ pass N" and "ℹ fail M".
        var passed = SummaryCount("pass").Match(output);
        var failed = SummaryCount("fail").Match(output);
        Assert.True(passed.Success && failed.Success, $"no node:test summary in:\n{output}");
        Assert.Equal("0", failed.Groups["n"].Value);
        Assert.True(int.Parse(passed.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture) >= 13, output);
    }


    private static Regex SummaryCount(string kind) => new($"^ℹ {kind} (?<n>\\d+)$", RegexOptions.Multiline);
}
