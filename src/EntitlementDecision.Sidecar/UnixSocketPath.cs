using System.Net.Sockets;

namespace EntitlementDecision.Sidecar;

/// <summary>The socket file of ED_SIDECAR_URL=unix:/path before Kestrel binds it.</summary>
internal static class UnixSocketPath
{
    /// <summary>
    /// Removes a stale socket file (left by a sidecar that was killed: nothing accepts on it), so the bind succeeds; throws
    /// <see cref="InvalidOperationException"/> when a live server still answers there, or the path is not a socket.
    /// </summary>
    public static void ClaimOrThrow(string path)
    {
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path) ?? "/");
            return;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            File.Delete(path); // a socket nobody listens on
            return;
        }
        catch (SocketException e)
        {
            throw new InvalidOperationException($"ED_SIDECAR_URL: '{path}' exists and is not a usable socket ({e.SocketErrorCode}); remove it or choose another path", e);
        }

        throw new InvalidOperationException($"ED_SIDECAR_URL: another process already serves on '{path}'; stop it or choose another path");
    }
}
