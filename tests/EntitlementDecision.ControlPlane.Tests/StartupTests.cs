namespace EntitlementDecision.ControlPlane.Tests;

public sealed class StartupTests
{
    // Validation must fail before anything touches a database: point at one that does not exist.
    private static readonly string NeverCreated = new Npgsql.NpgsqlConnectionStringBuilder(TestServices.Postgres) { Database = "ed_test_never_created" }.ConnectionString;

    [Theory]
    [InlineData("STRIPE_WEBHOOK_SECRET")]
    [InlineData("STRIPE_API_KEY")]
    [InlineData("ED_TOKEN_SIGNING_KEY")]
    [InlineData("ED_REDIS")]
    public void MissingRequiredVariable_FailsStartup_NamingIt(string variable)
    {
        var settings = ControlPlaneFactory.DefaultSettings(NeverCreated);
        settings[variable] = null;
        using var factory = new ControlPlaneFactory(settings);
        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        Assert.Contains(variable, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ShortSigningKey_FailsStartup_NamingIt()
    {
        var settings = ControlPlaneFactory.DefaultSettings(NeverCreated);
        settings["ED_TOKEN_SIGNING_KEY"] = "too-short";
        using var factory = new ControlPlaneFactory(settings);
        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());
        Assert.Contains("ED_TOKEN_SIGNING_KEY is too short", error.ToString(), StringComparison.Ordinal);
    }
}
