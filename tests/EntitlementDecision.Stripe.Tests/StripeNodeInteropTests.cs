using System.Globalization;

namespace EntitlementDecision.Stripe.Tests;

/// <summary>
/// Interop with the real peer: Stripe's official Node SDK (tests/stripe-interop, stripe 23.x). Its
/// <c>webhooks.generateTestHeaderString</c> signs the way Stripe signs; its <c>webhooks.constructEvent</c>
/// verifies the way Stripe's libraries do. Needs <c>npm ci --prefix tests/stripe-interop</c> first.
/// </summary>
public sealed class StripeNodeInteropTests
{
    private const string Secret = "whsec_interop_3b7e0c";

    private static string InteropDir => Path.Combine(RepoPaths.Root, "tests", "stripe-interop");

    private static byte[] FixtureEvent() => StripeEventBuilder
        .Subscription(StripeSubscriptionEvents.SubscriptionUpdated)
        .WithMetadata("tenant_id", "tenant-interop")
        .WithMetadata("environment", "staging")
        .WithStatus("past_due")
        .WithPriceIds("price_1PgafmB7WZ01zgkW6dKueIc5", "price_addon_seats")
        .ToUtf8Bytes();

    [Fact]
    public async Task NodeSdkHeader_OnFixtureEvent_AcceptedByOurVerifier()
    {
        var payload = FixtureEvent();
        var signedAt = DateTimeOffset.FromUnixTimeSeconds(1_750_000_000);
        using var payloadFile = new TempFile(payload);

        var run = await RunNodeAsync("sign.mjs", payloadFile.Path, Secret, signedAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));

        Assert.True(run.ExitCode == 0, $"sign.mjs failed ({run.ExitCode}): {run.StdErr}");
        var nodeHeader = run.StdOut.Trim();
        var verifier = new WebhookSignatureVerifier([Secret], WebhookSignatureVerifier.DefaultTolerance, new FakeTimeProvider(signedAt.AddSeconds(42)));
        Assert.Equal(SignatureCheckResult.Valid, verifier.Verify(payload, nodeHeader));
        Assert.Equal(SignatureCheckResult.NoMatchingSignature, verifier.Verify([.. payload, (byte)' '], nodeHeader));
        Assert.Equal(WebhookSignature.CreateHeader(payload, Secret, signedAt), nodeHeader); // byte-for-byte the same header
    }

    [Fact]
    public async Task OurHeader_OnFixtureEvent_AcceptedByNodeConstructEvent()
    {
        var payload = FixtureEvent();
        using var payloadFile = new TempFile(payload);
        var header = WebhookSignature.CreateHeader(payload, Secret, DateTimeOffset.UtcNow); // constructEvent checks against the real clock

        var run = await RunNodeAsync("verify.mjs", payloadFile.Path, Secret, header);

        Assert.True(run.ExitCode == 0, $"constructEvent rejected our header (exit {run.ExitCode}): {run.StdErr}");
        Assert.Contains("customer.subscription.updated", run.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OurHeader_WithWrongSecret_RejectedByNodeConstructEvent()
    {
        var payload = FixtureEvent();
        using var payloadFile = new TempFile(payload);
        var header = WebhookSignature.CreateHeader(payload, "whsec_someone_else", DateTimeOffset.UtcNow);

        var run = await RunNodeAsync("verify.mjs", payloadFile.Path, Secret, header);

        Assert.True(run.ExitCode == 1, $"expected rejection (exit 1), got {run.ExitCode}: {run.StdOut}{run.StdErr}");
        Assert.Contains("rejected: No signatures found matching the expected signature for payload", run.StdErr, StringComparison.Ordinal);
    }

    private sealed class TempFile : IDisposable
    {
        public TempFile(byte[] content)
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"stripe-interop-{Guid.NewGuid():N}.json");
            File.WriteAllBytes(Path, content);
        }

        public string Path { get; }

        public void Dispose() => File.Delete(Path);
    }

    internal sealed record NodeRun(int ExitCode, string StdOut, string StdErr);

    internal static async Task<NodeRun> RunNodeAsync(string script, params string[] args)
    {
        if (!File.Exists(Path.Combine(InteropDir, "node_modules", "stripe", "package.json")))
        {
            Assert.Fail($"Stripe's Node SDK is not installed in {InteropDir}/node_modules: run `npm ci --prefix tests/stripe-interop` from the repository root first.");
        }

        try
        {
            var run = await TestProcess.RunAsync(
                "node", [Path.Combine("tests", "stripe-interop", script), .. args], TimeSpan.FromSeconds(60), RepoPaths.Root,
                cancellationToken: TestContext.Current.CancellationToken);
            return new NodeRun(run.ExitCode, run.StdOut, run.StdErr);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            Assert.Fail($"Could not run `node` (Node 20+ must be on PATH): {ex.Message}");
            throw;
        }
    }
}
