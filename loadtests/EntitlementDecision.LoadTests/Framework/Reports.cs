using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EntitlementDecision.LoadTests.Framework;

/// <summary>One h2load run of the ceiling comparison.</summary>
public sealed record CeilingRun(string Target, string Url, int Round, long Requests, long Succeeded, long Failed, double RequestsPerSecond,
    double P50Ms, double P90Ms, double P99Ms, double P999Ms, double MaxMs, List<ProcessUsage> Processes, string Command);

/// <summary>The h2load comparison: bare Kestrel (and Grpc.AspNetCore with a constant answer) vs the sidecar's CheckEntitlement,
/// with the same settings.</summary>
public sealed record CeilingResult(string Settings, List<CeilingRun> Runs, List<string> Notes)
{
    /// <summary>Sidecar / bare Kestrel, mean req/s of the rounds.</summary>
    public double? Ratio => RatioTo("bare");

    /// <summary>Sidecar / Grpc.AspNetCore answering a constant (the framework without our decision); null when not run.</summary>
    public double? GrpcConstantRatio => RatioTo("grpc-constant");

    private double? RatioTo(string target)
    {
        var baseline = Runs.Where(r => r.Target == target).Select(r => r.RequestsPerSecond).DefaultIfEmpty().Average();
        var sidecar = Runs.Where(r => r.Target == "sidecar").Select(r => r.RequestsPerSecond).DefaultIfEmpty().Average();
        return baseline > 0 ? sidecar / baseline : null;
    }
}

