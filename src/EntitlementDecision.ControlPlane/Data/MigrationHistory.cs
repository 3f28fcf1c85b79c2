using Microsoft.EntityFrameworkCore;

namespace EntitlementDecision.ControlPlane.Data;

/// <summary>
/// Refuses a database whose migration history names migrations this build does not have: one made before the migrations were
/// squashed into one baseline per context (2026-12-08; nothing was deployed before). Without it EF Core would try the baseline
/// on the old tables and stop at 42P07 "relation already exists".
/// </summary>
internal static class MigrationHistory
{
    /// <summary>Throws <see cref="InvalidOperationException"/> naming the unknown migrations and what to do; no-op otherwise.</summary>
    public static async Task EnsureKnownAsync(DbContext db, CancellationToken ct)
    {
        var known = db.Database.GetMigrations().ToHashSet(StringComparer.Ordinal);
        var unknown = (await db.Database.GetAppliedMigrationsAsync(ct)).Where(m => !known.Contains(m)).ToList();
        if (unknown.Count > 0)
        {
            throw new InvalidOperationException(
                $"The database's {db.GetType().Name} history holds {unknown.Count} migration(s) this build does not know ({string.Join(", ", unknown.Take(3))}" +
                $"{(unknown.Count > 3 ? ", ..." : "")}): it predates the squashed baseline of 2026-12-08. Recreate the database " +
                "(run.sh and test.sh: remove .run/dev or .run/test); nothing is migrated.");
        }
    }
}
