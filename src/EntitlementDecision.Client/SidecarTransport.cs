using System.Net.Sockets;

namespace EntitlementDecision.Client;

/// <summary>
/// How the client reaches the sidecar: <c>http://host:port</c> is h2c over TCP; <c>unix:/path/to/sidecar.sock</c> is h2c over a Unix
/// domain socket (a product container in the sidecar's pod, sharing a volume, skips TCP), per grpc-dotnet's "Inter-process
/// communication with gRPC and Unix domain sockets". Anything else: <see cref="ArgumentException"/>.
/// </summary>
internal static class SidecarTransport
{
    // The authority gRPC sends over the socket; the socket path decides where the call goes.
    private static readonly Uri UnixChannelAddress = new("http://localhost");

    public static bool IsUnix(Uri address) => address.Scheme == "unix";

    /// <summary>The address to give the gRPC channel: the TCP address itself, or http://localhost for a socket.</summary>
    public static Uri ChannelAddress(Uri address) =>
        IsUnix(address) ? UnixChannelAddress
        : address.Scheme == Uri.UriSchemeHttp ? address
        : throw new ArgumentException($"the sidecar address must be http://host:port or unix:/path, got '{address}'", nameof(address));

    /// <summary>The HTTP/2 handler: one pooled connection set, never idled out; for a socket, connections open on its path.</summary>
    public static SocketsHttpHandler Handler(Uri address)
    {
        var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan };
        if (IsUnix(address))
        {
            var endpoint = new UnixDomainSocketEndPoint(address.AbsolutePath);
            handler.ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }

        return handler;
    }
}
