using EntitlementDecision.ControlPlane.Metering;
using EntitlementDecision.Redis;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace EntitlementDecision.ControlPlane.Tests.Metering;

public sealed class LedgerFixture() : MeteringFixture(11);

/// <summary>The stream consumer → usage ledger: idempotency under redelivery, the hash chain and the verify command, invalid entries.</summary>
public sealed class LedgerTests(LedgerFixture fx) : IClassFixture<LedgerFixture>
{
    private static readonly DateTimeOffset Day1 = new(2026, 11, 10, 9, 0, 0, TimeSpan.Zero);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Redelivery_AfterCommitWithoutAck_AddsOneRowAndAcknowledges()
    {
        var tenant = TestServices.NewTenantId("led");
        await fx.XAddAsync(MeteringFixture.Entry(tenant, "evt-1", "api_calls", 5, Day1));
        await fx.XAddAsync(MeteringFixture.Entry(tenant, "evt-2", "api_calls", 7, Day1));

        // A "crash" between the PostgreSQL commit and the XACK: the entries are written and stay pending for this consumer.
        var stream = fx.Stream(tenant);
        await stream.EnsureGroupAsync();
        var delivered = await stream.ReadAsync(MeteringFixture.ConsumerName, 100, pendingOfThisConsumer: false);
        Assert.Equal(2, delivered.Count(e => e.Fields!["tenant_id"] == tenant));
        await fx.MeteringAsync(db => fx.Service<LedgerWriter>().WriteAsync(db, delivered, TimeSpan.FromHours(48), Ct));

        // The restarted consumer re-reads its pending entries: they are received already, nothing is added, then they are acknowledged.
        await fx.PumpAsync();

        var rows = await fx.MeteringAsync(db => db.Ledger.Where(r => r.TenantId == tenant).OrderBy(r => r.Seq).ToListAsync(Ct));
        Assert.Equal(["evt-1", "evt-2"], rows.Select(r => r.EventId));
        Assert.Equal([1L, 2L], rows.Select(r => r.Seq));
        Assert.Equal(2, await fx.MeteringAsync(db => db.Receipts.CountAsync(r => r.TenantId == tenant, Ct)));
        Assert.Equal(0, await stream.PendingCountAsync());
    }

    [Fact]
    public async Task UnshardedStreamOfEarlierVersions_IsDrainedIntoTheLedger_ThenDeleted()
    {
        // An upgrade: entries left in ed:usage-events by a sidecar of the unsharded keyspace still reach the ledger, under their old ids.
        var tenant = TestServices.NewTenantId("led");
        var legacyId = (await fx.RedisDb.StreamAddAsync(RedisKeys.LegacyUsageEvents,
            [.. MeteringFixture.Entry(tenant, "evt-old", "api_calls", 4, Day1).Select(f => new StackExchange.Redis.NameValueEntry(f.Key, f.Value))])).ToString();
        var shardedId = await fx.XAddAsync(MeteringFixture.Entry(tenant, "evt-new", "api_calls", 6, Day1.AddMinutes(1)));

        await fx.PumpAsync();

        var rows = await fx.MeteringAsync(db => db.Ledger.Where(r => r.TenantId == tenant).OrderBy(r => r.Seq).ToListAsync(Ct));
        Assert.Equal(["evt-old", "evt-new"], rows.Select(r => r.EventId));
        Assert.Equal([legacyId, shardedId], rows.Select(r => r.StreamId));
        Assert.False(await fx.RedisDb.KeyExistsAsync(RedisKeys.LegacyUsageEvents), "the drained legacy stream is deleted");
    }

    [Fact]
    public async Task OverageStreamsOfEarlierVersions_AreDeletedByTheConsumerAtStart()
    {
        // Earlier versions copied soft overages to ed:usage-overages (unsharded, then per shard), unbounded; nothing writes them now.
        var tenant = TestServices.NewTenantId("led");
        var retired = UsageStreamKeys.Default.AllRetiredOverages;
        Assert.Equal(["ed:usage-overages", "ed:usage-overages:{ed0}"], retired.Take(2));
        Assert.Equal(RedisKeys.Shards + 1, retired.Count);
        foreach (var key in retired)
        {
            await fx.RedisDb.StreamAddAsync(key, "event_id", "old");
        }

        await fx.XAddAsync(MeteringFixture.Entry(tenant, "evt-soft", "api_calls", 4, Day1, limit: 3, limitMode: "soft", usedAfter: 4, overage: 1));
        var consumer = Microsoft.Extensions.DependencyInjection.ActivatorUtilities.CreateInstance<LedgerConsumer>(fx.Host.Factory.Services); // a restarted process
        Assert.True(await consumer.PumpAsync(Ct) > 0);

        foreach (var key in retired)
        {
            Assert.False(await fx.RedisDb.KeyExistsAsync(key), $"{key} is deleted");
        }

        Assert.Equal(1, await fx.MeteringAsync(db => db.Ledger.Where(r => r.TenantId == tenant).Select(r => r.Overage).SingleAsync(Ct)));
        Assert.Equal(1, await fx.MeteringAsync(db => db.Receipts.Where(r => r.TenantId == tenant).Select(r => r.Overage).SingleAsync(Ct)));
    }

