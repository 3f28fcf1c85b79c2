using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace EntitlementDecision.ControlPlane.Data;

/// <summary>
/// Actions that run once the row they belong to is committed (<see cref="EntitlementsDbContext.AfterCommit"/>): after the commit
/// of the transaction that saved it, or right after its save when no transaction is open. Dropped when that transaction rolls
/// back, or when the row is never saved (detached, e.g. by <c>ChangeTracker.Clear()</c> after a rollback to a savepoint).
/// KPIs use it: they count what committed, once.
/// </summary>
internal sealed class CommitHooks(DbContext context)
{
    /// <summary>Registered on every <see cref="EntitlementsDbContext"/>: forwards commit and rollback to the context's hooks.</summary>
    internal static readonly IInterceptor Interceptor = new TransactionEnd();

    private readonly List<(object Row, Action Run)> _pending = [];

    /// <summary>Queues <paramref name="run"/> for the commit of <paramref name="row"/> (a tracked entity, not saved yet).</summary>
    public void Add(object row, Action run) => _pending.Add((row, run));

    /// <summary>After a save: with no transaction open, the save was the commit.</summary>
    internal void Saved()
    {
        if (context.Database.CurrentTransaction is null)
        {
            Settle(run: true);
        }
    }

    /// <summary>
    /// Settles the actions of saved rows (tracked, no longer Added): runs them after a commit, drops them after a rollback.
    /// Actions of detached rows are dropped; those of rows still to be saved wait for their own save.
    /// </summary>
    private void Settle(bool run)
    {
        if (_pending.Count == 0)
        {
            return;
        }

        var due = new List<Action>();
        _pending.RemoveAll(p =>
        {
            var state = context.Entry(p.Row).State;
            if (state == EntityState.Added)
            {
                return false;
            }

            if (run && state != EntityState.Detached)
            {
                due.Add(p.Run);
            }

            return true;
        });
        foreach (var action in due)
        {
            action();
        }
    }

    private sealed class TransactionEnd : DbTransactionInterceptor
    {
        public override void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => Of(eventData)?.Settle(run: true);

        public override Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            Of(eventData)?.Settle(run: true);
            return Task.CompletedTask;
        }

        public override void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData) => Of(eventData)?.Settle(run: false);

        public override Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
        {
            Of(eventData)?.Settle(run: false);
            return Task.CompletedTask;
        }

        public override void TransactionFailed(DbTransaction transaction, TransactionErrorEventData eventData) => Of(eventData)?.Settle(run: false);

        public override Task TransactionFailedAsync(DbTransaction transaction, TransactionErrorEventData eventData, CancellationToken cancellationToken = default)
        {
            Of(eventData)?.Settle(run: false);
            return Task.CompletedTask;
        }

        private static CommitHooks? Of(TransactionEventData data) => (data.Context as EntitlementsDbContext)?.Hooks;
    }
}
