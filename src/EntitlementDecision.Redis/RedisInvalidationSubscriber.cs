using EntitlementDecision.Engine.Snapshots;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>
/// Subscribes to the invalidation channel. Each message carries a whole snapshot, so a subscriber can apply it
/// without another round trip. Redis pub/sub is at-most-once: messages published while the connection is down
/// are lost, so the onReconnected callback of <see cref="SubscribeAsync"/> lets the caller revalidate what it holds.
/// </summary>
public sealed partial class RedisInvalidationSubscriber(IConnectionMultiplexer redis, ILogger<RedisInvalidationSubscriber> logger)
{
    private static readonly RedisChannel Channel = RedisChannel.Literal(RedisKeys.InvalidationChannel);

    /// <summary>
    /// Subscribes; <paramref name="onLive"/> (optional) is told true once subscribed and whenever the subscription's connection is
    /// restored, false when it fails. Throws when Redis cannot be reached for the first subscribe.
    /// </summary>
    public async Task SubscribeAsync(Action<Snapshot> onSnapshot, Action onReconnected, Action<bool>? onLive = null)
    {
        redis.ConnectionFailed += (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Subscription)
            {
                onLive?.Invoke(false);
            }
        };
        redis.ConnectionRestored += (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Subscription)
            {
                onReconnected();
                onLive?.Invoke(true);
            }
        };
        await redis.GetSubscriber().SubscribeAsync(Channel, (_, message) =>
        {
            Snapshot snapshot;
            try
            {
                snapshot = SnapshotCodec.Decode((byte[])message!);
            }
            catch (InvalidProtocolBufferException e)
            {
                LogUndecodable(logger, e);
                return;
            }

            onSnapshot(snapshot);
        }).ConfigureAwait(false);
        onLive?.Invoke(true);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Ignored an invalidation message that is not a TenantSnapshot")]
    private static partial void LogUndecodable(ILogger logger, Exception exception);
}
