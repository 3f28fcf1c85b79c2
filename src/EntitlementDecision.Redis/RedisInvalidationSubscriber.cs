using EntitlementDecision.Engine.Snapshots;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace EntitlementDecision.Redis;

/// <summary>
/// Subscribes to every shard's invalidation channel (sharded pub/sub: SSUBSCRIBE, routed by the client to the node that owns
/// the channel's slot on a Redis Cluster). Each message carries a whole snapshot, so a subscriber can apply it without another
/// round trip. Redis pub/sub is at-most-once: messages published while the connection is down are lost, so the onReconnected
/// callback of SubscribeAsync lets the caller revalidate what it holds.
/// </summary>
public sealed partial class RedisInvalidationSubscriber(IConnectionMultiplexer redis, ILogger<RedisInvalidationSubscriber> logger)
{
    private static readonly RedisChannel[] Channels =
        [.. Enumerable.Range(0, RedisKeys.Shards).Select(shard => RedisChannel.Sharded(RedisKeys.InvalidationChannel(shard)))];

    /// <summary>
    /// Subscribes; <paramref name="onLive"/> (optional) is told true once subscribed and whenever the subscription's connection is
    /// restored, false when it fails. Throws when Redis cannot be reached for the first subscribe.
    /// </summary>
    public Task SubscribeAsync(Action<Snapshot> onSnapshot, Action onReconnected, Action<bool>? onLive = null) =>
        SubscribeAsync((snapshot, _) => onSnapshot(snapshot), onReconnected, onLive);

    /// <summary>As above; <paramref name="onSnapshot"/> also gets the publisher's W3C traceparent (null when the message has none).</summary>
    public async Task SubscribeAsync(Action<Snapshot, string?> onSnapshot, Action onReconnected, Action<bool>? onLive = null)
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
        var subscriber = redis.GetSubscriber();
        await Task.WhenAll(Channels.Select(channel => subscriber.SubscribeAsync(channel, (_, message) =>
        {
            Snapshot snapshot;
            string? traceParent;
            try
            {
                var proto = Contracts.V1.TenantSnapshot.Parser.ParseFrom((byte[])message!);
                snapshot = SnapshotCodec.FromProto(proto);
                traceParent = proto.TraceParent is { Length: > 0 } parent ? parent : null;
            }
            catch (InvalidProtocolBufferException e)
            {
                LogUndecodable(logger, e);
                return;
            }

            onSnapshot(snapshot, traceParent);
        }))).ConfigureAwait(false);
        onLive?.Invoke(true);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Ignored an invalidation message that is not a TenantSnapshot")]
    private static partial void LogUndecodable(ILogger logger, Exception exception);
}
