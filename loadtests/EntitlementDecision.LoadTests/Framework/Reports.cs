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

    /// <summary>
    /// Writes the report of <paramref name="scenarios"/> into <paramref name="folder"/>. With <paramref name="append"/>, the scenarios
    /// are added to the report.json already there (a later run of the same load test, e.g. payload mode after a control plane restart):
    /// its scenarios, ceiling and environment are kept (an environment value that differs becomes "earlier; then later"), and
    /// report.md is rendered again from the merged report.json.
    /// </summary>
    public static void Write(string folder, string mode, IReadOnlyDictionary<string, string> environment, List<ScenarioResult> scenarios, CeilingResult? ceiling, bool append = false)
    {
        Directory.CreateDirectory(folder);
        foreach (var r in scenarios)
        {
            File.WriteAllText(Path.Combine(folder, r.Scenario.Name + ".svg"), Svg(r));
        }

        var path = Path.Combine(folder, "report.json");
        var report = Json(mode, environment, scenarios, ceiling);
        if (append && File.Exists(path))
        {
            report = Merge(JsonNode.Parse(File.ReadAllText(path))!.AsObject(), report);
        }

        var text = report.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        File.WriteAllText(path, text);
        // Rendered from the JSON as written, so an appended report reads exactly like one written at once.
        File.WriteAllText(Path.Combine(folder, "report.md"), Markdown(folder, JsonNode.Parse(text)!.AsObject()));
    }

    /// <summary><paramref name="earlier"/> with <paramref name="later"/>'s scenarios after its own, the first ceiling, both environments.</summary>
    private static JsonObject Merge(JsonObject earlier, JsonObject later)
    {
        if (earlier["environment"] is not JsonObject environment)
        {
            earlier["environment"] = environment = [];
        }

        foreach (var (key, value) in later["environment"]!.AsObject())
        {
            var was = Str(environment[key]);
            var now = Str(value);
            environment[key] = was is null || was == now ? now : $"{was}; then {now}";
        }

        if (earlier["scenarios"] is not JsonArray list)
        {
            earlier["scenarios"] = list = [];
        }

        foreach (var scenario in later["scenarios"]!.AsArray())
        {
            list.Add(scenario!.DeepClone());
        }

        earlier["ceiling"] ??= later["ceiling"]?.DeepClone();
        return earlier;
    }

    private static string? Str(JsonNode? n) => n?.GetValue<string>();

    private static string Ms(JsonNode? ms) => (ms?.GetValue<double>() ?? 0).ToString("0.000", Inv);

    private static string Mb(JsonNode? bytes) => ((bytes?.GetValue<long>() ?? 0) / 1048576.0).ToString("0", Inv);

    private static long Long(JsonNode? n) => n?.GetValue<long>() ?? 0;

    private static string PercentileCells(JsonNode? latency) =>
        $"{Ms(latency?["p50"])} | {Ms(latency?["p90"])} | {Ms(latency?["p99"])} | {Ms(latency?["p99_9"])} | {Ms(latency?["max"])}";

    private static string Markdown(string folder, JsonObject report)
    {
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"# EntitlementDecision load test report ({Str(report["mode"])})");
        md.AppendLine();
        foreach (var (k, v) in report["environment"]!.AsObject())
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- **{k}**: {Str(v)}");
        }

        md.AppendLine();
        md.AppendLine("Latencies in ms. Under an arrival-rate (Inject) simulation they are measured from each request's intended start time.");
        md.AppendLine("CPU % is of one core (200 % = both cores of this machine); the load driver runs on the same machine.");
        md.AppendLine();
        md.AppendLine("## Scenarios");
        md.AppendLine();
        md.AppendLine("| scenario | simulation | ok | failed | ok/s | p50 | p90 | p99 | p99.9 | max |");
        md.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        var scenarios = report["scenarios"]!.AsArray().Select(s => s!.AsObject()).ToList();
        foreach (var s in scenarios)
        {
            md.AppendLine(CultureInfo.InvariantCulture,
                $"| {Str(s["name"])} | {Str(s["simulations"])} | {Long(s["ok"]):N0} | {Long(s["failed"]):N0} | {s["ok_per_s"]!.GetValue<double>():N0} | {PercentileCells(s["latency_ms"])} |");
        }

        foreach (var s in scenarios)
        {
            var name = s["name"]!.GetValue<string>();
            var ok = Long(s["ok"]);
            var failed = Long(s["failed"]);
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"### {name}");
            md.AppendLine();
            if (s["description"]?.GetValue<string>() is { Length: > 0 } description)
            {
                md.AppendLine(description);
                md.AppendLine();
            }

            md.AppendLine(CultureInfo.InvariantCulture, $"![{name} latency by percentile]({name}.svg)");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"- measured {s["duration_s"]!.GetValue<double>():0.00} s; ok {ok:N0}, failed {failed:N0} ({(ok + failed == 0 ? 0 : 100.0 * failed / (ok + failed)):0.###} %)");
            foreach (var (status, n) in s["failures"]!.AsObject().OrderByDescending(f => Long(f.Value)))
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"- failures `{status}`: {Long(n):N0}");
            }

            var metrics = s["metrics_ms"]!.AsObject();
            if (metrics.Count > 0)
            {
                md.AppendLine();
                md.AppendLine("| metric | n | p50 | p90 | p99 | p99.9 | max |");
                md.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
                foreach (var (metric, h) in metrics.OrderBy(m => m.Key, StringComparer.Ordinal))
                {
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {metric} | {Long(h!["count"]):N0} | {PercentileCells(h)} |");
                }

                md.AppendLine();
            }

            foreach (var (counter, n) in s["counters"]!.AsObject().OrderBy(c => c.Key, StringComparer.Ordinal))
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"- counter `{counter}`: {Long(n):N0}");
            }

            foreach (var p in s["processes"]!.AsArray())
            {
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"- process {Str(p!["name"])} (pid {p["pid"]}): CPU {p["cpu_s"]!.GetValue<double>():0.00} s = {p["cpu_percent_of_one_core"]!.GetValue<double>():0} % of one core, RSS peak {Mb(p["rss_peak_bytes"])} MiB, end {Mb(p["rss_end_bytes"])} MiB");
            }

            foreach (var note in s["notes"]!.AsArray())
            {
                md.AppendLine("- " + note!.GetValue<string>());
            }

            var thresholds = s["thresholds"]!.AsArray();
            if (thresholds.Count > 0)
            {
                md.AppendLine();
                md.AppendLine("| threshold | kind | result | actual |");
                md.AppendLine("|---|---|---|---|");
                foreach (var t in thresholds)
                {
                    var kind = t!["kind"]!.GetValue<string>();
                    var result = t["passed"]!.GetValue<bool>() ? "met" : kind == nameof(ThresholdKind.Target) ? "**missed**" : "**FAILED**";
                    md.AppendLine(CultureInfo.InvariantCulture, $"| {Str(t["description"])} | {kind} | {result} | {Str(t["actual"])} |");
                }
            }
        }

        if (report["ceiling"] is JsonObject ceiling)
        {
            md.AppendLine();
            md.AppendLine("## Ceiling: h2load, the same settings against bare Kestrel and the sidecar's CheckEntitlement");
            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"Settings: `{Str(ceiling["settings"])}`. Latency percentiles from h2load's per-request log (`--log-file`).");
            md.AppendLine();
            md.AppendLine("| round | target | requests | succeeded | failed | req/s | p50 | p90 | p99 | p99.9 | max | server CPU % (one core) | server RSS MiB |");
            md.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var r in ceiling["runs"]!.AsArray())
            {
                var server = r!["processes"]!.AsArray().FirstOrDefault(p => p!["name"]!.GetValue<string>() != "load driver");
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {r["round"]} | {Str(r["target"])} | {Long(r["requests"]):N0} | {Long(r["succeeded"]):N0} | {Long(r["failed"]):N0} | {r["req_per_s"]!.GetValue<double>():N0} | {Ms(r["p50_ms"])} | {Ms(r["p90_ms"])} | {Ms(r["p99_ms"])} | {Ms(r["p999_ms"])} | {Ms(r["max_ms"])} | {server?["cpu_percent_of_one_core"]?.GetValue<double>():0} | {(server is null ? "" : Mb(server["rss_peak_bytes"]))} |");
            }

            md.AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"**CheckEntitlement / bare ceiling (mean req/s of the rounds): {(ceiling["ratio"] is { } ratio ? (100 * ratio.GetValue<double>()).ToString("0.0", Inv) + " %" : "n/a")}**");
            if (ceiling["grpc_constant_ratio"] is { } framework)
            {
                md.AppendLine();
                md.AppendLine(CultureInfo.InvariantCulture, $"**CheckEntitlement / Grpc.AspNetCore constant answer: {(100 * framework.GetValue<double>()).ToString("0.0", Inv)} %** (what our decision costs on top of the framework)");
            }

            foreach (var note in ceiling["notes"]!.AsArray())
            {
                md.AppendLine();
                md.AppendLine("- " + note!.GetValue<string>());
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
                ["description"] = r.Scenario.Description,
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
