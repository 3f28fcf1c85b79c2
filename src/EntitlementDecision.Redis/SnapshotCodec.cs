using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Engine.Decisions;
using EntitlementDecision.Engine.Snapshots;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Proto = EntitlementDecision.Contracts.V1;

namespace EntitlementDecision.Redis;

/// <summary>Maps the domain <see cref="Snapshot"/> to and from its wire form, entitlements.v1.TenantSnapshot (protos/entitlements/v1/snapshot.proto).</summary>
public static class SnapshotCodec
{
    public static byte[] Encode(Snapshot snapshot) => ToProto(snapshot).ToByteArray();

    /// <summary>Encodes with the publishing span's W3C traceparent (trace_parent = 18), which invalidation subscribers read back.</summary>
    public static byte[] Encode(Snapshot snapshot, string? traceParent)
    {
        var proto = ToProto(snapshot);
        proto.TraceParent = traceParent ?? "";
        return proto.ToByteArray();
    }

    /// <summary>Throws <see cref="InvalidProtocolBufferException"/> for bytes that are not a TenantSnapshot.</summary>
    public static Snapshot Decode(ReadOnlySpan<byte> bytes) => FromProto(Proto.TenantSnapshot.Parser.ParseFrom(bytes));

    public static Proto.TenantSnapshot ToProto(Snapshot s)
    {
        var p = new Proto.TenantSnapshot
        {
            TenantId = s.TenantId,
            Environment = s.Environment,
            Version = s.Version,
            PlanId = s.PlanId,
            PlanSource = s.PlanSource switch
            {
                PlanSource.Override => "override",
                PlanSource.Comped => "comped",
                PlanSource.Subscription => "subscription",
                _ => "baseline",
            },
            SubscriptionState = (Proto.SubscriptionState)(int)s.SubscriptionState,
            Comped = s.Comped,
            Suspended = s.Suspended,
            GeneratedAt = Timestamp.FromDateTimeOffset(s.GeneratedAt),
            CatalogVersion = s.CatalogVersion,
        };
        p.CurrentPeriodEnd = ToTimestamp(s.CurrentPeriodEnd);
        p.CurrentPeriodStart = ToTimestamp(s.CurrentPeriodStart);
        p.AccessDeadline = ToTimestamp(s.AccessDeadline);
        p.GraceEndsAt = ToTimestamp(s.GraceEndsAt);
        p.SuspendAt = ToTimestamp(s.SuspendAt);

        foreach (var f in s.Features.Values)
        {
            p.Features.Add(new Proto.FeatureGrant
            {
                FeatureKey = f.FeatureKey,
                Kind = (Proto.FeatureKind)(int)f.Kind,
                Limit = f.Limit,
                ResetPeriod = (Proto.ResetPeriod)(int)f.ResetPeriod,
                Write = f.Write,
                LimitMode = f.IsMetered ? (Proto.LimitMode)(int)f.LimitMode : Proto.LimitMode.Unspecified,
                Unit = f.Unit ?? "",
                Degradation = (Proto.Degradation)(int)f.Degradation,
                MaxStalenessSeconds = f.MaxStalenessSeconds,
            });
        }

        p.InactiveFeatureKeys.AddRange(s.InactiveFeatureKeys);
        return p;
    }

    public static Snapshot FromProto(Proto.TenantSnapshot p) => new(
        p.TenantId,
        p.Environment,
        p.Version,
        p.PlanId,
        p.PlanSource switch
        {
            "override" => PlanSource.Override,
            "comped" => PlanSource.Comped,
            "subscription" => PlanSource.Subscription,
            _ => PlanSource.Baseline,
        },
        p.SubscriptionState == Proto.SubscriptionState.Unspecified ? SubscriptionState.None : (SubscriptionState)(int)p.SubscriptionState,
        p.Comped,
        p.Suspended,
        p.CurrentPeriodEnd?.ToDateTimeOffset(),
        p.GeneratedAt?.ToDateTimeOffset() ?? DateTimeOffset.UnixEpoch,
        p.CatalogVersion,
        p.Features.Select(f => new FeatureGrant(
            f.FeatureKey,
            (FeatureKind)(int)f.Kind,
            f.Limit,
            (ResetPeriod)(int)f.ResetPeriod,
            f.Write,
            f.LimitMode == Proto.LimitMode.Unspecified ? LimitMode.Hard : (LimitMode)(int)f.LimitMode,
            f.Unit.Length == 0 ? null : f.Unit,
            f.Degradation == Proto.Degradation.FailOpen ? Degradation.FailOpen : Degradation.FailClosed,
            f.HasMaxStalenessSeconds ? Math.Max(f.MaxStalenessSeconds, 0) : DegradationPolicy.DefaultMaxStalenessSeconds)),
        p.InactiveFeatureKeys,
        p.CurrentPeriodStart?.ToDateTimeOffset(),
        p.AccessDeadline?.ToDateTimeOffset(),
        p.GraceEndsAt?.ToDateTimeOffset(),
        p.SuspendAt?.ToDateTimeOffset());

    // Timestamps outside 0001..9999 cannot be encoded; a dunning schedule before the epoch is clamped to the epoch (still in the past).
    private static Timestamp? ToTimestamp(DateTimeOffset? value) => value is { } v
        ? Timestamp.FromDateTimeOffset(v < DateTimeOffset.UnixEpoch ? DateTimeOffset.UnixEpoch : v)
        : null;
}
