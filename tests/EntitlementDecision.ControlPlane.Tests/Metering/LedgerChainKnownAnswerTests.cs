using EntitlementDecision.ControlPlane.Metering;

namespace EntitlementDecision.ControlPlane.Tests.Metering;

/// <summary>
/// The ledger hash chain against answers computed outside this code base from the documented encoding (Python's hashlib
/// over the string below): a change to field order, encoding or hashing that would strand every stored chain fails here.
/// </summary>
public sealed class LedgerChainKnownAnswerTests
{
    private static LedgerRow Row(long seq, string eventId) => new()
    {
        TenantId = "acme",
        Environment = "production",
        Seq = seq,
        EventId = eventId,
        Feature = "exports",
        Quantity = 3,
        Unit = "export",
        Service = "api",
        OccurredAt = DateTimeOffset.FromUnixTimeMilliseconds(1_764_547_200_000),
        ReceivedAt = DateTimeOffset.FromUnixTimeMilliseconds(1_764_547_201_000),
        WindowKey = "day:2025-12-01",
        LimitValue = 10,
        LimitMode = "hard",
        UsedAfter = 3,
        Overage = 0,
        Undeclared = false,
        RequestId = "req-1",
        TraceId = "",
        SourceDigest = "sha256:ab",
        Origin = "sidecar",
        Lateness = "on_time",
        UsageDay = new DateOnly(2025, 12, 1),
        StreamId = "1-0",
        PrevHash = "",
        Hash = "",
    };

    [Fact]
    public void CanonicalEncoding_IsTheDocumentedOne()
    {
        Assert.Equal(
            "edl1;4:acme;10:production;1:1;5:evt-1;7:exports;1:3;6:export;3:api;13:1764547200000;13:1764547201000;14:day:2025-12-01;2:10;4:hard;1:3;1:0;1:0;5:req-1;0:;9:sha256:ab;7:sidecar;7:on_time;10:2025-12-01;",
            LedgerChain.Canonical(Row(1, "evt-1")));
    }

    [Fact]
    public void TwoRowChain_HashesToTheKnownAnswers()
    {
        var first = LedgerChain.Compute(LedgerChain.Genesis, Row(1, "evt-1"));
        var second = LedgerChain.Compute(first, Row(2, "evt-2"));

        Assert.Equal("34e10c058b25e93db8276685a92ec41440d82a0bde205a656949659173b126e6", first);
        Assert.Equal("047a86c585bb22ff077a74e1f71fe7c4adc139dfde231ad59fb95c5946caed62", second);
    }
}
