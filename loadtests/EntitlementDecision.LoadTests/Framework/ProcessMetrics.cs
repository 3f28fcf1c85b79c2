using System.Globalization;

namespace EntitlementDecision.LoadTests.Framework;

/// <summary>CPU time and RSS of another process, read from /proc/&lt;pid&gt;/stat (utime + stime) and /proc/&lt;pid&gt;/status (VmRSS).</summary>
public sealed record ProcessSample(double CpuSeconds, long RssBytes)
{
    /// <summary>Clock ticks per second of /proc times (USER_HZ): 100 on Linux x86-64 and arm64.</summary>
    private const double ClockTicks = 100.0;

    public static ProcessSample? Read(int pid)
    {
        if (pid <= 0)
        {
            return null;
        }

        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // Field 2 (comm) may contain spaces: parse after its closing parenthesis. utime and stime are fields 14 and 15.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var cpu = (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / ClockTicks;
            long rss = 0;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rss = long.Parse(line.AsSpan(6).Trim().ToString().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
                    break;
                }
            }

            return new ProcessSample(cpu, rss);
        }
        catch (IOException)
        {
            return null;
        }
    }

    public static ProcessSample Self()
    {
        using var p = System.Diagnostics.Process.GetCurrentProcess();
        return new ProcessSample(p.TotalProcessorTime.TotalSeconds, p.WorkingSet64);
    }
}

/// <summary>A process watched during a measured phase: CPU seconds used, CPU % of one core, peak and final RSS.</summary>
public sealed record ProcessUsage(string Name, int Pid, double CpuSeconds, double CpuPercentOfOneCore, long PeakRssBytes, long EndRssBytes);

/// <summary>Samples named processes (every 200 ms for peak RSS) between <see cref="Start"/> and <see cref="StopAsync"/>.</summary>
public sealed class ProcessWatcher
{
    private readonly IReadOnlyList<(string Name, int Pid)> _targets;
    private readonly Dictionary<int, ProcessSample?> _start = new();
    private readonly Dictionary<int, long> _peak = new();
    private readonly CancellationTokenSource _stop = new();
    private long _startTimestamp;
    private ProcessSample? _selfStart;
    private Task? _loop;

    public ProcessWatcher(IReadOnlyList<(string Name, int Pid)> targets) => _targets = targets;

    public void Start()
    {
        _startTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        _selfStart = ProcessSample.Self();
        foreach (var (_, pid) in _targets)
        {
            var s = ProcessSample.Read(pid);
            _start[pid] = s;
            _peak[pid] = s?.RssBytes ?? 0;
        }

        _loop = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(200, _stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                foreach (var (_, pid) in _targets)
                {
                    if (ProcessSample.Read(pid) is { } s)
                    {
                        lock (_peak)
                        {
                            _peak[pid] = Math.Max(_peak[pid], s.RssBytes);
                        }
                    }
                }
            }
        });
    }

    public async Task<List<ProcessUsage>> StopAsync()
    {
        var wall = System.Diagnostics.Stopwatch.GetElapsedTime(_startTimestamp).TotalSeconds;
        _stop.Cancel();
        if (_loop is not null)
        {
            await _loop;
        }

        var result = new List<ProcessUsage>();
        foreach (var (name, pid) in _targets)
        {
            var end = ProcessSample.Read(pid);
            if (end is null || _start[pid] is not { } start)
            {
                continue;
            }

            var cpu = end.CpuSeconds - start.CpuSeconds;
            result.Add(new ProcessUsage(name, pid, cpu, wall > 0 ? 100 * cpu / wall : 0, Math.Max(_peak[pid], end.RssBytes), end.RssBytes));
        }

        var self = ProcessSample.Self();
        var selfCpu = self.CpuSeconds - _selfStart!.CpuSeconds;
        result.Add(new ProcessUsage("load driver", Environment.ProcessId, selfCpu, wall > 0 ? 100 * selfCpu / wall : 0, self.RssBytes, self.RssBytes));
        return result;
    }
}