/// <summary>Writes report.md, report.json and one latency-by-percentile SVG per scenario into the run's folder.</summary>
public static class Reports
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private static readonly double[] Percentiles = [50, 90, 99, 99.9];

    public static void Write(string folder, string mode, IReadOnlyDictionary<string, string> environment, List<ScenarioResult> scenarios, CeilingResult? ceiling)
    {
        Directory.CreateDirectory(folder);
        foreach (var r in scenarios)
        {
            File.WriteAllText(Path.Combine(folder, r.Scenario.Name + ".svg"), Svg(r));
        }

        File.WriteAllText(Path.Combine(folder, "report.json"), Json(mode, environment, scenarios, ceiling).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(Path.Combine(folder, "report.md"), Markdown(folder, mode, environment, scenarios, ceiling));
    }

    private static string Ms(double micros) => (micros / 1000).ToString("0.000", Inv);

    private static string Mb(long bytes) => (bytes / 1048576.0).ToString("0", Inv);

    private static string Markdown(string folder, string mode, IReadOnlyDictionary<string, string> environment, List<ScenarioResult> scenarios, CeilingResult? ceiling)
    {
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# EntitlementDecision load test report ({mode})");
        md.AppendLine();
        foreach (var (k, v) in environment)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- **{k}**: {v}");
        }

        md.AppendLine();
        md.AppendLine("Latencies in ms. Under an arrival-rate (Inject) simulation they are measured from each request's intended start time.");
        md.AppendLine("CPU % is of one core (200 % = both cores of this machine); the load driver runs on the same machine.");
        md.AppendLine();
        md.AppendLine("## Scenarios");
        md.AppendLine();
        md.AppendLine("| scenario | simulation | ok | failed | ok/s | p50 | p90 | p99 | p99.9 | max |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in scenarios)
        {
            var s = r.Stats;
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {s.Name} | {s.Simulations} | {s.OkCount:N0} | {s.FailCount:N0} | {s.OkPerSecond:N0} | {Ms(s.Ok.PercentileMicros(50))} | {Ms(s.Ok.PercentileMicros(90))} | {Ms(s.Ok.PercentileMicros(99))} | {Ms(s.Ok.PercentileMicros(99.9))} | {Ms(s.Ok.MaxMicros)} |");
        }

        foreach (var r in scenarios)
        {
            var s = r.Stats;
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"### {s.Name}");
            md.AppendLine();
            if (r.Scenario.Description.Length > 0)
            {
                md.AppendLine(r.Scenario.Description);
                md.AppendLine();
            }

            md.AppendLine(CultureInfo.InvariantCulture, $"![{s.Name} latency by percentile]({s.Name}.svg)");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"- measured {s.Duration.TotalSeconds:0.00} s; ok {s.OkCount:N0}, failed {s.FailCount:N0} ({s.FailPercent:0.###} %)");
            foreach (var (status, n) in s.Failures.OrderByDescending(f => f.Value))
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"- failures `{status}`: {n:N0}");
            }

            if (s.Metrics.Count > 0)
            {
                md.AppendLine();
                md.AppendLine("| metric | n | p50 | p90 | p99 | p99.9 | max |");
                md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
                foreach (var (name, h) in s.Metrics.OrderBy(m => m.Key, StringComparer.Ordinal))
                {
                    md.AppendLine(CultureInfo.InvariantCulture,
                        $"| {name} | {h.Count:N0} | {Ms(h.PercentileMicros(50))} | {Ms(h.PercentileMicros(90))} | {Ms(h.PercentileMicros(99))} | {Ms(h.PercentileMicros(99.9))} | {Ms(h.MaxMicros)} |");
                }

                md.AppendLine();
            }

            foreach (var (name, n) in s.Counters.OrderBy(c => c.Key, StringComparer.Ordinal))
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"- counter `{name}`: {n:N0}");
            }

            foreach (var p in s.Processes)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"- process {p.Name} (pid {p.Pid}): CPU {p.CpuSeconds:0.00} s = {p.CpuPercentOfOneCore:0} % of one core, RSS peak {Mb(p.PeakRssBytes)} MiB, end {Mb(p.EndRssBytes)} MiB");
            }

            foreach (var note in s.Notes)
            {
                md.AppendLine("- " + note);
            }

            if (r.Thresholds.Count > 0)
            {
                md.AppendLine();
                md.AppendLine("| threshold | kind | result | actual |");
                md.AppendLine("|---|---|---|---|");
                foreach (var t in r.Thresholds)
                {
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {t.Description} | {t.Kind} | {(t.Passed ? "met" : t.Kind == ThresholdKind.Target ? "**missed**" : "**FAILED**")} | {t.Actual} |");
                }
            }
        }

        if (ceiling is not null)
        {
            md.AppendLine();
            md.AppendLine("## Ceiling: h2load, the same settings against bare Kestrel and the sidecar's CheckEntitlement");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"Settings: `{ceiling.Settings}`. Latency percentiles from h2load's per-request log (`--log-file`).");
            md.AppendLine();
            md.AppendLine("| round | target | requests | succeeded | failed | req/s | p50 | p90 | p99 | p99.9 | max | server CPU % (one core) | server RSS MiB |");
            md.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var r in ceiling.Runs)
            {
                var server = r.Processes.FirstOrDefault(p => p.Name != "load driver");
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {r.Round} | {r.Target} | {r.Requests:N0} | {r.Succeeded:N0} | {r.Failed:N0} | {r.RequestsPerSecond:N0} | {r.P50Ms:0.000} | {r.P90Ms:0.000} | {r.P99Ms:0.000} | {r.P999Ms:0.000} | {r.MaxMs:0.000} | {server?.CpuPercentOfOneCore:0} | {(server is null ? "" : Mb(server.PeakRssBytes))} |");
            }

            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"**CheckEntitlement / bare ceiling (mean req/s of the rounds): {(ceiling.Ratio is { } ratio ? (100 * ratio).ToString("0.0", Inv) + " %" : "n/a")}**");
            if (ceiling.GrpcConstantRatio is { } framework)
            {
                md.AppendLine();
                md.AppendLine(CultureInfo.InvariantCulture, $"**CheckEntitlement / Grpc.AspNetCore constant answer: {(100 * framework).ToString("0.0", Inv)} %** (what our decision costs on top of the framework)");
            }
            foreach (var note in ceiling.Notes)
            {
                md.AppendLine();
                md.AppendLine("- " + note);
            }
        }

        var benchmarks = Path.Combine(folder, "benchmarks", "results");
        if (Directory.Exists(benchmarks))
        {
            md.AppendLine();
            md.AppendLine("## Microbenchmarks (BenchmarkDotNet, in-process toolchain)");
            foreach (var file in Directory.GetFiles(benchmarks, "*-report-github.md").Order(StringComparer.Ordinal))
            {
                md.AppendLine();
                md.AppendLine(File.ReadAllText(file));
            }
        }

        return md.ToString();
    }

    private static JsonObject Json(string mode, IReadOnlyDictionary<string, string> environment, List<ScenarioResult> scenarios, CeilingResult? ceiling)
    {
        var root = new JsonObject
        {
            ["mode"] = mode,
            ["environment"] = new JsonObject(environment.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        };
        var list = new JsonArray();
        foreach (var r in scenarios)
        {
            var s = r.Stats;
            list.Add(new JsonObject
            {
                ["name"] = s.Name,
                ["simulations"] = s.Simulations,
                ["duration_s"] = s.Duration.TotalSeconds,
                ["ok"] = s.OkCount,
                ["failed"] = s.FailCount,
                ["ok_per_s"] = s.OkPerSecond,
                ["latency_ms"] = Latency(s.Ok),
                ["failed_latency_ms"] = Latency(s.Failed),
                ["failures"] = new JsonObject(s.Failures.Select(f => KeyValuePair.Create(f.Key, (JsonNode?)f.Value))),
                ["metrics_ms"] = new JsonObject(s.Metrics.Select(m => KeyValuePair.Create(m.Key, (JsonNode?)Latency(m.Value)))),
                ["counters"] = new JsonObject(s.Counters.Select(c => KeyValuePair.Create(c.Key, (JsonNode?)c.Value))),
                ["processes"] = Processes(s.Processes),
                ["notes"] = new JsonArray([.. s.Notes.Select(n => (JsonNode?)n)]),
                ["thresholds"] = new JsonArray([.. r.Thresholds.Select(t => (JsonNode?)new JsonObject
                {
                    ["description"] = t.Description,
                    ["kind"] = t.Kind.ToString(),
                    ["passed"] = t.Passed,
                    ["actual"] = t.Actual,
                })]),
                ["error"] = r.Error,
            });
        }

        root["scenarios"] = list;
        if (ceiling is not null)
        {
            root["ceiling"] = new JsonObject
            {
                ["settings"] = ceiling.Settings,
                ["ratio"] = ceiling.Ratio,
                ["grpc_constant_ratio"] = ceiling.GrpcConstantRatio,
                ["notes"] = new JsonArray([.. ceiling.Notes.Select(n => (JsonNode?)n)]),
                ["runs"] = new JsonArray([.. ceiling.Runs.Select(r => (JsonNode?)new JsonObject
                {
                    ["target"] = r.Target,
                    ["url"] = r.Url,
                    ["round"] = r.Round,
                    ["requests"] = r.Requests,
                    ["succeeded"] = r.Succeeded,
                    ["failed"] = r.Failed,
                    ["req_per_s"] = r.RequestsPerSecond,
                    ["p50_ms"] = r.P50Ms,
                    ["p90_ms"] = r.P90Ms,
                    ["p99_ms"] = r.P99Ms,
                    ["p999_ms"] = r.P999Ms,
                    ["max_ms"] = r.MaxMs,
                    ["processes"] = Processes(r.Processes),
                    ["command"] = r.Command,
                })]),
            };
        }

        return root;
    }

    private static JsonObject Latency(LatencyHistogram h) => new()
    {
        ["count"] = h.Count,
        ["mean"] = h.MeanMicros / 1000,
        ["p50"] = h.PercentileMicros(50) / 1000,
        ["p90"] = h.PercentileMicros(90) / 1000,
        ["p99"] = h.PercentileMicros(99) / 1000,
        ["p99_9"] = h.PercentileMicros(99.9) / 1000,
        ["max"] = h.MaxMicros / 1000.0,
    };

    private static JsonArray Processes(List<ProcessUsage> processes) => new([.. processes.Select(p => (JsonNode?)new JsonObject
    {
        ["name"] = p.Name,
        ["pid"] = p.Pid,
        ["cpu_s"] = p.CpuSeconds,
        ["cpu_percent_of_one_core"] = p.CpuPercentOfOneCore,
        ["rss_peak_bytes"] = p.PeakRssBytes,
        ["rss_end_bytes"] = p.EndRssBytes,
    })]);

    /// <summary>Latency by percentile, HDR-style: the x axis is log(1 / (1 - p)), so 90, 99, 99.9, 99.99 are evenly spaced.</summary>
    private static string Svg(ScenarioResult r)
    {
        const int W = 760, H = 380, Left = 70, Right = 20, Top = 40, Bottom = 50;
        var series = new List<(string Name, LatencyHistogram H, string Color)> { ("step (ok)", r.Stats.Ok, "#1f77b4") };
        string[] colors = ["#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
        var ci = 0;
        foreach (var (name, h) in r.Stats.Metrics.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            series.Add((name, h, colors[ci++ % colors.Length]));
        }

        series.RemoveAll(s => s.H.Count == 0);
        const double MaxX = 4; // 99.99th percentile
        var maxMs = Math.Max(0.001, series.Select(s => s.H.PercentileMicros(99.99) / 1000).DefaultIfEmpty(1).Max() * 1.1);
        double X(double x) => Left + (x / MaxX * (W - Left - Right));
        double Y(double ms) => H - Bottom - (ms / maxMs * (H - Top - Bottom));
        var svg = new StringBuilder();
        svg.AppendLine(Inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"11\">");
        svg.AppendLine(Inv, $"<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>");
        svg.AppendLine(Inv, $"<text x=\"{Left}\" y=\"20\" font-size=\"14\">{Escape(r.Stats.Name)}: latency by percentile (ms), {r.Stats.OkCount:N0} ok, {r.Stats.OkPerSecond:N0}/s</text>");
        for (var i = 0; i <= 5; i++)
        {
            var ms = maxMs * i / 5;
            svg.AppendLine(Inv, $"<line x1=\"{Left}\" y1=\"{Y(ms):0.0}\" x2=\"{W - Right}\" y2=\"{Y(ms):0.0}\" stroke=\"#ddd\"/><text x=\"{Left - 6}\" y=\"{Y(ms) + 4:0.0}\" text-anchor=\"end\">{ms:0.###}</text>");
        }

        foreach (var (x, label) in new[] { (0.0, "0"), (Math.Log10(2), "50"), (1.0, "90"), (2.0, "99"), (3.0, "99.9"), (4.0, "99.99") })
        {
            svg.AppendLine(Inv, $"<line x1=\"{X(x):0.0}\" y1=\"{Top}\" x2=\"{X(x):0.0}\" y2=\"{H - Bottom}\" stroke=\"#eee\"/><text x=\"{X(x):0.0}\" y=\"{H - Bottom + 16}\" text-anchor=\"middle\">{label}</text>");
        }

        svg.AppendLine(Inv, $"<text x=\"{(W + Left) / 2}\" y=\"{H - 12}\" text-anchor=\"middle\">percentile</text>");
        svg.AppendLine(Inv, $"<line x1=\"{Left}\" y1=\"{H - Bottom}\" x2=\"{W - Right}\" y2=\"{H - Bottom}\" stroke=\"black\"/><line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{H - Bottom}\" stroke=\"black\"/>");
        var legendY = Top + 4;
        foreach (var (name, h, color) in series)
        {
            var points = new StringBuilder();
            for (var i = 0; i <= 200; i++)
            {
                var x = MaxX * i / 200;
                var p = 100 * (1 - Math.Pow(10, -x));
                points.Append(Inv, $"{X(x):0.0},{Y(h.PercentileMicros(p) / 1000):0.0} ");
            }

            svg.AppendLine(Inv, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{points}\"/>");
            svg.AppendLine(Inv, $"<rect x=\"{Left + 10}\" y=\"{legendY}\" width=\"12\" height=\"3\" fill=\"{color}\"/><text x=\"{Left + 28}\" y=\"{legendY + 5}\">{Escape(name)} (n={h.Count:N0}, p99 {h.PercentileMicros(99) / 1000:0.###} ms)</text>");
            legendY += 14;
        }

        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    private static string Escape(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal);
}
