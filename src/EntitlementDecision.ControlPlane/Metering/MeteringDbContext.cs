using EntitlementDecision.ControlPlane.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace EntitlementDecision.ControlPlane.Metering;

/// <summary>
/// The metering schema (usage ledger, ledger heads, receipts, rollups) in the control plane's database, with its own migrations
/// (Metering/Migrations) and its own history table <c>__ef_metering_migrations</c>, so it evolves independently of
/// <see cref="EntitlementsDbContext"/>. Bulk writes go through Npgsql on this context's connection and transaction.
/// </summary>
internal sealed class MeteringDbContext(DbContextOptions<MeteringDbContext> options) : DbContext(options)
{
    public const string HistoryTable = "__ef_metering_migrations";

    public DbSet<LedgerRow> Ledger => Set<LedgerRow>();

    public DbSet<LedgerHead> LedgerHeads => Set<LedgerHead>();

    public DbSet<UsageReceipt> Receipts => Set<UsageReceipt>();

    public DbSet<DailyUsage> DailyUsage => Set<DailyUsage>();

    public DbSet<DailyIntegrity> DailyIntegrity => Set<DailyIntegrity>();

    public DbSet<RollupQueueItem> RollupQueue => Set<RollupQueueItem>();

    /// <summary>Npgsql options of this context (history table included); use for every construction.</summary>
    public static void Configure(DbContextOptionsBuilder builder, string connectionString) =>
        builder.UseNpgsql(connectionString, o => o.MigrationsHistoryTable(HistoryTable));

    public static MeteringDbContext Create(string connectionString)
    {
        var builder = new DbContextOptionsBuilder<MeteringDbContext>();
        Configure(builder, connectionString);
        return new MeteringDbContext(builder.Options);
    }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<LedgerRow>(e =>
        {
            e.ToTable("usage_ledger");
            e.HasKey(x => new { x.TenantId, x.Environment, x.Seq });
            e.HasIndex(x => new { x.TenantId, x.Environment, x.EventId }).IsUnique();
            e.HasIndex(x => new { x.TenantId, x.Environment, x.UsageDay });
            e.HasIndex(x => x.ReceivedAt);
            e.Property(x => x.TenantId).HasMaxLength(63);
            e.Property(x => x.Environment).HasMaxLength(32);
            e.Property(x => x.Hash).HasMaxLength(64);
            e.Property(x => x.PrevHash).HasMaxLength(64);
        });

        modelBuilder.Entity<LedgerHead>(e =>
        {
            e.ToTable("ledger_heads");
            e.HasKey(x => new { x.TenantId, x.Environment });
        });

        modelBuilder.Entity<UsageReceipt>(e =>
        {
            e.ToTable("usage_receipts");
            e.HasKey(x => x.StreamId);
            e.HasIndex(x => new { x.TenantId, x.Environment, x.UsageDay });
            e.Property(x => x.Raw).HasColumnType("jsonb");
        });

        modelBuilder.Entity<DailyUsage>(e =>
        {
            e.ToTable("usage_daily");
            e.HasKey(x => new { x.TenantId, x.Environment, x.Feature, x.Day });
        });

        modelBuilder.Entity<DailyIntegrity>(e =>
        {
            e.ToTable("usage_integrity_daily");
            e.HasKey(x => new { x.TenantId, x.Environment, x.Day });
        });

        modelBuilder.Entity<RollupQueueItem>(e =>
        {
            e.ToTable("usage_rollup_queue");
            e.HasKey(x => new { x.TenantId, x.Environment, x.Day });
        });

        foreach (var entity in modelBuilder.Model.GetEntityTypes())
        {
            foreach (var property in entity.GetProperties())
            {
                property.SetColumnName(EntitlementsDbContext.SnakeCase(property.Name));
            }

            foreach (var key in entity.GetKeys())
            {
                key.SetName($"pk_{entity.GetTableName()}");
            }

            foreach (var index in entity.GetIndexes())
            {
                index.SetDatabaseName($"ix_{entity.GetTableName()}_{string.Join("_", index.Properties.Select(p => EntitlementsDbContext.SnakeCase(p.Name)))}");
            }
        }
    }
}
