using System.Text.Json;
using EntitlementDecision.Redis;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using NpgsqlTypes;
using EntitlementDecision.ControlPlane.Data;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>What one <see cref="LedgerWriter.WriteAsync"/> did: rows added to the ledger, receipts added, entries already received before.</summary>
internal readonly record struct LedgerBatchResult(int LedgerRows, int Receipts, int AlreadyReceived);

/// <summary>
/// Writes a batch of stream entries in ONE PostgreSQL transaction: accepted events become hash-chained <c>usage_ledger</c> rows
/// (binary COPY), every entry becomes a <c>usage_receipts</c> row (multi-row INSERT ... ON CONFLICT DO NOTHING on the stream id), and the
/// touched (tenant, environment, day)s are queued for the rollup. Idempotent: an entry whose stream id was already received is
/// skipped; an accepted event whose (tenant, environment, event_id) is already in the ledger from another stream entry is receipted
/// as a duplicate ("already in the ledger"), never a second row. Each (tenant, environment) chain is extended under its
/// <c>ledger_heads</c> row locked FOR UPDATE (chains are taken in ordinal order, so concurrent writers cannot deadlock).
/// </summary>
internal sealed class LedgerWriter(TimeProvider time)
{
    private sealed record Item(UsageStreamEntry Entry, UsageStreamEvent? Event, string? InvalidReason);

    public async Task<LedgerBatchResult> WriteAsync(MeteringDbContext db, IReadOnlyList<UsageStreamEntry> entries, TimeSpan lateWindow, CancellationToken ct)
    {
        if (entries.Count == 0)
        {
            return default;
        }

        var now = time.GetUtcNow();
        var items = entries
            .GroupBy(e => e.Id, StringComparer.Ordinal).Select(g => g.First())
            .Select(e => new Item(e, UsageEntryParser.Parse(e.Fields, out var reason), reason)).ToList();

        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();

        var known = new HashSet<string>(StringComparer.Ordinal);
        await using (var cmd = new NpgsqlCommand("SELECT stream_id FROM usage_receipts WHERE stream_id = ANY(@ids)", connection))
        {
            cmd.Parameters.AddWithValue("ids", items.Select(i => i.Entry.Id).ToArray());
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                known.Add(reader.GetString(0));
            }
        }

        var fresh = items.Where(i => !known.Contains(i.Entry.Id)).ToList();
        var receipts = new List<UsageReceipt>(fresh.Count);
        var rows = new List<LedgerRow>();

        foreach (var item in fresh.Where(i => i.Event is null))
        {
            var receivedMs = item.Entry.Fields is { } f && f.TryGetValue("received_at_ms", out var r) && long.TryParse(r, out var ms) && ms is > 0 and < 253402300799999 ? ms : now.ToUnixTimeMilliseconds();
            var receivedAt = DateTimeOffset.FromUnixTimeMilliseconds(receivedMs);
            receipts.Add(new UsageReceipt
            {
                StreamId = item.Entry.Id,
                TenantId = Field(item.Entry, "tenant_id"),
                Environment = Field(item.Entry, "environment"),
                EventId = Field(item.Entry, "event_id"),
                Feature = Field(item.Entry, "feature"),
                Outcome = "invalid",
                Reason = item.InvalidReason,
                Lateness = Lateness.OnTime,
                UsageDay = DateOnly.FromDateTime(receivedAt.UtcDateTime),
                ReceivedAt = receivedAt,
                Raw = item.Entry.Fields is null ? null : JsonSerializer.Serialize(item.Entry.Fields.Select(kv => KeyValuePair.Create(Clean(kv.Key), Clean(kv.Value))).DistinctBy(kv => kv.Key).ToDictionary()),
            });
        }

        foreach (var item in fresh.Where(i => i.Event is { Outcome: not "accepted" }))
        {
            receipts.Add(Receipt(item, item.Event!.Outcome, null, lateWindow));
        }

