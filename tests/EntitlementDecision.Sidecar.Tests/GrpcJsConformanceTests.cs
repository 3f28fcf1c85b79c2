using System.Diagnostics;
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
        var root = FindRepositoryRoot();
        var interop = Path.Combine(root, "tests", "interop");
        Assert.True(
            Directory.Exists(Path.Combine(interop, "node_modules", "@grpc", "grpc-js")),
            $"grpc-js is not installed: run `npm ci --prefix tests/interop` in {root} first.");

        var (app, port) = await ConformanceService.StartAsync();
        await using var _ = app;

        var startInfo = new ProcessStartInfo("node", ["--test-reporter=spec", Path.Combine(interop, "conformance.mjs")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = root,
        };
        startInfo.Environment["GRPC_TARGET"] = $"127.0.0.1:{port}";
        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException("could not start node");
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var output = await stdout + await stderr;
        TestContext.Current.TestOutputHelper?.WriteLine(output);
        Assert.True(process.ExitCode == 0, $"conformance.mjs exited with {process.ExitCode}:\n{output}");
        // node:test's spec summary: "ℹ pass N" and "ℹ fail M".
        var passed = SummaryCount("pass").Match(output);
        var failed = SummaryCount("fail").Match(output);
        Assert.True(passed.Success && failed.Success, $"no node:test summary in:\n{output}");
        Assert.Equal("0", failed.Groups["n"].Value);
        Assert.True(int.Parse(passed.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture) >= 13, output);
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "EntitlementDecision.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("EntitlementDecision.sln not found above " + AppContext.BaseDirectory);
    }

    private static Regex SummaryCount(string kind) => new($"^ℹ {kind} (?<n>\\d+)$", RegexOptions.Multiline);
}
