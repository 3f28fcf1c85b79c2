using EntitlementDecision.ControlPlane.Configuration;
using EntitlementDecision.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace EntitlementDecision.ControlPlane.Snapshots;

/// <summary>
/// The one Redis connection of the process (StackExchange.Redis), opened asynchronously on first use with
/// AbortOnConnectFail=false so a Redis that is down at start-up is retried in the background rather than failing the host.
/// </summary>
internal sealed class RedisConnection(IOptions<ControlPlaneOptions> options) : IAsyncDisposable
{
    private readonly Lazy<Task<ConnectionMultiplexer>> _connection = new(() => ConnectAsync(options.Value.Redis!));

    public Task<ConnectionMultiplexer> GetAsync() => _connection.Value;

    /// <summary>A snapshot store on the shared connection.</summary>
    public async Task<RedisSnapshotStore> GetStoreAsync() => new(await GetAsync().ConfigureAwait(false));

    private static Task<ConnectionMultiplexer> ConnectAsync(string configuration)
    {
        var config = ConfigurationOptions.Parse(configuration);
        config.AbortOnConnectFail = false;
        return ConnectionMultiplexer.ConnectAsync(config);
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection.IsValueCreated)
        {
            try
            {
                var connection = await _connection.Value.ConfigureAwait(false);
                await connection.CloseAsync().ConfigureAwait(false);
                connection.Dispose();
            }
            catch (Exception e) when (e is RedisException or TimeoutException)
            {
                // closing a connection that never worked
            }
        }
    }
}
