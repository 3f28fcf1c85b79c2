namespace EntitlementDecision.Sidecar.Tests;

/// <summary>The sidecar's environment: defaults, and start-up errors that name the variable.</summary>
public sealed class SidecarOptionsTests
{
    private static SidecarOptions Read(params (string Name, string Value)[] variables)
    {
        var env = variables.ToDictionary(v => v.Name, v => v.Value);
        return SidecarOptions.FromEnvironment(name => env.GetValueOrDefault(name));
    }

    [Fact]
    public void OnlyRedis_Defaults()
    {
        var o = Read(("ED_REDIS", "127.0.0.1:6379"));

        Assert.Equal(("http://127.0.0.1:50051", TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(5), (string?)null), (o.Url, o.NegativeCacheTtl, o.MaxClockSkew, o.ResponseCompression));
    }

    [Fact]
    public void ResponseCompressionGzip_Taken()
    {
        Assert.Equal("gzip", Read(("ED_REDIS", "r:1"), ("ED_SIDECAR_RESPONSE_COMPRESSION", "gzip")).ResponseCompression);
    }

    [Theory]
    [InlineData("ED_SIDECAR_RESPONSE_COMPRESSION", "brotli")]
    [InlineData("ED_SIDECAR_NEGATIVE_CACHE_MS", "-1")]
    [InlineData("ED_SIDECAR_URL", "https://127.0.0.1:1")]
    public void BadValue_FailsNamingTheVariable(string name, string value)
    {
        var e = Assert.Throws<InvalidOperationException>(() => Read(("ED_REDIS", "r:1"), (name, value)));

        Assert.Contains(name, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NoRedis_FailsNamingEdRedis()
    {
        Assert.Contains("ED_REDIS", Assert.Throws<InvalidOperationException>(() => Read()).Message, StringComparison.Ordinal);
    }
}
