using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;

namespace EntitlementDecision.Grpc.Tests;

/// <summary>Hand-built gRPC requests, to test what GrpcClient would never send.</summary>
internal static class RawGrpc
{
    public const string CheckEntitlementPath = "/entitlements.v1.EntitlementDecisionService/CheckEntitlement";

    public static byte[] Frame(IMessage message) => Frame(message.ToByteArray());

    public static byte[] Frame(byte[] payload, byte flag = 0, int? declaredLength = null)
    {
        var frame = new byte[5 + payload.Length];
        frame[0] = flag;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(1), (uint)(declaredLength ?? payload.Length));
        payload.CopyTo(frame, 5);
        return frame;
    }

    public static async Task<RawResponse> SendAsync(
        HttpClient http, string path, byte[] body, string contentType = "application/grpc",
        HttpMethod? method = null, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Post, path)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        if (method is null || method == HttpMethod.Post)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        request.Headers.TryAddWithoutValidation("te", "trailers");
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        var bytes = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        return new RawResponse(
            response.StatusCode,
            Flatten(response.Headers),
            response.Content.Headers.ContentType?.ToString(),
            bytes,
            Flatten(response.TrailingHeaders));
    }

    private static Dictionary<string, string> Flatten(HttpHeaders headers)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, values) in headers.NonValidated)
        {
            result[key] = values.ToString();
        }

        return result;
    }
}

internal sealed record RawResponse(
    HttpStatusCode HttpStatus,
    Dictionary<string, string> Headers,
    string? ContentType,
    byte[] Body,
    Dictionary<string, string> Trailers)
{
    /// <summary>grpc-status from the trailers, or from the headers of a trailers-only answer.</summary>
    public string? GrpcStatus => Trailers.GetValueOrDefault("grpc-status") ?? Headers.GetValueOrDefault("grpc-status");

    public string? GrpcMessage => Trailers.GetValueOrDefault("grpc-message") ?? Headers.GetValueOrDefault("grpc-message");

    public bool IsTrailersOnly => Body.Length == 0 && Headers.ContainsKey("grpc-status") && Trailers.Count == 0;
}
