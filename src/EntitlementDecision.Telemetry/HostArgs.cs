namespace EntitlementDecision.Telemetry;

/// <summary>Command-line defaults shared by the hosts (the sidecar and the control plane).</summary>
public static class HostArgs
{
    /// <summary>
    /// <paramref name="args"/> plus <c>--hostBuilder:reloadConfigOnChange=false</c>: configuration is read once at start (restart to
    /// change it). Reload-on-change puts a recursive FileSystemWatcher on the content root, which here is the repository (run.sh and
    /// test.sh start the hosts there, next to PostgreSQL's data directory): profiled at 6-9 % of the sidecar's CPU under load.
    /// </summary>
    public static string[] WithoutConfigReload(string[] args) => [.. args, "--hostBuilder:reloadConfigOnChange=false"];
}