        var chains = fresh.Where(i => i.Event is { Outcome: "accepted" })
            .GroupBy(i => (i.Event!.TenantId, i.Event.Environment))
            .OrderBy(g => g.Key.TenantId, StringComparer.Ordinal).ThenBy(g => g.Key.Environment, StringComparer.Ordinal);
        var heads = new List<(string Tenant, string Env, long Seq, string Hash)>();
        foreach (var chain in chains)
        {
            var (tenant, env) = chain.Key;
            var (seq, hash) = await LockHeadAsync(connection, tenant, env, now, ct);
            var existing = await LedgerEventsAsync(connection, tenant, env, chain.Select(i => i.Event!.EventId).Distinct().ToArray(), ct);
            var startSeq = seq;
            foreach (var item in chain)
            {
                var e = item.Event!;
                if (existing.TryGetValue(e.EventId, out var streamId))
                {
                    if (streamId != item.Entry.Id)
                    {
                        receipts.Add(Receipt(item, "duplicate", $"event_id already in the ledger (stream entry {streamId})", lateWindow));
                    }

                    continue; // the same entry redelivered while another writer committed it: nothing to add
                }

                var (lateness, day) = Lateness.Classify(e.OccurredAt, e.ReceivedAt, lateWindow);
                var row = new LedgerRow
                {
                    TenantId = tenant,
                    Environment = env,
                    Seq = ++seq,
                    EventId = e.EventId,
                    Feature = e.Feature,
                    Quantity = e.Quantity,
                    Unit = e.Unit,
                    Service = e.Service,
                    OccurredAt = e.OccurredAt,
                    ReceivedAt = e.ReceivedAt,
                    WindowKey = e.WindowKey,
                    LimitValue = e.Limit,
                    LimitMode = e.LimitMode,
                    UsedAfter = e.UsedAfter,
                    Overage = e.Overage,
                    Undeclared = e.Undeclared,
                    RequestId = e.RequestId,
                    TraceId = e.TraceId,
                    SourceDigest = e.SourceDigest,
                    Origin = e.Origin,
                    Lateness = lateness,
                    UsageDay = day,
                    StreamId = item.Entry.Id,
                    PrevHash = hash,
                    Hash = "",
                    RecordedAt = now,
                };
                row.Hash = LedgerChain.Compute(hash, row);
                hash = row.Hash;
                rows.Add(row);
                existing[e.EventId] = item.Entry.Id;
                receipts.Add(Receipt(item, "accepted", null, lateWindow));
            }

            if (seq != startSeq)
            {
                heads.Add((tenant, env, seq, hash));
            }
        }

        await CopyLedgerAsync(connection, rows, ct);
        var receiptCount = await InsertReceiptsAsync(connection, receipts, ct);
        foreach (var (tenant, env, seq, hash) in heads)
        {
            await using var cmd = new NpgsqlCommand(
                "UPDATE ledger_heads SET last_seq = @seq, last_hash = @hash, updated_at = @now WHERE tenant_id = @t AND environment = @e", connection);
            cmd.Parameters.AddWithValue("seq", seq);
            cmd.Parameters.AddWithValue("hash", hash);
            cmd.Parameters.AddWithValue("now", now);
            cmd.Parameters.AddWithValue("t", tenant);
            cmd.Parameters.AddWithValue("e", env);
            await cmd.ExecuteNonQueryAsync(ct);
        }

        var days = receipts.Select(r => (r.TenantId, r.Environment, r.UsageDay)).Where(d => d.TenantId.Length > 0).Distinct().ToList();
        if (days.Count > 0)
        {
            await using var cmd = new NpgsqlCommand(
                "INSERT INTO usage_rollup_queue (tenant_id, environment, day) SELECT * FROM unnest(@t, @e, @d) ON CONFLICT DO NOTHING", connection);
            cmd.Parameters.AddWithValue("t", days.Select(d => d.TenantId).ToArray());
            cmd.Parameters.AddWithValue("e", days.Select(d => d.Environment).ToArray());
            cmd.Parameters.AddWithValue("d", days.Select(d => d.UsageDay).ToArray());
            await cmd.ExecuteNonQueryAsync(ct);
        }

