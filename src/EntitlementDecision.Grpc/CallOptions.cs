namespace EntitlementDecision.Grpc;

/// <summary>Per-call options of <see cref="GrpcClient"/>.</summary>
/// <param name="Timeout">Sent as grpc-timeout; the call fails with DEADLINE_EXCEEDED when it elapses.</param>
/// <param name="Headers">Request metadata (ASCII values; lower-case keys).</param>
public readonly record struct CallOptions(TimeSpan? Timeout = null, IReadOnlyDictionary<string, string>? Headers = null);
