
namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>
/// Start-up validation, on the real executable (a child process): WebApplicationFactory cannot observe a host that fails in
/// RunAsync reliably (it races the disposal of the failed host), and the process is what operators run anyway.
/// </summary>
public sealed class StartupTests
{
    // Validation must fail before anything touches a database: point at one that does not exist.
    private static readonly string NeverCreated = new Npgsql.NpgsqlConnectionStringBuilder(TestServices.Postgres) { Database = "ed_test_never_created" }.ConnectionString;

    private static readonly string[] Variables =
        ["STRIPE_WEBHOOK_SECRET", "STRIPE_API_KEY", "ED_TOKEN_SIGNING_KEY", "ED_POSTGRES", "ED_REDIS", "ED_CONTROLPLANE_URL", "ED_CATALOG_PATH"];

    [Theory]
    [InlineData("STRIPE_WEBHOOK_SECRET")]
    [InlineData("STRIPE_API_KEY")]
    [InlineData("ED_TOKEN_SIGNING_KEY")]
    [InlineData("ED_POSTGRES")]
    [InlineData("ED_REDIS")]
    public async Task MissingRequiredVariable_FailsStartup_NamingIt(string variable)
    {
        var settings = ControlPlaneFactory.DefaultSettings(NeverCreated);
        settings[variable] = null;
        var (exitCode, output) = await RunAsync(settings);
        Assert.NotEqual(0, exitCode);
        Assert.Contains($"{variable} is required", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ED_WEBHOOK_REREAD", "sometimes", "ED_WEBHOOK_REREAD must be 'on' or 'off'")]
    [InlineData("ED_WEBHOOK_MAX_ATTEMPTS", "0", "ED_WEBHOOK_MAX_ATTEMPTS must be at least 1")]
    [InlineData("ED_WEBHOOK_RATE_LIMIT_PER_SECOND", "-5", "ED_WEBHOOK_RATE_LIMIT_PER_SECOND must be a non-negative integer")]
    [InlineData("ED_DUNNING_READ_ONLY_DAYS", "2", "ED_DUNNING_READ_ONLY_DAYS must not be less than ED_DUNNING_FULL_ACCESS_DAYS")]
    [InlineData("ED_DUNNING_FULL_ACCESS_DAYS", "three", "ED_DUNNING_FULL_ACCESS_DAYS must be a number of days")]
    [InlineData("ED_DUNNING_FULL_ACCESS_DAYS", "-1", "ED_DUNNING_FULL_ACCESS_DAYS must be a number of days")]
    [InlineData("ED_RECONCILE_INTERVAL_MINUTES", "hourly", "ED_RECONCILE_INTERVAL_MINUTES must be a non-negative integer")]
    public async Task InvalidBillingVariable_FailsStartup_NamingIt(string variable, string value, string message)
    {
        var settings = ControlPlaneFactory.DefaultSettings(NeverCreated);
        settings[variable] = value;
        var (exitCode, output) = await RunAsync(settings);
        Assert.NotEqual(0, exitCode);
        Assert.Contains(message, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ShortSigningKey_FailsStartup_NamingIt_WithoutPrintingSecrets()
    {
        var settings = ControlPlaneFactory.DefaultSettings(NeverCreated);
        settings["ED_TOKEN_SIGNING_KEY"] = "too-short-key-value";
        var (exitCode, output) = await RunAsync(settings);
        Assert.NotEqual(0, exitCode);
        Assert.Contains("ED_TOKEN_SIGNING_KEY is too short", output, StringComparison.Ordinal);
        Assert.DoesNotContain("too-short-key-value", output, StringComparison.Ordinal);
        Assert.DoesNotContain(TestServices.WebhookSecret, output, StringComparison.Ordinal);
        Assert.DoesNotContain("sk_test_not_used", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MintToken_PrintsTokenThatValidates()
    {
        var settings = ControlPlaneFactory.DefaultSettings(NeverCreated);
        var (exitCode, output) = await RunAsync(settings, "mint-token", "--tenant", "acme", "--role", "admin", "--ttl-minutes", "5", "--subject", "alice");
        Assert.Equal(0, exitCode);
        var claims = new Auth.BearerTokens(TestServices.SigningKey, TimeProvider.System).Validate(output.Trim(), out var failure);
        Assert.True(claims is not null, failure);
        Assert.Equal(("alice", "acme", "admin"), (claims.Subject, claims.TenantId, claims.Role));
        Assert.InRange(claims.ExpiresAt - claims.IssuedAt, TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(5));
    }

    [Fact]
    public async Task Help_ListsEveryCommand_AndEachCommandHasItsOwnHelp()
    {
        var settings = ControlPlaneFactory.DefaultSettings(NeverCreated);
        var (exitCode, output) = await RunAsync(settings, "--help");
        Assert.Equal(0, exitCode);
        string[] commands = ["migrate", "mint-token", "catalog-gate", "ledger-verify", "ledger-rebuild-counters", "ledger-check-counters", "usage-rollup"];
        Assert.All(commands, c => Assert.Contains("  " + c + " ", output, StringComparison.Ordinal));
        var (mintExit, mintHelp) = await RunAsync(settings, "mint-token", "--help");
        Assert.Equal(0, mintExit);
        Assert.Contains("--role <admin|member|operator|owner|support> (REQUIRED)", mintHelp, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MintToken_UnknownRole_ExitsNonZero()
    {
        var (exitCode, output) = await RunAsync(ControlPlaneFactory.DefaultSettings(NeverCreated), "mint-token", "--tenant", "acme", "--role", "root");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("Argument 'root' not recognized", output, StringComparison.Ordinal);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Migrate_OnFreshDatabase_CreatesSchema_AndIsIdempotent()
    {
        var database = await TestServices.CreateDatabaseAsync();
        try
        {
            var settings = ControlPlaneFactory.DefaultSettings(database);
            var (first, firstOutput) = await RunAsync(settings, "migrate");
            Assert.True(first == 0, firstOutput);
            Assert.Contains("_Baseline", firstOutput, StringComparison.Ordinal);
            var (second, secondOutput) = await RunAsync(settings, "migrate");
            Assert.Equal(0, second);
            Assert.Contains("Applied 0 migration(s)", secondOutput, StringComparison.Ordinal);

            await using var connection = new Npgsql.NpgsqlConnection(database);
            await connection.OpenAsync(TestContext.Current.CancellationToken);
            await using var cmd = new Npgsql.NpgsqlCommand(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('tenants','entitlements','stripe_events','outbox_messages','audit_entries')",
                connection);
            Assert.Equal(5L, (long)(await cmd.ExecuteScalarAsync(TestContext.Current.CancellationToken))!);
        }
        finally
        {
            await TestServices.DropDatabaseAsync(database);
        }
    }

    [Fact]
    public async Task Migrate_OnADatabaseFromBeforeTheBaseline_RefusesNamingWhatToDo_AndChangesNothing()
    {
        var database = await TestServices.CreateDatabaseAsync();
        try
        {
            // A history written by the migrations that the baseline replaced (a developer's old .run/dev database).
            await using (var connection = new Npgsql.NpgsqlConnection(database))
            {
                await connection.OpenAsync(TestContext.Current.CancellationToken);
                await using var cmd = new Npgsql.NpgsqlCommand(
                    """
                    CREATE TABLE "__EFMigrationsHistory" ("MigrationId" varchar(150) PRIMARY KEY, "ProductVersion" varchar(32) NOT NULL);
                    INSERT INTO "__EFMigrationsHistory" VALUES ('20261121082816_InitialCreate', '10.0.0');
                    CREATE TABLE approvals (id text PRIMARY KEY);
                    """, connection);
                await cmd.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
            }

            var (exit, output) = await RunAsync(ControlPlaneFactory.DefaultSettings(database), "migrate");
            Assert.Equal(2, exit);
            Assert.Contains("20261121082816_InitialCreate", output, StringComparison.Ordinal);
            Assert.Contains("predates the squashed baseline", output, StringComparison.Ordinal);
            Assert.DoesNotContain("42P07", output, StringComparison.Ordinal);

            await using var check = new Npgsql.NpgsqlConnection(database);
            await check.OpenAsync(TestContext.Current.CancellationToken);
            await using var tables = new Npgsql.NpgsqlCommand("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name = 'tenants'", check);
            Assert.Equal(0L, (long)(await tables.ExecuteScalarAsync(TestContext.Current.CancellationToken))!);
        }
        finally
        {
            await TestServices.DropDatabaseAsync(database);
        }
    }

    /// <summary>Runs the control plane with exactly <paramref name="settings"/> as its ED_/STRIPE_ environment; returns exit code and stdout+stderr.</summary>
    private static async Task<(int ExitCode, string Output)> RunAsync(IReadOnlyDictionary<string, string?> settings, params string[] args)
    {
        var dll = typeof(Program).Assembly.Location;
        var environment = Variables.ToDictionary(name => name, string? (_) => null);
        foreach (var (key, value) in settings)
        {
            if (value is not null)
            {
                environment[key] = value;
            }
        }

        environment["ED_CONTROLPLANE_URL"] = "http://127.0.0.1:0";
        try
        {
            var run = await TestProcess.RunAsync("dotnet", [dll, .. args], TimeSpan.FromSeconds(30), RepoPaths.Root, environment, TestContext.Current.CancellationToken);
            return (run.ExitCode, run.Output);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException("the control plane did not exit: start-up validation did not fail");
        }
    }
}
