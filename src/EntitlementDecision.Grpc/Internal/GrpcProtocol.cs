using System.Buffers.Binary;

namespace EntitlementDecision.Grpc.Internal;

/// <summary>Wire constants and the length-prefixed message framing of PROTOCOL-HTTP2.md.</summary>
internal static class GrpcProtocol
{
    public const string ContentType = "application/grpc";
    public const string AcceptEncoding = "identity,gzip";
    public const string StatusHeader = "grpc-status";
    public const string MessageHeader = "grpc-message";
    public const string EncodingHeader = "grpc-encoding";
    public const string AcceptEncodingHeader = "grpc-accept-encoding";
    public const string TimeoutHeader = "grpc-timeout";
    public const string IdentityEncoding = "identity";
    public const string GzipEncoding = "gzip";

    /// <summary>Compressed-Flag (1 byte) + Message-Length (4 bytes, big-endian).</summary>
    public const int HeaderSize = 5;

    private static readonly string[] StatusStrings = CreateStatusStrings();

    /// <summary>The grpc-status value for a code, without allocating for the 17 defined codes.</summary>
    public static string StatusToString(StatusCode status)
    {
        var index = (int)status;
        return (uint)index < (uint)StatusStrings.Length ? StatusStrings[index] : index.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public static void WriteHeader(Span<byte> destination, bool compressed, int length)
    {
        destination[0] = compressed ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(1, 4), (uint)length);
    }

    /// <summary>Reads a frame header from the first 5 bytes of <paramref name="header"/>.</summary>
    public static void ReadHeader(ReadOnlySpan<byte> header, out byte compressedFlag, out uint length)
    {
        compressedFlag = header[0];
        length = BinaryPrimitives.ReadUInt32BigEndian(header.Slice(1, 4));
    }

    /// <summary>
    /// True when content-type is "application/grpc", optionally followed by "+codec" or ";params"
    /// ("application/grpc-web" is a different protocol and does not match).
    /// </summary>
    public static bool IsGrpcContentType(string? contentType)
    {
        if (contentType is null || !contentType.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (contentType.Length == ContentType.Length)
        {
            return true;
        }

        var next = contentType[ContentType.Length];
        return next is '+' or ';';
    }

    private static string[] CreateStatusStrings()
    {
        var strings = new string[17];
        for (var i = 0; i < strings.Length; i++)
        {
            strings[i] = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return strings;
    }
}
