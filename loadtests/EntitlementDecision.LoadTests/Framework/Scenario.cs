using System.Collections.Concurrent;

namespace EntitlementDecision.LoadTests.Framework;

// The scenario model mirrors NBomber's (Scenario.Create(name, step).WithInit(...).WithWarmUpDuration(...).WithLoadSimulations(...)
// .WithThresholds(...).WithClean(...)), so that porting to NBomber later is mostly a change of using directives.

/// <summary>The outcome of one step invocation (NBomber: Response.Ok() / Response.Fail()).</summary>
public readonly record struct Response(bool IsOk, string StatusCode, string? Message)
{
    public static Response Ok(string statusCode = "ok") => new(true, statusCode, null);

    public static Response Fail(string statusCode, string? message = null) => new(false, statusCode, message);
}

/// <summary>Per-invocation context handed to a step (NBomber: IScenarioContext).</summary>
public sealed class ScenarioContext
{
    internal ScenarioContext(Scenario scenario, ScenarioRun run, int copy, CancellationToken token)
    {
        Scenario = scenario;
        Run = run;
        Copy = copy;
        CancellationToken = token;
        Random = new Random(HashCode.Combine(scenario.Name, copy));
    }

    public Scenario Scenario { get; }

    internal ScenarioRun Run { get; }

    /// <summary>Index of the virtual user (constant concurrency) or of the in-flight slot (arrival rate).</summary>
    public int Copy { get; }

    /// <summary>Number of this invocation within the scenario (0-based, warm-up included).</summary>
    public long InvocationNumber { get; internal set; }

    /// <summary>Set during warm-up: nothing is recorded.</summary>
    public bool IsWarmUp => Run.WarmingUp;

    public Random Random { get; }

    public CancellationToken CancellationToken { get; }

    /// <summary>Records a named latency besides the step's own (e.g. "webhook_200_to_sidecar").</summary>
    public void Record(string metric, TimeSpan value)
    {
        if (!Run.WarmingUp)
        {
            Run.Stats.Metric(metric).Record(value);
        }
    }

    /// <summary>Counts a named event (e.g. "limit_exceeded"); counted in warm-up too, under its own name.</summary>
    public void Count(string counter, long delta = 1) => Run.Stats.Increment(Run.WarmingUp ? "warmup." + counter : counter, delta);
}

/// <summary>Everything measured for one scenario.</summary>
public sealed class ScenarioStats
{
    private readonly ConcurrentDictionary<string, LatencyHistogram> _metrics = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _counters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _failures = new(StringComparer.Ordinal);
    private long _ok;
    private long _fail;

    public string Name { get; init; } = "";

    /// <summary>Latency of successful steps; from each request's intended start time under an arrival-rate simulation.</summary>
    public LatencyHistogram Ok { get; } = new();

    /// <summary>Latency of failed steps.</summary>
    public LatencyHistogram Failed { get; } = new();

    public long OkCount => Volatile.Read(ref _ok);

    public long FailCount => Volatile.Read(ref _fail);

    public long Total => OkCount + FailCount;

    public double FailPercent => Total == 0 ? 0 : 100.0 * FailCount / Total;

    /// <summary>Measured duration (warm-up excluded).</summary>
    public TimeSpan Duration { get; internal set; }

    public double OkPerSecond => Duration.TotalSeconds > 0 ? OkCount / Duration.TotalSeconds : 0;

    public IReadOnlyDictionary<string, LatencyHistogram> Metrics => _metrics;

    public IReadOnlyDictionary<string, long> Counters => _counters;

    public IReadOnlyDictionary<string, long> Failures => _failures;

    /// <summary>Notes written by the scenario's init and clean (seeding time, verification results).</summary>
    public List<string> Notes { get; } = [];

    public List<ProcessUsage> Processes { get; internal set; } = [];

    public string Simulations { get; internal set; } = "";

    public LatencyHistogram Metric(string name) => _metrics.GetOrAdd(name, static _ => new LatencyHistogram());

    public void Increment(string counter, long delta = 1) => _counters.AddOrUpdate(counter, delta, (_, v) => v + delta);

    public long Counter(string counter) => _counters.TryGetValue(counter, out var v) ? v : 0;

    internal void RecordOk(long ticks)
    {
        Ok.RecordTicks(ticks);
        Interlocked.Increment(ref _ok);
    }

    internal void RecordFail(long ticks, string status)
    {
        Failed.RecordTicks(ticks);
        Interlocked.Increment(ref _fail);
        _failures.AddOrUpdate(status, 1, (_, v) => v + 1);
    }
}

/// <summary>A load simulation (NBomber: Simulation.KeepConstant / Simulation.Inject / Simulation.IterationsForConstant).</summary>
public abstract record LoadSimulation
{
    public abstract string Describe();
}

