using System.Collections.Concurrent;

namespace EntitlementDecision.Grpc;

/// <summary>
/// Serving status per service name for grpc.health.v1.Health/Check. "" (the whole server) and every
/// service mapped with MapGrpcService start as SERVING; any other name is NOT_FOUND.
/// </summary>
public sealed class HealthStatusRegistry
{
    private readonly ConcurrentDictionary<string, bool> _serving = new(StringComparer.Ordinal);

    public HealthStatusRegistry()
    {
        _serving[string.Empty] = true;
    }

    /// <summary>Sets the status of a service ("" for the whole server); also makes an unknown name known.</summary>
    public void SetStatus(string service, bool serving)
    {
        ArgumentNullException.ThrowIfNull(service);
        _serving[service] = serving;
    }

    /// <summary>False when the service name is unknown.</summary>
    public bool TryGetStatus(string service, out bool serving) => _serving.TryGetValue(service, out serving);

    internal void AddService(string service) => _serving.TryAdd(service, true);
}
