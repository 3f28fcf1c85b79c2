using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;

namespace EntitlementDecision.TestSupport;

/// <summary>
/// An in-memory <see cref="IUsageCounter"/> deciding with <see cref="UsageCounting.Decide"/>, the rules the Redis script applies; the
/// same contract suite (Redis.Tests UsageCounterContract) runs against both. It keeps no stream (StreamEntryId "") and never expires a
/// counter or an event id. Records the calls it gets; can be made unreachable, rebuilding or slow for the sidecar's tests.
/// </summary>
public sealed class FakeUsageCounter : IUsageCounter
{
    private readonly Dictionary<string, long> _used = new();
    private readonly HashSet<string> _events = new();

    public bool Unreachable { get; set; }

    /// <summary>Answers as the real counter does while the generation marker is missing (Redis lost its data, counters being rebuilt).</summary>
    public bool Rebuilding { get; set; }

    /// <summary>Declared "service|feature" pairs; null: coverage not configured (every pair undeclared, mode warn).</summary>
    public HashSet<string>? Declared { get; set; }

    public bool RejectUndeclared { get; set; }

    public List<UsageRecordCommand> Records { get; } = new();

    public List<(string Environment, string Feature, QuotaWindow Window)> Reads { get; } = new();

    /// <summary>When set, every read is recorded at once and answered only when the gate completes (a slow Redis).</summary>
    public TaskCompletionSource? ReadGate { get; set; }

    /// <summary>Sets a window's counter, as a direct write to the store would.</summary>
    public void Set(string tenant, string environment, string feature, QuotaWindow window, long used)
    {
        lock (_used)
        {
            _used[CounterKey(environment, tenant, feature, window)] = used;
        }
    }

    public ValueTask<long> GetUsedAsync(TenantKey tenant, string featureKey, QuotaWindow window, CancellationToken cancellationToken)
    {
        ThrowWhenDown();
        long used;
        lock (_used)
        {
            Reads.Add((tenant.Environment, featureKey, window));
            used = _used.GetValueOrDefault(CounterKey(tenant.Environment, tenant.TenantId, featureKey, window));
        }

        return ReadGate is { } gate ? AfterGateAsync(gate.Task, used) : new(used);
    }

    public ValueTask<UsageRecordOutcome> RecordAsync(UsageRecordCommand command, CancellationToken cancellationToken)
    {
        var e = command.Event;
        if (e.Timestamp is null)
        {
            throw new ArgumentException("the usage event must be normalized (timestamp set)", nameof(command));
        }

        ThrowWhenDown();
        lock (_used)
        {
            Records.Add(command);
            var key = CounterKey(e.Environment, e.TenantId, e.FeatureKey, command.Window);
            var eventKey = $"{e.Environment}/{e.TenantId}/{e.EventId}";
            var used = _used.GetValueOrDefault(key);
            var undeclared = Declared is null || !Declared.Contains($"{e.Service}|{e.FeatureKey}");
            var (outcome, overage) = UsageCounting.Decide(
                _events.Contains(eventKey), undeclared, RejectUndeclared, command.LimitMode, command.Limit, used, e.Quantity);
            if (outcome == UsageOutcome.Accepted)
            {
                if (UsageCounting.WouldPassMaxCount(used, e.Quantity))
                {
                    throw new StoreUnavailableException($"the usage script refused the event: counter {key} would pass 2^53", null, StoreKind.Usage);
                }

                _events.Add(eventKey);
                used += e.Quantity;
                _used[key] = used;
            }

            return new(new UsageRecordOutcome(outcome, used, overage, undeclared));
        }
    }

    private static string CounterKey(string environment, string tenant, string feature, QuotaWindow window) => $"{environment}/{tenant}/{feature}/{window.Key}";

    private void ThrowWhenDown()
    {
        if (Unreachable || Rebuilding)
        {
            throw new StoreUnavailableException("fake counter is down", null, Rebuilding ? StoreKind.UsageRebuilding : StoreKind.Usage);
        }
    }

    private static async ValueTask<long> AfterGateAsync(Task gate, long used)
    {
        await gate.ConfigureAwait(false);
        return used;
    }
}
