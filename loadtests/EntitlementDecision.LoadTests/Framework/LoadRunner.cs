using System.Diagnostics;

namespace EntitlementDecision.LoadTests.Framework;

/// <summary>The result of one scenario: its stats and its thresholds.</summary>
public sealed record ScenarioResult(Scenario Scenario, ScenarioStats Stats, IReadOnlyList<ThresholdResult> Thresholds, string? Error);

/// <summary>Runs scenarios one after the other (NBomber: NBomberRunner.RegisterScenarios(...).Run()).</summary>
public sealed class LoadRunner
{
    private readonly List<Scenario> _scenarios = [];
    private IReadOnlyList<(string Name, int Pid)> _watched = [];

    public static LoadRunner RegisterScenarios(params Scenario[] scenarios)
    {
        var runner = new LoadRunner();
        runner._scenarios.AddRange(scenarios);
        return runner;
    }

    /// <summary>Processes whose CPU time and RSS are reported per scenario (read from /proc).</summary>
    public LoadRunner WatchProcesses(IReadOnlyList<(string Name, int Pid)> processes)
    {
        _watched = processes;
        return this;
    }

    public async Task<List<ScenarioResult>> RunAsync()
    {
        var results = new List<ScenarioResult>();
        foreach (var scenario in _scenarios)
        {
            Console.Error.WriteLine($"== scenario {scenario.Name}: {string.Join(" then ", scenario.LoadSimulations.Select(s => s.Describe()))}");
            var result = await RunOneAsync(scenario);
            var s = result.Stats;
            Console.Error.WriteLine(
                $"   ok {s.OkCount:N0}  fail {s.FailCount:N0}  {s.OkPerSecond:N0}/s  p50 {Ms(s.Ok.PercentileMicros(50))}  p99 {Ms(s.Ok.PercentileMicros(99))}  p99.9 {Ms(s.Ok.PercentileMicros(99.9))} ms"
                + (result.Error is null ? "" : $"  ERROR {result.Error}"));
            foreach (var t in result.Thresholds)
            {
                Console.Error.WriteLine($"   {(t.Passed ? "ok  " : t.Kind == ThresholdKind.Target ? "MISS" : "FAIL")} [{t.Kind}] {t.Description}{(t.Actual is null ? "" : $" (actual: {t.Actual})")}");
            }

            results.Add(result);
        }

        return results;
    }

    private static string Ms(double micros) => (micros / 1000).ToString("0.000", System.Globalization.CultureInfo.InvariantCulture);

    private async Task<ScenarioResult> RunOneAsync(Scenario scenario)
    {
        var stats = new ScenarioStats { Name = scenario.Name, Simulations = string.Join(" then ", scenario.LoadSimulations.Select(s => s.Describe())) };
        var run = new ScenarioRun(stats);
        string? error = null;
        try
        {
            if (scenario.Init is not null)
            {
                await scenario.Init(stats);
            }

            if (scenario.WarmUp > TimeSpan.Zero && scenario.LoadSimulations.Count > 0)
            {
                run.WarmingUp = true;
                var first = scenario.LoadSimulations[0];
                LoadSimulation warm = first switch
                {
                    KeepConstantSimulation k => k with { During = scenario.WarmUp },
                    InjectSimulation i => i with { During = scenario.WarmUp },
                    _ => new KeepConstantSimulation(Math.Min(8, ((IterationsForConstantSimulation)first).Copies), scenario.WarmUp),
                };
                await RunSimulationAsync(scenario, run, warm);
                run.WarmingUp = false;
            }

            var watcher = new ProcessWatcher(_watched);
            watcher.Start();
            var started = Stopwatch.GetTimestamp();
            foreach (var simulation in scenario.LoadSimulations)
            {
                await RunSimulationAsync(scenario, run, simulation);
            }

            stats.Duration = Stopwatch.GetElapsedTime(started);
            stats.Processes = await watcher.StopAsync();

            if (scenario.Clean is not null)
            {
                await scenario.Clean(stats);
            }
        }
        catch (Exception e)
        {
            error = $"{e.GetType().Name}: {e.Message}";
            stats.Notes.Add("scenario error: " + error);
        }

        var thresholds = scenario.Thresholds.Select(t =>
        {
            bool passed;
            string? actual = null;
            try
            {
                passed = error is null && t.Check(stats);
                actual = t.Actual?.Invoke(stats);
            }
            catch (Exception e)
            {
                passed = false;
                actual = e.Message;
            }

            return new ThresholdResult(t.Description, t.Kind, passed, actual);
        }).ToList();
        return new ScenarioResult(scenario, stats, thresholds, error);
    }

