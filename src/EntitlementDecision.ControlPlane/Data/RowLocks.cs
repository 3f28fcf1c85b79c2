using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace EntitlementDecision.ControlPlane.Data;

/// <summary>Row locks for writers (inside an explicit transaction), so concurrent changes of one row serialize and versions never collide.</summary>
internal static class RowLocks
{
    /// <summary>The entitlement row of (tenant, environment), locked FOR UPDATE; null when absent.</summary>
    public static async Task<Entitlement?> LockEntitlementAsync(this EntitlementsDbContext db, string tenantId, string environment, CancellationToken cancellationToken)
    {
        var rows = await db.Entitlements
            .FromSql($"SELECT * FROM entitlements WHERE tenant_id = {tenantId} AND environment = {environment} FOR UPDATE")
            .ToListAsync(cancellationToken);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>The tenant row, locked FOR UPDATE; null when absent.</summary>
    public static async Task<Tenant?> LockTenantAsync(this EntitlementsDbContext db, string tenantId, CancellationToken cancellationToken)
    {
        var rows = await db.Tenants.FromSql($"SELECT * FROM tenants WHERE tenant_id = {tenantId} FOR UPDATE").ToListAsync(cancellationToken);
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>
    /// A transaction of its own, or none when the caller already holds one (an approval executes its action inside the transaction
    /// that records the approval, so the action and "executed" commit together or not at all).
    /// </summary>
    public static async Task<JoinedTransaction> BeginOrJoinTransactionAsync(this EntitlementsDbContext db, CancellationToken cancellationToken) =>
        new(db.Database.CurrentTransaction is null ? await db.Database.BeginTransactionAsync(cancellationToken) : null);

    /// <summary>True when <paramref name="e"/> is a unique-constraint violation (SQLSTATE 23505).</summary>
    public static bool IsUniqueViolation(this DbUpdateException e) => e.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation };
}

/// <summary>See <see cref="RowLocks.BeginOrJoinTransactionAsync"/>: commits and disposes only a transaction it began.</summary>
internal sealed class JoinedTransaction(Microsoft.EntityFrameworkCore.Storage.IDbContextTransaction? owned) : IAsyncDisposable
{
    /// <summary>True when this began the transaction (its commit is the real one).</summary>
    public bool Owns => owned is not null;

    public Task CommitAsync(CancellationToken cancellationToken) => owned?.CommitAsync(cancellationToken) ?? Task.CompletedTask;

    public ValueTask DisposeAsync() => owned?.DisposeAsync() ?? ValueTask.CompletedTask;
}
