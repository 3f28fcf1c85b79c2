using System.Net;
using EntitlementDecision.Grpc.Internal;

namespace EntitlementDecision.Grpc.Tests;

public sealed class GrpcTimeoutTests
{
    [Theory]
    [InlineData("1H", 36_000_000_000L)]
    [InlineData("2M", 1_200_000_000L)]
    [InlineData("3S", 30_000_000L)]
    [InlineData("200m", 2_000_000L)]
    [InlineData("5u", 50L)]
    [InlineData("100n", 1L)]
    [InlineData("1n", 1L)] // rounded up to one tick, never "no time at all"
    [InlineData("0m", 0L)]
    [InlineData("99999999H", 99_999_999L * 36_000_000_000L)]
    public void TryParse_EveryUnit_ParsesTicks(string value, long expectedTicks)
    {
        Assert.True(GrpcTimeout.TryParse(value, out var timeout));
        Assert.Equal(expectedTicks, timeout.Ticks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("m")]
    [InlineData("123")]
    [InlineData("123456789S")] // more than 8 digits
    [InlineData("12x")]
    [InlineData("-1S")]
    [InlineData("1.5S")]
    [InlineData(" 1S")]
    [InlineData("1s")] // units are case-sensitive: 's' is not a unit
    public void TryParse_Malformed_False(string value)
    {
        Assert.False(GrpcTimeout.TryParse(value, out _));
    }

    [Theory]
    [InlineData(200 * TimeSpan.TicksPerMillisecond, "200000u")]
    [InlineData(1L, "100n")]
    [InlineData(TimeSpan.TicksPerDay, "86400000m")]
    [InlineData(2 * TimeSpan.TicksPerDay, "172800S")]
    public void Format_UsesFinestUnitFittingEightDigits(long ticks, string expected)
    {
        Assert.Equal(expected, GrpcTimeout.Format(TimeSpan.FromTicks(ticks)));
    }

    [Theory]
    [InlineData(1L)]
    [InlineData(12_345L)]
    [InlineData(TimeSpan.TicksPerSecond * 7 + 3)]
    [InlineData(TimeSpan.TicksPerDay * 400)]
    public void Format_ThenParse_NeverShorter(long ticks)
    {
        Assert.True(GrpcTimeout.TryParse(GrpcTimeout.Format(TimeSpan.FromTicks(ticks)), out var parsed));
        Assert.True(parsed.Ticks >= ticks);
    }
}

public sealed class PercentEncodingTests
{
    [Theory]
    [InlineData("tenant_id must not be empty: ü%", "tenant_id must not be empty: %C3%BC%25")]
    [InlineData("line\nbreak", "line%0Abreak")]
    [InlineData("日本", "%E6%97%A5%E6%9C%AC")]
    [InlineData("tab\there~", "tab%09here~")]
    public void Encode_NonPrintableAndPercent_Escaped(string value, string expected)
    {
        Assert.Equal(expected, PercentEncoding.Encode(value));
        Assert.Equal(value, PercentEncoding.Decode(expected));
    }

    [Fact]
    public void Encode_PrintableAscii_ReturnsSameInstance()
    {
        var value = "Deadline Exceeded: all printable ASCII !\"#$&'()*+,-./~";

        Assert.Same(value, PercentEncoding.Encode(value));
    }

