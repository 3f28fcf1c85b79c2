using System.Diagnostics;
using System.Globalization;
using EntitlementDecision.Contracts.V1;
using EntitlementDecision.LoadTests.Framework;
using EntitlementDecision.LoadTests.Scenarios;
using Google.Protobuf;

namespace EntitlementDecision.LoadTests;

/// <summary>
/// The ceiling comparison: the same h2load settings (-n N -c 4 -m 32, h2c prior knowledge) against bare Kestrel and against the
/// sidecar's CheckEntitlement with a pre-encoded gRPC request body (-d file). Rounds alternate (warm-up run first, not reported);
/// latency percentiles come from h2load's per-request log.
/// </summary>
public static class Ceiling
{
    public static async Task<CeilingResult> RunAsync(Settings settings, string hotTenant, long requests, int rounds)
    {
        var folder = Path.Combine(settings.Out, "ceiling");
        Directory.CreateDirectory(folder);
        var request = Seeder.Check(hotTenant, "advanced_reports");
        var body = new byte[5 + request.CalculateSize()];
        body[4] = (byte)request.CalculateSize();
        request.WriteTo(body.AsSpan(5));
        var bodyFile = Path.Combine(folder, "check_entitlement.grpc");
        await File.WriteAllBytesAsync(bodyFile, body);

        var notes = new List<string>();
        var answer = await settings.SidecarClients[0].CheckAsync(request);
        notes.Add($"request body: {body.Length} bytes (CheckEntitlement {hotTenant}/advanced_reports, framed); the sidecar answers allowed={answer.Allowed} reason={answer.Reason} ({answer.CalculateSize() + 5} bytes framed), bare Kestrel a constant frame of the same shape and grpc-status 0 in the trailers");
        var sidecarUrl = new Uri(settings.Sidecar, Methods.CheckEntitlement).ToString();
        var bareUrl = new Uri(settings.Bare!, Methods.CheckEntitlement).ToString();
        var constantUrl = settings.GrpcConstant is null ? null : new Uri(settings.GrpcConstant, Methods.CheckEntitlement).ToString();
        var common = $"-n {requests} -c 4 -m 32 -t 1 -d {bodyFile} -H 'content-type: application/grpc' -H 'te: trailers'";
        var runs = new List<CeilingRun>();
        // Warm-up (JIT, connections, pools) of both servers; not reported.
        await H2LoadAsync(settings, "bare", bareUrl, settings.BarePid, Math.Max(1000, requests / 4), bodyFile, 0, folder);
        await H2LoadAsync(settings, "sidecar", sidecarUrl, settings.SidecarPid, Math.Max(1000, requests / 4), bodyFile, 0, folder);
        if (constantUrl is not null)
        {
            await H2LoadAsync(settings, "grpc-constant", constantUrl, settings.GrpcConstantPid, Math.Max(1000, requests / 4), bodyFile, 0, folder);
        }

        for (var round = 1; round <= rounds; round++)
        {
            runs.Add(await H2LoadAsync(settings, "bare", bareUrl, settings.BarePid, requests, bodyFile, round, folder));
            if (constantUrl is not null)
            {
                runs.Add(await H2LoadAsync(settings, "grpc-constant", constantUrl, settings.GrpcConstantPid, requests, bodyFile, round, folder));
            }

            runs.Add(await H2LoadAsync(settings, "sidecar", sidecarUrl, settings.SidecarPid, requests, bodyFile, round, folder));
        }

        var sidecarP99 = runs.Where(r => r.Target == "sidecar").Select(r => r.P99Ms).DefaultIfEmpty().Max();
        notes.Add($"h2load runs with one thread (-t 1) on the same 2-core machine as the server; sidecar p99 (worst round) {sidecarP99:0.000} ms");
        return new CeilingResult(common + " http://127.0.0.1:PORT" + Methods.CheckEntitlement, runs, notes);
    }

    private static async Task<CeilingRun> H2LoadAsync(Settings settings, string target, string url, int pid, long requests, string bodyFile, int round, string folder)
    {
        var log = Path.Combine(folder, $"{target}-round{round}.log");
        var args = new List<string> { "-n", requests.ToString(CultureInfo.InvariantCulture), "-c", "4", "-m", "32", "-t", "1", "-d", bodyFile,
            "-H", "content-type: application/grpc", "-H", "te: trailers", "--log-file", log, url };
        var psi = new ProcessStartInfo("h2load") { RedirectStandardOutput = true, RedirectStandardError = true };
        args.ForEach(psi.ArgumentList.Add);
        var watcher = new ProcessWatcher([(target switch { "bare" => "bare kestrel", "grpc-constant" => "grpc constant", _ => "sidecar" }, pid)]);
        watcher.Start();
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var processes = await watcher.StopAsync();
        processes.RemoveAll(p => p.Name == "load driver");
        var output = await stdout + await stderr;
        await File.WriteAllTextAsync(Path.Combine(folder, $"{target}-round{round}.txt"), output);
        double rps = 0;
        long succeeded = 0, failed = 0;
        foreach (var line in output.Split('\n'))
        {
            var l = line.Trim();
            if (l.StartsWith("finished in", StringComparison.Ordinal))
            {
                // finished in 2.31s, 216193.70 req/s, 10.52MB/s
                var parts = l.Split(',');
                rps = double.Parse(parts[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
            }
            else if (l.StartsWith("requests:", StringComparison.Ordinal))
            {
                // requests: 500000 total, 500000 started, 500000 done, 500000 succeeded, 0 failed, 0 errored, 0 timeout
                foreach (var part in l["requests:".Length..].Split(','))
                {
                    var bits = part.Trim().Split(' ');
                    if (bits.Length == 2 && long.TryParse(bits[0], CultureInfo.InvariantCulture, out var n))
                    {
                        if (bits[1] == "succeeded")
                        {
                            succeeded = n;
                        }
                        else if (bits[1] is "failed" or "errored" or "timeout")
                        {
                            failed += n;
                        }
                    }
                }
            }
        }

        // --log-file: one line per request, tab-separated: start time (us since epoch), HTTP status, duration (us).
        var histogram = new LatencyHistogram();
        if (File.Exists(log))
        {
            foreach (var line in File.ReadLines(log))
            {
                var fields = line.Split('\t');
                if (fields.Length >= 3 && long.TryParse(fields[2], CultureInfo.InvariantCulture, out var micros))
                {
                    histogram.RecordMicros(micros);
                }
            }

            File.Delete(log); // large; the percentiles are in the report
        }

        if (round > 0)
        {
            Console.Error.WriteLine($"   ceiling round {round} {target}: {rps:N0} req/s, p50 {histogram.PercentileMicros(50) / 1000:0.000} p99 {histogram.PercentileMicros(99) / 1000:0.000} ms, {succeeded} ok, {failed} failed");
        }

        return new CeilingRun(target, url, round, requests, succeeded, failed, rps, histogram.PercentileMicros(50) / 1000, histogram.PercentileMicros(90) / 1000,
            histogram.PercentileMicros(99) / 1000, histogram.PercentileMicros(99.9) / 1000, histogram.MaxMicros / 1000.0, processes, "h2load " + string.Join(' ', args));
    }
}
