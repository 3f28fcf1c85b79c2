// Microbenchmarks of the hot path. Usage: EntitlementDecision.LoadTests.Benchmarks [--artifacts DIR] [--quick] [BenchmarkDotNet args, e.g. --filter *Evaluator*]
// In-process toolchain (no generated project is restored or built: the package copy here is partial); MemoryDiagnoser on every class.
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

var rest = new List<string>();
string? artifacts = null;
var quick = false;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--artifacts": artifacts = args[++i]; break;
        case "--quick": quick = true; break;
        default: rest.Add(args[i]); break;
    }
}

var job = (quick ? Job.Dry : Job.Default.WithWarmupCount(3).WithIterationCount(10).WithLaunchCount(1))
    .WithToolchain(InProcessEmitToolchain.Instance)
    .WithId(quick ? "quick" : "inprocess");
var config = ManualConfig.CreateMinimumViable()
    .AddJob(job)
    .AddExporter(MarkdownExporter.GitHub, JsonExporter.Full)
    .WithOptions(ConfigOptions.JoinSummary | ConfigOptions.DisableLogFile);
if (artifacts is not null)
{
    config = config.WithArtifactsPath(artifacts);
}

if (rest.Count == 0)
{
    rest.Add("--filter");
    rest.Add("*");
}

var summaries = BenchmarkSwitcher.FromAssembly(typeof(EntitlementDecision.LoadTests.Benchmarks.Fixtures).Assembly).Run([.. rest], config);
return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