    [Theory]
    [InlineData("100%", "100%")]
    [InlineData("%zz", "%zz")]
    [InlineData("%4", "%4")]
    [InlineData("%c3%bc", "ü")]
    public void Decode_InvalidOrLowerCaseSequences_Lenient(string value, string expected)
    {
        Assert.Equal(expected, PercentEncoding.Decode(value));
    }
}

public sealed class FramingTests
{
    [Fact]
    public void WriteHeader_BigEndianLengthAndFlag()
    {
        var header = new byte[5];

        GrpcProtocol.WriteHeader(header, compressed: true, 0x01020304);

        Assert.Equal(new byte[] { 1, 1, 2, 3, 4 }, header);
        GrpcProtocol.ReadHeader(header, out var flag, out var length);
        Assert.Equal(1, flag);
        Assert.Equal(0x01020304u, length);
    }

    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("application/grpc;charset=utf-8", true)]
    [InlineData("APPLICATION/GRPC", true)]
    [InlineData("application/grpc-web", false)]
    [InlineData("application/grpcx", false)]
    [InlineData("application/json", false)]
    [InlineData(null, false)]
    public void IsGrpcContentType_OnlyGrpcAndItsCodecs(string? contentType, bool expected)
    {
        Assert.Equal(expected, GrpcProtocol.IsGrpcContentType(contentType));
    }

    [Fact]
    public void StatusToString_DefinedAndUndefinedCodes()
    {
        Assert.Equal("0", GrpcProtocol.StatusToString(StatusCode.OK));
        Assert.Equal("16", GrpcProtocol.StatusToString(StatusCode.Unauthenticated));
        Assert.Equal("42", GrpcProtocol.StatusToString((StatusCode)42));
    }
}

public sealed class StatusMappingTests
{
    [Fact]
    public void RpcException_KeepsStatusAndDetail()
    {
        var status = GrpcStatusMapper.Map(new RpcException(StatusCode.NotFound, "nope"), deadlineExceeded: true, clientCancelled: false, out var detail, out var unexpected);

        Assert.Equal(StatusCode.NotFound, status);
        Assert.Equal("nope", detail);
        Assert.False(unexpected);
    }

    [Fact]
    public void Cancellation_AfterDeadline_DeadlineExceeded()
    {
        var status = GrpcStatusMapper.Map(new TaskCanceledException(), deadlineExceeded: true, clientCancelled: false, out _, out var unexpected);

        Assert.Equal(StatusCode.DeadlineExceeded, status);
        Assert.False(unexpected);
    }

    [Fact]
    public void Cancellation_ByClient_Cancelled()
    {
        var status = GrpcStatusMapper.Map(new OperationCanceledException(), deadlineExceeded: false, clientCancelled: true, out _, out _);

        Assert.Equal(StatusCode.Cancelled, status);
    }

    [Fact]
    public void OtherException_UnknownGenericDetail()
    {
        var status = GrpcStatusMapper.Map(new InvalidOperationException("secret"), deadlineExceeded: false, clientCancelled: false, out var detail, out var unexpected);

        Assert.Equal(StatusCode.Unknown, status);
        Assert.DoesNotContain("secret", detail, StringComparison.Ordinal);
        Assert.True(unexpected);
    }

    [Fact]
    public void CancellationWithoutDeadlineOrClientReset_Unknown()
    {
        var status = GrpcStatusMapper.Map(new OperationCanceledException(), deadlineExceeded: false, clientCancelled: false, out _, out var unexpected);

        Assert.Equal(StatusCode.Unknown, status);
        Assert.True(unexpected);
    }

    [Theory]
    [InlineData(HttpStatusCode.BadRequest, StatusCode.Internal)]
    [InlineData(HttpStatusCode.Unauthorized, StatusCode.Unauthenticated)]
    [InlineData(HttpStatusCode.Forbidden, StatusCode.PermissionDenied)]
    [InlineData(HttpStatusCode.NotFound, StatusCode.Unimplemented)]
    [InlineData(HttpStatusCode.TooManyRequests, StatusCode.Unavailable)]
    [InlineData(HttpStatusCode.ServiceUnavailable, StatusCode.Unavailable)]
    [InlineData(HttpStatusCode.InternalServerError, StatusCode.Unknown)]
    public void ClientMapsHttpStatus_PerSpec(HttpStatusCode http, StatusCode expected)
    {
        Assert.Equal(expected, GrpcClient.MapHttpStatus(http));
    }
}
