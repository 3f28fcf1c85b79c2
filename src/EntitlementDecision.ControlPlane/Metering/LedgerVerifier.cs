using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>One broken chain: the (tenant, environment), the seq where it breaks and why.</summary>
internal sealed record LedgerProblem(string TenantId, string Environment, long Seq, string Message);

/// <summary>
/// Recomputes every (tenant, environment) hash chain of <c>usage_ledger</c> in seq order and compares it with <c>ledger_heads</c>.
/// Per chain it reports the FIRST problem: a seq gap (rows deleted), a prev_hash that is not the previous row's hash (a row before it
/// was deleted or re-hashed), a hash that does not match the row's content (the row was altered), or a head that is not the last row
/// (rows deleted at the end).
/// </summary>
internal static class LedgerVerifier
{
    public static async Task<(long Rows, IReadOnlyList<LedgerProblem> Problems)> VerifyAsync(MeteringDbContext db, string? tenantId, string? environment, CancellationToken ct)
    {
        var problems = new List<LedgerProblem>();
        var query = db.Ledger.AsNoTracking();
        var heads = db.LedgerHeads.AsNoTracking();
        if (tenantId is not null)
        {
            query = query.Where(r => r.TenantId == tenantId);
            heads = heads.Where(h => h.TenantId == tenantId);
        }

        if (environment is not null)
        {
            query = query.Where(r => r.Environment == environment);
            heads = heads.Where(h => h.Environment == environment);
        }

        var headByChain = await heads.ToDictionaryAsync(h => (h.TenantId, h.Environment), ct);
        long rows = 0;
        (string T, string E)? chain = null;
        long expectedSeq = 0;
        var prev = LedgerChain.Genesis;
        var broken = false;

        void EndChain()
        {
            if (chain is not { } c)
            {
                return;
            }

            if (!broken)
            {
                if (!headByChain.TryGetValue(c, out var head))
                {
                    problems.Add(new LedgerProblem(c.T, c.E, expectedSeq - 1, "ledger_heads has no row for this chain"));
                }
                else if (head.LastSeq != expectedSeq - 1 || head.LastHash != prev)
                {
                    problems.Add(new LedgerProblem(c.T, c.E, expectedSeq,
                        head.LastSeq > expectedSeq - 1
                            ? $"rows {expectedSeq}..{head.LastSeq} deleted: the chain ends at seq {expectedSeq - 1}, its head says {head.LastSeq}"
                            : $"the head (seq {head.LastSeq}, hash {head.LastHash}) does not match the last row (seq {expectedSeq - 1}, hash {prev})"));
                }
            }

            headByChain.Remove(c);
        }

        await foreach (var row in query.OrderBy(r => r.TenantId).ThenBy(r => r.Environment).ThenBy(r => r.Seq).AsAsyncEnumerable().WithCancellation(ct))
        {
            rows++;
            if (chain != (row.TenantId, row.Environment))
            {
                EndChain();
                chain = (row.TenantId, row.Environment);
                expectedSeq = 1;
                prev = LedgerChain.Genesis;
                broken = false;
            }

            if (broken)
            {
                continue;
            }

            string? message = null;
            if (row.Seq != expectedSeq)
            {
                message = row.Seq > expectedSeq
                    ? $"deleted row(s): seq {expectedSeq}{(row.Seq - 1 > expectedSeq ? $"..{row.Seq - 1}" : "")} missing before seq {row.Seq} (event_id {row.EventId})"
                    : $"seq {row.Seq} out of order";
            }
            else if (row.PrevHash != prev)
            {
                message = $"row seq {row.Seq} (event_id {row.EventId}): prev_hash does not match the hash of seq {row.Seq - 1} (a row before it was deleted or altered)";
            }
            else if (LedgerChain.Compute(prev, row) != row.Hash)
            {
                message = $"altered row: seq {row.Seq} (event_id {row.EventId}): hash mismatch (its content changed after it was written)";
            }

            if (message is not null)
            {
                problems.Add(new LedgerProblem(row.TenantId, row.Environment, row.Seq, message));
                broken = true;
                continue;
            }

            prev = row.Hash;
            expectedSeq++;
        }

        EndChain();
        foreach (var ((t, e), head) in headByChain.Where(h => h.Value.LastSeq > 0))
        {
            problems.Add(new LedgerProblem(t, e, 1, $"all rows deleted: the head says seq {head.LastSeq}, the ledger holds none"));
        }

        return (rows, problems);
    }
}
