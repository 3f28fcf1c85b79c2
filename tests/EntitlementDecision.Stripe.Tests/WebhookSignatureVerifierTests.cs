using System.Text;
using System.Text.RegularExpressions;

namespace EntitlementDecision.Stripe.Tests;

public sealed class WebhookSignatureVerifierTests
{
    private const string Secret = "whsec_test_primary_5f2b";
    private const string OtherSecret = "whsec_test_rotated_9c1d";
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_750_000_000);

    private static readonly byte[] Payload = StripeEventBuilder
        .Subscription(StripeSubscriptionEvents.SubscriptionUpdated)
        .WithMetadata("tenant_id", "tenant-1")
        .ToUtf8Bytes();

    private static WebhookSignatureVerifier Verifier(params string[] secrets) =>
        new(secrets, WebhookSignatureVerifier.DefaultTolerance, new FakeTimeProvider(Now));

    private static string Hex(string secret, long t, byte[] payload) =>
        WebhookSignature.CreateHeader(payload, secret, DateTimeOffset.FromUnixTimeSeconds(t)).Split(",v1=")[1];

    [Fact]
    public void ValidSignature_ReturnsValid()
    {
        var header = WebhookSignature.CreateHeader(Payload, Secret, Now);

        Assert.Equal(SignatureCheckResult.Valid, Verifier(Secret).Verify(Payload, header));
    }

    [Fact]
    public void CreateHeader_KnownVector_MatchesIndependentHmac()
    {
        // Expected value computed outside .NET: python3 hmac.new(b'whsec_test_secret', b'1700000000.' + body, sha256).hexdigest()
        var body = Encoding.UTF8.GetBytes("{\"id\":\"evt_1\",\"object\":\"event\"}");

        var header = WebhookSignature.CreateHeader(body, "whsec_test_secret", DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));

        Assert.Equal("t=1700000000,v1=0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd", header);
    }

    [Fact]
    public void CreateHeader_SubSecondTimestamp_TruncatesToUnixSeconds()
    {
        var header = WebhookSignature.CreateHeader(Payload, Secret, Now.AddMilliseconds(999));

        Assert.Matches(new Regex("^t=1750000000,v1=[0-9a-f]{64}$"), header);
    }

    [Fact]
    public void RotatedSecrets_SecondSecretMatches_ReturnsValid()
    {
        var header = WebhookSignature.CreateHeader(Payload, OtherSecret, Now);

        Assert.Equal(SignatureCheckResult.Valid, Verifier(Secret, OtherSecret).Verify(Payload, header));
        Assert.Equal(SignatureCheckResult.NoMatchingSignature, Verifier(Secret).Verify(Payload, header));
    }

    [Fact]
    public void RotationHeader_TwoV1EntriesForOldAndNewSecret_ReturnsValidForEitherVerifier()
    {
        var t = Now.ToUnixTimeSeconds();
        var header = $"t={t},v1={Hex(OtherSecret, t, Payload)},v1={Hex(Secret, t, Payload)}";

        Assert.Equal(SignatureCheckResult.Valid, Verifier(Secret).Verify(Payload, header));
        Assert.Equal(SignatureCheckResult.Valid, Verifier(OtherSecret).Verify(Payload, header));
    }

    [Fact]
    public void TamperedBody_ReturnsNoMatchingSignature()
    {
        var header = WebhookSignature.CreateHeader(Payload, Secret, Now);
        var tampered = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Payload).Replace("\"active\"", "\"canceled\"", StringComparison.Ordinal));
        Assert.NotEqual(Payload, tampered);

        Assert.Equal(SignatureCheckResult.NoMatchingSignature, Verifier(Secret).Verify(tampered, header));
    }

    [Fact]
    public void TrailingNewlineAddedToBody_ReturnsNoMatchingSignature()
    {
        var header = WebhookSignature.CreateHeader(Payload, Secret, Now);

        Assert.Equal(SignatureCheckResult.NoMatchingSignature, Verifier(Secret).Verify([.. Payload, (byte)'\n'], header));
    }

    [Fact]
    public void WrongSecret_ReturnsNoMatchingSignature()
    {
        var header = WebhookSignature.CreateHeader(Payload, "whsec_attacker", Now);

        Assert.Equal(SignatureCheckResult.NoMatchingSignature, Verifier(Secret, OtherSecret).Verify(Payload, header));
    }

    [Theory]
    [InlineData(-301, SignatureCheckResult.TimestampOutsideTolerance)] // 301 s old: stale / replay
    [InlineData(-300, SignatureCheckResult.Valid)]                     // exactly at tolerance
    [InlineData(0, SignatureCheckResult.Valid)]
    [InlineData(300, SignatureCheckResult.Valid)]
    [InlineData(301, SignatureCheckResult.TimestampOutsideTolerance)]  // 301 s in the future
    [InlineData(-86_400 * 365, SignatureCheckResult.TimestampOutsideTolerance)]
    public void TimestampOffsetFromNow_ReturnsExpected(int offsetSeconds, SignatureCheckResult expected)
    {
        var header = WebhookSignature.CreateHeader(Payload, Secret, Now.AddSeconds(offsetSeconds));

        Assert.Equal(expected, Verifier(Secret).Verify(Payload, header));
    }

    [Fact]
    public void SameHeaderAfterClockAdvances301Seconds_BecomesStale()
    {
        var clock = new FakeTimeProvider(Now);
        var verifier = new WebhookSignatureVerifier([Secret], TimeSpan.FromSeconds(300), clock);
        var header = WebhookSignature.CreateHeader(Payload, Secret, Now);
        Assert.Equal(SignatureCheckResult.Valid, verifier.Verify(Payload, header));

        clock.Advance(TimeSpan.FromSeconds(301));

        Assert.Equal(SignatureCheckResult.TimestampOutsideTolerance, verifier.Verify(Payload, header));
    }

    [Fact]
    public void CustomTolerance_IsHonoured()
    {
        var verifier = new WebhookSignatureVerifier([Secret], TimeSpan.FromSeconds(10), new FakeTimeProvider(Now));

        Assert.Equal(SignatureCheckResult.Valid, verifier.Verify(Payload, WebhookSignature.CreateHeader(Payload, Secret, Now.AddSeconds(-10))));
        Assert.Equal(SignatureCheckResult.TimestampOutsideTolerance, verifier.Verify(Payload, WebhookSignature.CreateHeader(Payload, Secret, Now.AddSeconds(-11))));
    }

    [Fact]
    public void StaleTimestampWithWrongSignature_ReportsNoMatchingSignature()
    {
        var header = WebhookSignature.CreateHeader(Payload, "whsec_attacker", Now.AddHours(-1));

        Assert.Equal(SignatureCheckResult.NoMatchingSignature, Verifier(Secret).Verify(Payload, header));
    }

    [Fact]
    public void ForgedTimestampOnRealSignature_ReturnsNoMatchingSignature()
    {
        // Replaying an old body with a fresh t must fail: t is part of the signed payload.
        var old = Now.AddHours(-1).ToUnixTimeSeconds();
        var header = $"t={Now.ToUnixTimeSeconds()},v1={Hex(Secret, old, Payload)}";

        Assert.Equal(SignatureCheckResult.NoMatchingSignature, Verifier(Secret).Verify(Payload, header));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void MissingHeader_ReturnsMissingHeader(string? header)
    {
        Assert.Equal(SignatureCheckResult.MissingHeader, Verifier(Secret).Verify(Payload, header));
    }

    public static TheoryData<string, SignatureCheckResult> MalformedHeaders()
    {
        var sig = new string('a', 64);
        return new TheoryData<string, SignatureCheckResult>
        {
            { "garbage", SignatureCheckResult.MalformedHeader },
            { $"v1={sig}", SignatureCheckResult.MalformedHeader },                       // no t
            { $"t=,v1={sig}", SignatureCheckResult.MalformedHeader },                    // empty t
            { $"t=abc,v1={sig}", SignatureCheckResult.MalformedHeader },                 // non-numeric t
            { $"t=-1750000000,v1={sig}", SignatureCheckResult.MalformedHeader },         // negative t
            { $"t=+1750000000,v1={sig}", SignatureCheckResult.MalformedHeader },         // signed t
            { $"t=1.75e9,v1={sig}", SignatureCheckResult.MalformedHeader },              // not an integer
            { $"t=17500 00000,v1={sig}", SignatureCheckResult.MalformedHeader },         // space inside t
            { $"t=99999999999999999999999,v1={sig}", SignatureCheckResult.MalformedHeader }, // overflows long
            { $"t=999999999999,v1={sig}", SignatureCheckResult.MalformedHeader },        // past year 9999
            { $"t=１７５００００００００,v1={sig}", SignatureCheckResult.MalformedHeader },     // full-width digits
            { $"t=1750000000,t=1750000001,v1={sig}", SignatureCheckResult.MalformedHeader }, // ambiguous t
            { $"T=1750000000,v1={sig}", SignatureCheckResult.MalformedHeader },          // keys are case-sensitive
            { ",,,=,==,", SignatureCheckResult.MalformedHeader },
            { "t=1750000000", SignatureCheckResult.NoSignatureForScheme },
            { $"t=1750000000,v0={sig}", SignatureCheckResult.NoSignatureForScheme },     // v0 is not accepted
            { $"t=1750000000,v2={sig},V1={sig}", SignatureCheckResult.NoSignatureForScheme },
            { "t=1750000000,v1", SignatureCheckResult.NoSignatureForScheme },            // key without value is ignored
            { "t=1750000000,v1=", SignatureCheckResult.NoMatchingSignature },
            { "t=1750000000,v1=zz", SignatureCheckResult.NoMatchingSignature },
            { $"t=1750000000,v1={new string('z', 64)}", SignatureCheckResult.NoMatchingSignature }, // right length, not hex
            { $"t=1750000000,v1={sig}a", SignatureCheckResult.NoMatchingSignature },    // 65 hex chars
            { $"t=1750000000,v1={sig},v1=", SignatureCheckResult.NoMatchingSignature },
        };
    }

    [Theory]
    [MemberData(nameof(MalformedHeaders))]
    public void MalformedHeader_ReturnsExpectedResultWithoutThrowing(string header, SignatureCheckResult expected)
    {
        Assert.Equal(expected, Verifier(Secret).Verify(Payload, header));
    }

    [Fact]
    public void HugeHeader_ReturnsMalformedHeader()
    {
        var valid = WebhookSignature.CreateHeader(Payload, Secret, Now);
        var huge = valid + string.Concat(Enumerable.Repeat(",v0=" + new string('0', 64), 200));
        Assert.True(huge.Length > WebhookSignatureVerifier.MaxHeaderLength);

        Assert.Equal(SignatureCheckResult.MalformedHeader, Verifier(Secret).Verify(Payload, huge));
        Assert.Equal(SignatureCheckResult.MalformedHeader, Verifier(Secret).Verify(Payload, new string(',', 1_000_000)));
    }

    [Fact]
    public void SeveralV1Values_OneMatches_ReturnsValid()
    {
        var t = Now.ToUnixTimeSeconds();
        var wrong = Enumerable.Range(0, 50).Select(i => $"v1={Hex("whsec_other_" + i, t, Payload)}");
        var header = $"t={t},{string.Join(',', wrong)},v1={Hex(Secret, t, Payload)},v0={new string('0', 64)}";

        Assert.Equal(SignatureCheckResult.Valid, Verifier(Secret).Verify(Payload, header));
    }

    [Fact]
    public void SeveralV1Values_NoneMatches_ReturnsNoMatchingSignature()
    {
        var t = Now.ToUnixTimeSeconds();
        var header = $"t={t}," + string.Join(',', Enumerable.Range(0, 50).Select(i => $"v1={Hex("whsec_other_" + i, t, Payload)}"));

        Assert.Equal(SignatureCheckResult.NoMatchingSignature, Verifier(Secret).Verify(Payload, header));
    }

    [Fact]
    public void SpacesAroundElementsAndUnknownSchemesFirst_ReturnsValid()
    {
        var t = Now.ToUnixTimeSeconds();
        var header = $" v0 = 0000 ,  scheme=x, t = {t} ,  v1 = {Hex(Secret, t, Payload)} , ";

        Assert.Equal(SignatureCheckResult.Valid, Verifier(Secret).Verify(Payload, header));
    }

    [Fact]
    public void SignatureOnlyInV0_ReturnsNoSignatureForScheme()
    {
        var t = Now.ToUnixTimeSeconds();

        Assert.Equal(SignatureCheckResult.NoSignatureForScheme, Verifier(Secret).Verify(Payload, $"t={t},v0={Hex(Secret, t, Payload)}"));
    }

    [Fact]
    public void RandomHeaders_NeverThrow()
    {
        var random = new Random(20_240_601);
        const string alphabet = "tv01=, \t-+.abcdefxyz9\u00e9\u0000;";
        var verifier = Verifier(Secret);
        var t = Now.ToUnixTimeSeconds();
        var realSignature = Hex(Secret, t, Payload);
        var seeds = new[] { $"t={t},v1={realSignature}", "t=1,v1=", "v1=t=," };

        for (var i = 0; i < 5_000; i++)
        {
            var chars = seeds[i % seeds.Length].ToCharArray();
            var length = random.Next(0, 200);
            var buffer = new char[length];
            for (var j = 0; j < length; j++)
            {
                buffer[j] = j < chars.Length && random.Next(4) != 0 ? chars[j] : alphabet[random.Next(alphabet.Length)];
            }

            var header = new string(buffer);
            var result = verifier.Verify(Payload, header);
            Assert.True(Enum.IsDefined(result));
            if (result == SignatureCheckResult.Valid)
            {
                Assert.Contains(realSignature, header, StringComparison.Ordinal); // only the real signature can be valid
            }
        }
    }

    [Fact]
    public void EmptyPayload_SignedAndVerified()
    {
        var header = WebhookSignature.CreateHeader([], Secret, Now);

        Assert.Equal(SignatureCheckResult.Valid, Verifier(Secret).Verify([], header));
        Assert.Equal(SignatureCheckResult.NoMatchingSignature, Verifier(Secret).Verify("x"u8, header));
    }

    [Fact]
    public void NonAsciiSecret_UsedAsUtf8Bytes()
    {
        const string secret = "whsec_ünïcødé";
        var header = WebhookSignature.CreateHeader(Payload, secret, Now);

        Assert.Equal(SignatureCheckResult.Valid, Verifier(secret).Verify(Payload, header));
        Assert.Equal(SignatureCheckResult.NoMatchingSignature, Verifier("whsec_unicode").Verify(Payload, header));
    }

    [Fact]
    public void Constructor_NoSecret_Throws()
    {
        Assert.Throws<ArgumentException>(() => new WebhookSignatureVerifier([], WebhookSignatureVerifier.DefaultTolerance, TimeProvider.System));
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData(null)]
    public void Constructor_EmptySecret_Throws(string? secret)
    {
        var ex = Assert.Throws<ArgumentException>(() => new WebhookSignatureVerifier([Secret, secret!], WebhookSignatureVerifier.DefaultTolerance, TimeProvider.System));
        Assert.Contains("#1", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void Constructor_NonPositiveTolerance_Throws(int seconds)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new WebhookSignatureVerifier([Secret], TimeSpan.FromSeconds(seconds), TimeProvider.System));
    }

    [Fact]
    public void CreateHeader_EmptySecret_Throws()
    {
        Assert.Throws<ArgumentException>(() => WebhookSignature.CreateHeader(Payload, "", Now));
    }
}