    [Fact]
    public async Task SameEventIdInTwoEntries_OneRow_SecondReceiptedAsDuplicate()
    {
        // Redis lost the dedupe marker and counted the event again: the ledger still holds it once.
        var tenant = TestServices.NewTenantId("led");
        await fx.XAddAsync(MeteringFixture.Entry(tenant, "evt-a", "api_calls", 3, Day1));
        await fx.PumpAsync();
        await fx.XAddAsync(MeteringFixture.Entry(tenant, "evt-a", "api_calls", 3, Day1.AddMinutes(1)));
        await fx.XAddAsync(MeteringFixture.Entry(tenant, "evt-a", "api_calls", 3, Day1.AddMinutes(2), outcome: "duplicate"));
        await fx.PumpAsync();

        Assert.Equal(1, await fx.MeteringAsync(db => db.Ledger.CountAsync(r => r.TenantId == tenant, Ct)));
        var receipts = await fx.MeteringAsync(db => db.Receipts.Where(r => r.TenantId == tenant).OrderBy(r => r.StreamId).ToListAsync(Ct));
        Assert.Equal(["accepted", "duplicate", "duplicate"], receipts.Select(r => r.Outcome));
        Assert.Contains("already in the ledger", receipts[1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidEntries_AreReceiptedWithReason_AndAcknowledged()
    {
        var tenant = TestServices.NewTenantId("led");
        var bad = MeteringFixture.Entry(tenant, "evt-bad-q", "api_calls", 1, Day1);
        bad["quantity"] = "many";
        var badVersion = MeteringFixture.Entry(tenant, "evt-bad-v", "api_calls", 1, Day1);
        badVersion["v"] = "9";
        var noTenant = MeteringFixture.Entry(tenant, "evt-no-tenant", "api_calls", 1, Day1);
        noTenant.Remove("tenant_id");
        await fx.XAddAsync(bad);
        await fx.XAddAsync(badVersion);
        await fx.XAddAsync(noTenant, shardOf: tenant);
        await fx.PumpAsync();

        var reasons = await fx.MeteringAsync(db => db.Receipts.Where(r => r.Outcome == "invalid" && r.EventId.StartsWith("evt-bad") || r.EventId == "evt-no-tenant")
            .OrderBy(r => r.StreamId).Select(r => r.Reason).ToListAsync(Ct));
        Assert.Equal(3, reasons.Count);
        Assert.Contains("quantity 'many'", reasons[0], StringComparison.Ordinal);
        Assert.Contains("version '9'", reasons[1], StringComparison.Ordinal);
        Assert.Contains("tenant_id is missing", reasons[2], StringComparison.Ordinal);
        Assert.Equal(0, await fx.MeteringAsync(db => db.Ledger.CountAsync(r => r.TenantId == tenant, Ct)));
        Assert.Equal(0, await fx.Stream(tenant).PendingCountAsync());
    }

    [Fact]
    public async Task Chain_LinksEveryRow_AndVerifyPasses()
    {
        var tenant = TestServices.NewTenantId("led");
        for (var i = 0; i < 5; i++)
        {
            await fx.XAddAsync(MeteringFixture.Entry(tenant, $"evt-{i}", i % 2 == 0 ? "api_calls" : "exports", i + 1, Day1.AddMinutes(i)));
        }

        await fx.PumpAsync();
        var rows = await fx.MeteringAsync(db => db.Ledger.AsNoTracking().Where(r => r.TenantId == tenant).OrderBy(r => r.Seq).ToListAsync(Ct));
        Assert.Equal([1L, 2L, 3L, 4L, 5L], rows.Select(r => r.Seq));
        Assert.Equal(LedgerChain.Genesis, rows[0].PrevHash);
        for (var i = 1; i < rows.Count; i++)
        {
            Assert.Equal(rows[i - 1].Hash, rows[i].PrevHash);
            Assert.Equal(LedgerChain.Compute(rows[i].PrevHash, rows[i]), rows[i].Hash);
        }

        var head = await fx.MeteringAsync(db => db.LedgerHeads.SingleAsync(h => h.TenantId == tenant, Ct));
        Assert.Equal((5L, rows[^1].Hash), (head.LastSeq, head.LastHash));

        var output = new StringWriter();
        var exit = await fx.MeteringAsync(db => MeteringCommands.VerifyAsync(db, tenant, null, output, Ct));
        Assert.Equal(0, exit);
        Assert.Equal("5 rows verified", output.ToString().Trim());
    }

    [Theory]
    [InlineData("alter", "altered row: seq 3")]
    [InlineData("rehash", "seq 4 (event_id evt-3): prev_hash does not match")]
    [InlineData("delete", "deleted row(s): seq 3 missing before seq 4")]
    [InlineData("delete-last", "rows 5..5 deleted")]
    public async Task TamperedLedger_VerifyExits1_NamingTheRow(string tampering, string expected)
    {
        var tenant = TestServices.NewTenantId("led");
        var other = TestServices.NewTenantId("led");
        for (var i = 0; i < 5; i++)
        {
            await fx.XAddAsync(MeteringFixture.Entry(tenant, $"evt-{i}", "api_calls", 10, Day1.AddMinutes(i)));
            await fx.XAddAsync(MeteringFixture.Entry(other, $"evt-{i}", "api_calls", 10, Day1.AddMinutes(i)));
        }

        await fx.PumpAsync();
        var sql = tampering switch
        {
            "alter" => "UPDATE usage_ledger SET quantity = 1 WHERE tenant_id = @t AND seq = 3",
            // altered and re-hashed by someone who knows the encoding: the row itself is consistent, the next row's prev_hash is not
            "rehash" => "UPDATE usage_ledger SET quantity = 1, hash = @h WHERE tenant_id = @t AND seq = 3",
            "delete" => "DELETE FROM usage_ledger WHERE tenant_id = @t AND seq = 3",
            _ => "DELETE FROM usage_ledger WHERE tenant_id = @t AND seq = 5",
        };
        await using (var connection = new NpgsqlConnection(fx.Postgres))
        {
            await connection.OpenAsync(Ct);
            await using var cmd = new NpgsqlCommand(sql, connection);
            cmd.Parameters.AddWithValue("t", tenant);
            var row3 = await fx.MeteringAsync(db => db.Ledger.AsNoTracking().SingleAsync(r => r.TenantId == tenant && r.Seq == 3, Ct));
            row3.Quantity = 1;
            cmd.Parameters.AddWithValue("h", LedgerChain.Compute(row3.PrevHash, row3));
            Assert.Equal(1, await cmd.ExecuteNonQueryAsync(Ct));
        }

        var output = new StringWriter();
        var exit = await fx.MeteringAsync(db => MeteringCommands.VerifyAsync(db, null, null, output, Ct));
        Assert.Equal(1, exit);
        var text = output.ToString();
        Assert.Contains($"FAILED {tenant}/production: ", text, StringComparison.Ordinal);
        Assert.Contains(expected, text, StringComparison.Ordinal);
        Assert.DoesNotContain($"FAILED {other}/", text, StringComparison.Ordinal);

        var otherOutput = new StringWriter();
        Assert.Equal(0, await fx.MeteringAsync(db => MeteringCommands.VerifyAsync(db, other, "production", otherOutput, Ct)));
    }

    [Fact]
    public async Task ConcurrentWriters_OneTenant_SeqStaysContiguous()
    {
        var tenant = TestServices.NewTenantId("led");
        var batches = Enumerable.Range(0, 4).Select(b => Enumerable.Range(0, 25)
            .Select(i => new EntitlementDecision.Redis.UsageStreamEntry($"{1_700_000_000_000 + b}-{i}", MeteringFixture.Entry(tenant, $"evt-{b}-{i}", "api_calls", 1, Day1)))
            .ToList()).ToList();

        await Task.WhenAll(batches.Select(batch => Task.Run(() => fx.MeteringAsync(db => fx.Service<LedgerWriter>().WriteAsync(db, batch, TimeSpan.FromHours(48), Ct)), Ct)));

        var seqs = await fx.MeteringAsync(db => db.Ledger.Where(r => r.TenantId == tenant).OrderBy(r => r.Seq).Select(r => r.Seq).ToListAsync(Ct));
        Assert.Equal(Enumerable.Range(1, 100).Select(i => (long)i), seqs);
        Assert.Equal(0, await fx.MeteringAsync(db => MeteringCommands.VerifyAsync(db, tenant, null, new StringWriter(), Ct)));
    }
}
