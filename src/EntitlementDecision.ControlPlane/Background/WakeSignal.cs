using System.Threading.Channels;

namespace EntitlementDecision.ControlPlane.Background;

/// <summary>
/// In-process wake-up of a background worker that otherwise polls: writers call <see cref="Notify"/> right after committing work
/// for it, so it runs at once instead of at its next poll. Coalesces: many notifications before the worker wakes are one wake-up.
/// Each worker has its own subclass, so each is a distinct singleton in DI.
/// </summary>
internal abstract class WakeSignal
{
    private readonly Channel<byte> _channel = Channel.CreateBounded<byte>(new BoundedChannelOptions(1)
    {
        FullMode = BoundedChannelFullMode.DropWrite,
        SingleReader = true,
    });

    public void Notify() => _channel.Writer.TryWrite(0);

    /// <summary>Completes when notified or after <paramref name="timeout"/> (the poll interval); drains the pending notification.</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await _channel.Reader.WaitToReadAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // the poll interval elapsed
        }

        _channel.Reader.TryRead(out _);
    }
}