/// <summary>Closed model: <paramref name="Copies"/> virtual users loop for <paramref name="During"/>; latency from each call's actual start.</summary>
public sealed record KeepConstantSimulation(int Copies, TimeSpan During) : LoadSimulation
{
    public override string Describe() => $"KeepConstant(copies: {Copies}, during: {During.TotalSeconds:0.#} s)";
}

/// <summary>Open model: <paramref name="Rate"/> calls per <paramref name="Interval"/>, evenly spaced, whatever the answers' speed; latency from each
/// call's intended start time (no coordinated omission). At most <paramref name="MaxInFlight"/> outstanding calls; beyond, a call fails as "client_overloaded".</summary>
public sealed record InjectSimulation(int Rate, TimeSpan Interval, TimeSpan During, int MaxInFlight = 20_000) : LoadSimulation
{
    public double PerSecond => Rate / Interval.TotalSeconds;

    public override string Describe() => $"Inject(rate: {Rate}, interval: {Interval.TotalSeconds:0.###} s, during: {During.TotalSeconds:0.#} s) = {PerSecond:N0}/s open model";
}

/// <summary>Closed model with a fixed amount of work: <paramref name="Copies"/> virtual users share <paramref name="Iterations"/> invocations.</summary>
public sealed record IterationsForConstantSimulation(int Copies, long Iterations) : LoadSimulation
{
    public override string Describe() => $"IterationsForConstant(copies: {Copies}, iterations: {Iterations})";
}

public static class Simulation
{
    public static LoadSimulation KeepConstant(int copies, TimeSpan during) => new KeepConstantSimulation(copies, during);

    public static LoadSimulation Inject(int rate, TimeSpan interval, TimeSpan during) => new InjectSimulation(rate, interval, during);

    public static LoadSimulation IterationsForConstant(int copies, long iterations) => new IterationsForConstantSimulation(copies, iterations);
}

/// <summary>What a threshold is about: a correctness check fails the run; a target is reported as met or missed.</summary>
public enum ThresholdKind
{
    Correctness,
    Target,
}

/// <summary>A check over the scenario's stats after it ran (NBomber: Threshold.Create(stats => ...)).</summary>
public sealed record Threshold(string Description, Func<ScenarioStats, bool> Check, ThresholdKind Kind, Func<ScenarioStats, string>? Actual = null)
{
    public static Threshold Create(string description, Func<ScenarioStats, bool> check, Func<ScenarioStats, string>? actual = null) =>
        new(description, check, ThresholdKind.Correctness, actual);

    public static Threshold Target(string description, Func<ScenarioStats, bool> check, Func<ScenarioStats, string>? actual = null) =>
        new(description, check, ThresholdKind.Target, actual);
}

public sealed record ThresholdResult(string Description, ThresholdKind Kind, bool Passed, string? Actual);

/// <summary>A named load scenario. Immutable builder, like NBomber's ScenarioProps.</summary>
public sealed record Scenario
{
    private Scenario(string name, Func<ScenarioContext, Task<Response>> step)
    {
        Name = name;
        Step = step;
    }

    public string Name { get; }

    public Func<ScenarioContext, Task<Response>> Step { get; }

    public Func<ScenarioStats, Task>? Init { get; private init; }

    public Func<ScenarioStats, Task>? Clean { get; private init; }

    public TimeSpan WarmUp { get; private init; } = TimeSpan.FromSeconds(2);

    public IReadOnlyList<LoadSimulation> LoadSimulations { get; private init; } = [];

    public IReadOnlyList<Threshold> Thresholds { get; private init; } = [];

    public string Description { get; private init; } = "";

    public static Scenario Create(string name, Func<ScenarioContext, Task<Response>> step) => new(name, step);

    public Scenario WithInit(Func<ScenarioStats, Task> init) => this with { Init = init };

    public Scenario WithClean(Func<ScenarioStats, Task> clean) => this with { Clean = clean };

    public Scenario WithWarmUpDuration(TimeSpan duration) => this with { WarmUp = duration };

    public Scenario WithoutWarmUp() => this with { WarmUp = TimeSpan.Zero };

    public Scenario WithLoadSimulations(params LoadSimulation[] simulations) => this with { LoadSimulations = simulations };

    public Scenario WithThresholds(params Threshold[] thresholds) => this with { Thresholds = thresholds };

    public Scenario WithDescription(string description) => this with { Description = description };
}

internal sealed class ScenarioRun(ScenarioStats stats)
{
    public ScenarioStats Stats { get; } = stats;

    public volatile bool WarmingUp;

    public long Invocations;
}