        await tx.CommitAsync(ct);
        return new LedgerBatchResult(rows.Count, receiptCount, items.Count - fresh.Count);
    }

    private static string Field(UsageStreamEntry entry, string name) =>
        entry.Fields is { } f && f.TryGetValue(name, out var v) ? Clean(v.Length > 200 ? v[..200] : v) : "";

    private static string Clean(string value) => value.Replace("\0", "", StringComparison.Ordinal);

    private static UsageReceipt Receipt(Item item, string outcome, string? reason, TimeSpan lateWindow)
    {
        var e = item.Event!;
        var (lateness, day) = Lateness.Classify(e.OccurredAt, e.ReceivedAt, lateWindow);
        return new UsageReceipt
        {
            StreamId = item.Entry.Id,
            TenantId = e.TenantId,
            Environment = e.Environment,
            EventId = e.EventId,
            Feature = e.Feature,
            Quantity = e.Quantity,
            Outcome = outcome,
            Reason = reason,
            Undeclared = e.Undeclared,
            Overage = outcome == "accepted" ? e.Overage : 0,
            Lateness = lateness,
            UsageDay = day,
            ReceivedAt = e.ReceivedAt,
        };
    }

    private static async Task<(long Seq, string Hash)> LockHeadAsync(NpgsqlConnection connection, string tenant, string env, DateTimeOffset now, CancellationToken ct)
    {
        await using (var insert = new NpgsqlCommand(
            "INSERT INTO ledger_heads (tenant_id, environment, last_seq, last_hash, updated_at) VALUES (@t, @e, 0, @h, @now) ON CONFLICT DO NOTHING", connection))
        {
            insert.Parameters.AddWithValue("t", tenant);
            insert.Parameters.AddWithValue("e", env);
            insert.Parameters.AddWithValue("h", LedgerChain.Genesis);
            insert.Parameters.AddWithValue("now", now);
            await insert.ExecuteNonQueryAsync(ct);
        }

        await using var cmd = new NpgsqlCommand("SELECT last_seq, last_hash FROM ledger_heads WHERE tenant_id = @t AND environment = @e FOR UPDATE", connection);
        cmd.Parameters.AddWithValue("t", tenant);
        cmd.Parameters.AddWithValue("e", env);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        return (reader.GetInt64(0), reader.GetString(1));
    }

    private static async Task<Dictionary<string, string>> LedgerEventsAsync(NpgsqlConnection connection, string tenant, string env, string[] eventIds, CancellationToken ct)
    {
        var found = new Dictionary<string, string>(StringComparer.Ordinal);
        await using var cmd = new NpgsqlCommand(
            "SELECT event_id, stream_id FROM usage_ledger WHERE tenant_id = @t AND environment = @e AND event_id = ANY(@ids)", connection);
        cmd.Parameters.AddWithValue("t", tenant);
        cmd.Parameters.AddWithValue("e", env);
        cmd.Parameters.AddWithValue("ids", eventIds);
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            found[reader.GetString(0)] = reader.GetString(1);
        }

        return found;
    }

    private static async Task CopyLedgerAsync(NpgsqlConnection connection, List<LedgerRow> rows, CancellationToken ct)
    {
        if (rows.Count == 0)
        {
            return;
        }

        await using var importer = await connection.BeginBinaryImportAsync(
            "COPY usage_ledger (tenant_id, environment, seq, event_id, feature, quantity, unit, service, occurred_at, received_at, window_key, " +
            "limit_value, limit_mode, used_after, overage, undeclared, request_id, trace_id, source_digest, origin, lateness, usage_day, stream_id, " +
            "prev_hash, hash, recorded_at) FROM STDIN (FORMAT BINARY)", ct);
        foreach (var r in rows)
        {
            await importer.StartRowAsync(ct);
            await importer.WriteAsync(r.TenantId, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.Environment, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.Seq, NpgsqlDbType.Bigint, ct);
            await importer.WriteAsync(r.EventId, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.Feature, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.Quantity, NpgsqlDbType.Bigint, ct);
            await importer.WriteAsync(r.Unit, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.Service, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.OccurredAt, NpgsqlDbType.TimestampTz, ct);
            await importer.WriteAsync(r.ReceivedAt, NpgsqlDbType.TimestampTz, ct);
            await importer.WriteAsync(r.WindowKey, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.LimitValue, NpgsqlDbType.Bigint, ct);
            await importer.WriteAsync(r.LimitMode, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.UsedAfter, NpgsqlDbType.Bigint, ct);
            await importer.WriteAsync(r.Overage, NpgsqlDbType.Bigint, ct);
            await importer.WriteAsync(r.Undeclared, NpgsqlDbType.Boolean, ct);
            await importer.WriteAsync(r.RequestId, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.TraceId, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.SourceDigest, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.Origin, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.Lateness, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.UsageDay, NpgsqlDbType.Date, ct);
            await importer.WriteAsync(r.StreamId, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.PrevHash, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.Hash, NpgsqlDbType.Text, ct);
            await importer.WriteAsync(r.RecordedAt, NpgsqlDbType.TimestampTz, ct);
        }

        await importer.CompleteAsync(ct);
    }

    private static async Task<int> InsertReceiptsAsync(NpgsqlConnection connection, List<UsageReceipt> receipts, CancellationToken ct)
    {
        if (receipts.Count == 0)
        {
            return 0;
        }

        await using var cmd = new NpgsqlCommand(
            "INSERT INTO usage_receipts (stream_id, tenant_id, environment, event_id, feature, quantity, outcome, reason, undeclared, overage, lateness, usage_day, received_at, raw) " +
            "SELECT * FROM unnest(@sid, @t, @e, @eid, @f, @q, @o, @r, @u, @ov, @l, @d, @at, @raw::jsonb[]) ON CONFLICT (stream_id) DO NOTHING", connection);
        cmd.Parameters.AddWithValue("sid", receipts.Select(r => r.StreamId).ToArray());
        cmd.Parameters.AddWithValue("t", receipts.Select(r => r.TenantId).ToArray());
        cmd.Parameters.AddWithValue("e", receipts.Select(r => r.Environment).ToArray());
        cmd.Parameters.AddWithValue("eid", receipts.Select(r => r.EventId).ToArray());
        cmd.Parameters.AddWithValue("f", receipts.Select(r => r.Feature).ToArray());
        cmd.Parameters.AddWithValue("q", receipts.Select(r => r.Quantity).ToArray());
        cmd.Parameters.AddWithValue("o", receipts.Select(r => r.Outcome).ToArray());
        cmd.Parameters.Add(new NpgsqlParameter("r", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = receipts.Select(r => (object?)r.Reason ?? DBNull.Value).ToArray() });
        cmd.Parameters.AddWithValue("u", receipts.Select(r => r.Undeclared).ToArray());
        cmd.Parameters.AddWithValue("ov", receipts.Select(r => r.Overage).ToArray());
        cmd.Parameters.AddWithValue("l", receipts.Select(r => r.Lateness).ToArray());
        cmd.Parameters.AddWithValue("d", receipts.Select(r => r.UsageDay).ToArray());
        cmd.Parameters.AddWithValue("at", receipts.Select(r => r.ReceivedAt).ToArray());
        cmd.Parameters.Add(new NpgsqlParameter("raw", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = receipts.Select(r => (object?)r.Raw ?? DBNull.Value).ToArray() });
        return await cmd.ExecuteNonQueryAsync(ct);
    }
}
