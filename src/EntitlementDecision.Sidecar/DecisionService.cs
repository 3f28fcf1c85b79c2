using EntitlementDecision.Contracts.V1;
using EntitlementDecision.Engine;
using EntitlementDecision.Engine.Decisions;
using EntitlementDecision.Engine.Snapshots;
using EntitlementDecision.Engine.Usage;
using EntitlementDecision.Redis;
using EntitlementDecision.Sidecar.DecisionLog;
using System.Diagnostics;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using FallbackCause = EntitlementDecision.Engine.Decisions.FallbackCause;
using Proto = EntitlementDecision.Contracts.V1;

namespace EntitlementDecision.Sidecar;

/// <summary>Where the decision service reads snapshots from, with their freshness (<see cref="SnapshotCache"/> in the host).</summary>
internal interface ISnapshotReader : ISnapshotSource
{
    /// <summary>See <see cref="SnapshotCache.ReadAsync"/>: minVersion > 0 waits for that version or throws <see cref="SnapshotVersionNotReachedException"/>.</summary>
    ValueTask<HeldSnapshot> ReadAsync(TenantKey tenant, long minVersion, TimeSpan maxWait, CancellationToken cancellationToken);
}

/// <summary>
/// entitlements.v1.EntitlementDecisionService on Grpc.AspNetCore: decisions from the in-process snapshot (<see cref="SnapshotCache"/>),
/// metered usage from the Redis counters. Denials are answers; bad calls are INVALID_ARGUMENT naming the field. When the answer
/// cannot be confirmed (snapshot unconfirmed, usage count unreadable) the feature's <see cref="DegradationPolicy"/> answers, flagged.
/// An unreachable store for an uncached tenant, or for RecordUsage, surfaces as <see cref="StoreUnavailableException"/>, which
/// <see cref="StoreFailureInterceptor"/> answers UNAVAILABLE (metered writes always fail closed).
/// Every answered check (each of a batch too) is offered to the <see cref="DecisionLogWriter"/> when there is one.
/// </summary>
internal sealed class DecisionService(
    ISnapshotReader snapshots, IUsageCounter usage, SidecarOptions options, TimeProvider time, DecisionLogWriter? decisionLog = null,
    SidecarMetrics? metrics = null)
    : Proto.EntitlementDecisionService.EntitlementDecisionServiceBase
{
    private readonly UsageRecorder _recorder = new(usage, options.MaxClockSkew);

    /// <summary>The documented maximum number of checks in one CheckEntitlements call.</summary>
    public const int MaxBatchChecks = 100;

    public override Task<CheckEntitlementResponse> CheckEntitlement(CheckEntitlementRequest request, ServerCallContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var environment = Validate(request, "");
        var check = CheckAsync(request, environment, VersionWait(request, context), context);
        if (check.IsCompletedSuccessfully)
        {
            metrics?.Duration(nameof(CheckEntitlement), started);
            return Task.FromResult(check.Result);
        }

        return metrics is null ? check.AsTask() : TimedAsync(check, nameof(CheckEntitlement), started);
    }

    private async Task<CheckEntitlementResponse> TimedAsync(ValueTask<CheckEntitlementResponse> check, string method, long started)
    {
        try
        {
            return await check.ConfigureAwait(false);
        }
        finally
        {
            metrics!.Duration(method, started);
        }
    }

    public override async Task<CheckEntitlementsResponse> CheckEntitlements(CheckEntitlementsRequest request, ServerCallContext context)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            return await CheckBatchAsync(request, context).ConfigureAwait(false);
        }
        finally
        {
            metrics?.Duration(nameof(CheckEntitlements), started);
        }
    }

    private async Task<CheckEntitlementsResponse> CheckBatchAsync(CheckEntitlementsRequest request, ServerCallContext context)
    {
        var checks = request.Checks;
        if (checks.Count is 0 or > MaxBatchChecks)
        {
            throw CheckValidation.Invalid($"checks must hold 1..{MaxBatchChecks} entries, got {checks.Count}");
        }

        var environments = new string[checks.Count];
        for (var i = 0; i < checks.Count; i++)
        {
            environments[i] = Validate(checks[i], $"checks[{i}].");
        }

        // Start every check before awaiting any: the Redis reads of L1 misses and metered checks go out pipelined on the
        // multiplexer instead of one round trip after another; answers keep request order.
        var pending = new ValueTask<CheckEntitlementResponse>[checks.Count];
        for (var i = 0; i < checks.Count; i++)
        {
            pending[i] = CheckAsync(checks[i], environments[i], VersionWait(checks[i], context), context);
        }

        var response = new CheckEntitlementsResponse();
        for (var i = 0; i < pending.Length; i++)
        {
            response.Results.Add(await pending[i].ConfigureAwait(false));
        }

        return response;
    }

    /// <summary>
    /// RecordUsage through the shared <see cref="UsageRecorder"/> (the same validation and Lua script as the control plane's batch
    /// ingestion). An invalid event is INVALID_ARGUMENT naming the field; an unreachable store UNAVAILABLE; every other outcome an answer.
    /// </summary>
    public override async Task<RecordUsageResponse> RecordUsage(RecordUsageRequest request, ServerCallContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var outcome = "unavailable";
        try
        {
            var response = await RecordAsync(request, context).ConfigureAwait(false);
            outcome = response.Duplicate ? "duplicate" : response.Accepted ? "accepted" : SidecarMetrics.ReasonLabel((int)response.Reason);
            return response;
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.InvalidArgument)
        {
            outcome = "invalid";
            throw;
        }
        finally
        {
            metrics?.Usage(outcome);
            metrics?.Duration(nameof(RecordUsage), started);
        }
    }

    private async Task<RecordUsageResponse> RecordAsync(RecordUsageRequest request, ServerCallContext context)
    {
        var now = time.GetUtcNow();
        DateTimeOffset? at = null;
        if (request.Timestamp is { } timestamp)
        {
            try
            {
                at = timestamp.ToDateTimeOffset();
            }
            catch (InvalidOperationException)
            {
                // Seconds outside 0001-01-01..9999-12-31 or nanos outside 0..999999999: a bad call, not an internal error.
                throw CheckValidation.Invalid("timestamp is not a valid time");
            }
        }

        var usageEvent = new UsageEvent(
            request.TenantId,
            request.Environment,
            request.FeatureKey,
            request.Quantity,
            request.EventId,
            at,
            request.Service,
            request.Unit,
            request.RequestId,
            request.TraceId,
            request.SourceDigest);
        if (_recorder.Validate(usageEvent, now, out var normalized) is { } error)
        {
            throw CheckValidation.Invalid(error.Message);
        }

        var snapshot = await snapshots.GetAsync(new TenantKey(normalized.Environment, normalized.TenantId), context.CancellationToken).ConfigureAwait(false);
        var result = await _recorder.RecordAsync(snapshot, normalized, UsageOrigin.Grpc, now, context.CancellationToken).ConfigureAwait(false);
        if (result.Status == UsageRecordStatus.Invalid)
        {
            throw CheckValidation.Invalid(result.Error!.Message);
        }

        var response = new RecordUsageResponse
        {
            Accepted = result.Accepted,
            Duplicate = result.Status == UsageRecordStatus.Duplicate,
            Reason = (Proto.DecisionReason)(int)result.Reason,
        };
        if (result.Window is { } window)
        {
            response.Used = result.Used;
            response.Limit = result.Limit;
            response.Remaining = result.Remaining;
            response.OverLimit = result.OverLimit;
            response.Overage = result.Overage;
            response.LimitMode = (Proto.LimitMode)(int)result.LimitMode;
            response.WindowEnd = Timestamp.FromDateTimeOffset(window.End);
            response.Undeclared = result.Undeclared;
        }

        return response;
    }

    private static string Validate(CheckEntitlementRequest request, string prefix)
    {
        CheckValidation.RequireIdentifier(request.TenantId, prefix + "tenant_id");
        var environment = CheckValidation.Environment(request.Environment);
        CheckValidation.RequireIdentifier(request.FeatureKey, prefix + "feature_key");
        if (request.RequestedQuantity < 0)
        {
            throw CheckValidation.Invalid(prefix + "requested_quantity must be >= 0");
        }

        if (request.MinSnapshotVersion < 0)
        {
            throw CheckValidation.Invalid(prefix + "min_snapshot_version must be >= 0");
        }

        return environment;
    }

    /// <summary>
    /// How long a check with min_snapshot_version may wait for it: ED_SIDECAR_MAX_VERSION_WAIT_MS, cut to half of what is left of the
    /// call's deadline so that FAILED_PRECONDITION reaches the caller before its deadline does (else it would see DEADLINE_EXCEEDED).
    /// </summary>
    private TimeSpan VersionWait(CheckEntitlementRequest request, ServerCallContext context)
    {
        if (request.MinSnapshotVersion == 0)
        {
            return TimeSpan.Zero;
        }

        if (context.Deadline == DateTime.MaxValue)
        {
            return options.MaxVersionWait;
        }

        var left = (context.Deadline - DateTime.UtcNow) * 0.5; // wall-clock deadline; half leaves room for a loaded machine
        return left < options.MaxVersionWait ? (left > TimeSpan.Zero ? left : TimeSpan.Zero) : options.MaxVersionWait;
    }

    private ValueTask<CheckEntitlementResponse> CheckAsync(CheckEntitlementRequest request, string environment, TimeSpan versionWait, ServerCallContext context)
    {
        var check = DecideAsync(request, environment, versionWait, context.CancellationToken);
        return decisionLog is null ? check : LoggedAsync(check, request, environment, TraceIdOf(context), context.CancellationToken);
    }

    private static string? TraceParentHeader(ServerCallContext context)
    {
        try
        {
            return context.GetHttpContext().Request.Headers["traceparent"].ToString();
        }
        catch (InvalidOperationException)
        {
            return context.RequestHeaders.GetValue("traceparent"); // a context outside Grpc.AspNetCore (unit tests)
        }
    }

    /// <summary>The call's W3C trace id: the current span's, else the caller's <c>traceparent</c> header (inbound spans are off by default).</summary>
    internal static string? TraceIdOf(ServerCallContext context)
    {
        if (Activity.Current is { IdFormat: ActivityIdFormat.W3C } activity)
        {
            return activity.TraceId.ToHexString();
        }

        // traceparent: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>
        // Read from the HTTP request when there is one: ServerCallContext.RequestHeaders builds a Metadata copy of every header per call.
        var parent = TraceParentHeader(context);
        return parent is { Length: 55 } && parent[2] == '-' && parent[35] == '-'
            && ActivityContext.TryParse(parent, null, out var remote) ? remote.TraceId.ToHexString() : null;
    }

    // Completes synchronously when the check and the log's queue do (no allocation); calls that end in an error log nothing.
    private async ValueTask<CheckEntitlementResponse> LoggedAsync(
        ValueTask<CheckEntitlementResponse> check, CheckEntitlementRequest request, string environment, string? traceId, CancellationToken cancellationToken)
    {
        var response = await check.ConfigureAwait(false);
        await decisionLog!.RecordAsync(DecisionRecord.Of(time.GetUtcNow(), request, environment, response, traceId), cancellationToken).ConfigureAwait(false);
        return response;
    }

    private async ValueTask<CheckEntitlementResponse> DecideAsync(CheckEntitlementRequest request, string environment, TimeSpan versionWait, CancellationToken cancellationToken)
    {
        var tenant = new TenantKey(environment, request.TenantId);
        var read = snapshots.ReadAsync(tenant, request.MinSnapshotVersion, versionWait, cancellationToken);
        var held = read.IsCompletedSuccessfully ? read.Result : await read.ConfigureAwait(false);
        var fromMemory = !held.Loaded;
        var snapshot = held.Snapshot;
        var now = time.GetUtcNow();
        if (snapshot is not null && Evaluator.NeedsUsage(snapshot, request.FeatureKey, now, out var grant))
        {
            long used;
            try
            {
                used = await usage.GetUsedAsync(tenant, request.FeatureKey, QuotaWindow.For(snapshot, grant, now), cancellationToken).ConfigureAwait(false);
            }
            catch (StoreUnavailableException e) when (e.Store is StoreKind.Usage or StoreKind.UsageRebuilding)
            {
                var cause = e.Store == StoreKind.UsageRebuilding ? FallbackCause.CountersRebuilding : FallbackCause.UsageUnavailable;
                return Answer(request, DegradationPolicy.WithoutUsage(
                    Evaluator.Evaluate(snapshot, request.FeatureKey, request.RequestedQuantity, 0, now), grant, cause, held.UnconfirmedFor), fromMemory);
            }

            return Answer(request, Decide(held, request, used, now), fromMemory);
        }

        return Answer(request, Decide(held, request, 0, now), fromMemory);
    }

    private CheckEntitlementResponse Answer(CheckEntitlementRequest request, in Decision decision, bool fromMemory)
    {
        metrics?.Decided(request.FeatureKey, decision, fromMemory);
        return ToResponse(decision);
    }

    private static Decision Decide(in HeldSnapshot held, CheckEntitlementRequest request, long used, DateTimeOffset now)
    {
        var decision = Evaluator.Evaluate(held.Snapshot, request.FeatureKey, request.RequestedQuantity, used, now);
        return held is { Snapshot: { } snapshot, UnconfirmedFor: { } age }
            ? DegradationPolicy.Unconfirmed(decision, snapshot, request.FeatureKey, age)
            : decision;
    }

    internal static CheckEntitlementResponse ToResponse(in Decision decision)
    {
        var response = new CheckEntitlementResponse
        {
            Allowed = decision.Allowed,
            Reason = (Proto.DecisionReason)(int)decision.Reason,
            SnapshotVersion = decision.SnapshotVersion,
            PlanId = decision.PlanId,
            Metered = decision.Metered,
        };
        if (decision.Fallback != FallbackCause.None)
        {
            response.Fallback = true;
            response.FallbackCause = (Proto.FallbackCause)(int)decision.Fallback;
            response.SnapshotAgeMs = decision.SnapshotAgeMs;
        }

        if (decision.Access.Mode != 0)
        {
            response.AccessMode = (Proto.AccessMode)(int)decision.Access.Mode;
            if (decision.Access.Deadline is { } deadline)
            {
                response.AccessDeadline = Timestamp.FromDateTimeOffset(deadline);
            }
        }

        if (decision.Metered)
        {
            response.LimitMode = (Proto.LimitMode)(int)decision.LimitMode;
            response.OverLimit = decision.OverLimit;
            response.Overage = decision.Overage;
            response.Limit = decision.Limit;
            response.Used = decision.Used;
            response.Remaining = decision.Remaining;
            if (decision.ResetsAt is { } resetsAt)
            {
                response.ResetsAt = Timestamp.FromDateTimeOffset(resetsAt);
            }
        }

        return response;
    }
}
