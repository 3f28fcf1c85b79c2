namespace EntitlementDecision.Grpc;

/// <summary>Server limits; read once when the services are mapped.</summary>
public sealed class GrpcServerOptions
{
    /// <summary>Largest accepted request message (after decompression), in bytes. Larger: RESOURCE_EXHAUSTED.</summary>
    public int MaxReceiveMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Largest response message, in bytes. Larger: RESOURCE_EXHAUSTED.</summary>
    public int MaxSendMessageSize { get; set; } = 4 * 1024 * 1024;
}