    private static Task RunSimulationAsync(Scenario scenario, ScenarioRun run, LoadSimulation simulation) => simulation switch
    {
        KeepConstantSimulation k => KeepConstantAsync(scenario, run, k.Copies, Stopwatch.GetTimestamp() + (long)(k.During.TotalSeconds * Stopwatch.Frequency), long.MaxValue),
        IterationsForConstantSimulation it => KeepConstantAsync(scenario, run, it.Copies, long.MaxValue, it.Iterations),
        InjectSimulation i => InjectAsync(scenario, run, i),
        _ => throw new NotSupportedException(simulation.GetType().Name),
    };

    private static async Task KeepConstantAsync(Scenario scenario, ScenarioRun run, int copies, long endTimestamp, long iterations)
    {
        long remaining = iterations;
        var workers = new Task[copies];
        for (var c = 0; c < copies; c++)
        {
            var context = new ScenarioContext(scenario, run, c, CancellationToken.None);
            workers[c] = Task.Run(async () =>
            {
                while (Stopwatch.GetTimestamp() < endTimestamp && (iterations == long.MaxValue || Interlocked.Decrement(ref remaining) >= 0))
                {
                    context.InvocationNumber = Interlocked.Increment(ref run.Invocations) - 1;
                    await InvokeAsync(scenario, run, context, Stopwatch.GetTimestamp());
                }
            });
        }

        await Task.WhenAll(workers);
    }

    private static async Task InjectAsync(Scenario scenario, ScenarioRun run, InjectSimulation simulation)
    {
        var perSecond = simulation.PerSecond;
        var frequency = (double)Stopwatch.Frequency;
        var total = (long)(perSecond * simulation.During.TotalSeconds);
        var inFlight = 0;
        var pending = new List<Task>();
        var start = Stopwatch.GetTimestamp();
        var scheduler = new Thread(() =>
        {
            long sent = 0;
            while (sent < total)
            {
                var elapsed = (Stopwatch.GetTimestamp() - start) / frequency;
                var due = Math.Min(total, (long)(elapsed * perSecond) + 1);
                for (; sent < due; sent++)
                {
                    // The intended start of call n is start + n / rate, however late the scheduler gets to it.
                    var intended = start + (long)(sent / perSecond * frequency);
                    if (Volatile.Read(ref inFlight) >= simulation.MaxInFlight)
                    {
                        if (!run.WarmingUp)
                        {
                            run.Stats.RecordFail(Stopwatch.GetTimestamp() - intended, "client_overloaded");
                        }

                        continue;
                    }

                    Interlocked.Increment(ref inFlight);
                    var context = new ScenarioContext(scenario, run, (int)(sent % 1024), CancellationToken.None)
                    {
                        InvocationNumber = Interlocked.Increment(ref run.Invocations) - 1,
                    };
                    var task = Task.Run(async () =>
                    {
                        try
                        {
                            await InvokeAsync(scenario, run, context, intended);
                        }
                        finally
                        {
                            Interlocked.Decrement(ref inFlight);
                        }
                    });
                    if ((sent & 0x3FF) == 0)
                    {
                        lock (pending)
                        {
                            pending.RemoveAll(t => t.IsCompleted);
                        }
                    }

                    lock (pending)
                    {
                        pending.Add(task);
                    }
                }

                Thread.Sleep(1);
            }
        }) { IsBackground = true, Name = "inject-scheduler", Priority = ThreadPriority.AboveNormal };
        scheduler.Start();
        while (scheduler.IsAlive)
        {
            await Task.Delay(20);
        }

        Task[] rest;
        lock (pending)
        {
            rest = [.. pending];
        }

        await Task.WhenAll(rest);
    }

    private static async Task InvokeAsync(Scenario scenario, ScenarioRun run, ScenarioContext context, long startTimestamp)
    {
        Response response;
        try
        {
            response = await scenario.Step(context);
        }
        catch (Exception e)
        {
            response = Response.Fail(e is Grpc.Core.RpcException rpc ? "grpc_" + rpc.StatusCode : e.GetType().Name, e.Message);
        }

        if (run.WarmingUp)
        {
            return;
        }

        var ticks = Stopwatch.GetTimestamp() - startTimestamp;
        if (response.IsOk)
        {
            run.Stats.RecordOk(ticks);
        }
        else
        {
            run.Stats.RecordFail(ticks, response.StatusCode);
        }
    }
}
