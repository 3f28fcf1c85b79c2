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
    public async Task SubscribeAsync(Action<Snapshot> onSnapshot, Action onReconnected)
    {
        redis.ConnectionRestored += (_, e) =>
        {
            if (e.ConnectionType == ConnectionType.Subscription)
            {
                onReconnected();
            }
        };
        await redis.GetSubscriber().SubscribeAsync(RedisKeys.InvalidationChannel, (_, message) =>
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
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Ignored an invalidation message that is not a TenantSnapshot")]
    private static partial void LogUndecodable(ILogger logger, Exception exception);
}
