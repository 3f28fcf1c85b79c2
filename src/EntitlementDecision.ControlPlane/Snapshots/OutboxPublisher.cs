using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.Engine.Catalog;
using Microsoft.EntityFrameworkCore;
using StackExchange.Redis;

namespace EntitlementDecision.ControlPlane.Snapshots;

/// <summary>
/// Publishes resolved snapshots to Redis from <c>outbox_messages</c>. On start: publishes every entitlement once (refills a Redis that
/// lost its data; Redis keeps the higher version, so this is harmless). Then loops: wakes on <see cref="OutboxSignal"/> or every
/// <see cref="PollInterval"/>, takes up to <see cref="BatchSize"/> unpublished rows FOR UPDATE SKIP LOCKED, resolves each distinct
/// (tenant, environment) from the current rows, calls <see cref="Redis.RedisSnapshotStore.PublishAsync"/> and sets published_at
/// (also when Redis already had that version). On a Redis error: attempts + 1, rows stay unpublished, exponential back-off up to 30 s.
/// </summary>
internal sealed partial class OutboxPublisher(
    IServiceScopeFactory scopes,
    RedisConnection redis,
    PlanCatalog catalog,
    Engine.Resolution.DunningPolicy dunning,
    OutboxSignal signal,
    TimeProvider time,
    ILogger<OutboxPublisher> logger) : Background.BackgroundLoop(logger)
{
    protected override TimeProvider Time => time;

    private bool _initialDone;

    protected override Background.WakeSignal Signal => signal;

    public static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);
    public const int BatchSize = 100;

    /// <summary>Upper bound of one Redis publish: StackExchange.Redis keeps a command queued while disconnected (its backlog).</summary>
    public static readonly TimeSpan RedisCallTimeout = TimeSpan.FromSeconds(2);

    protected override async Task<TimeSpan?> PassAsync(CancellationToken stoppingToken)
    {
        if (!_initialDone)
        {
            LogInitialPublish(logger, await PublishAllAsync(stoppingToken));
            _initialDone = true;
        }

        while (await PublishBatchAsync(stoppingToken) == BatchSize && !stoppingToken.IsCancellationRequested)
        {
        }

        return PollInterval;
    }

    /// <summary>Publishes every entitlement row once; returns how many. Throws on Redis errors (the caller retries).</summary>
    internal async Task<int> PublishAllAsync(CancellationToken ct)
    {
        var store = await redis.GetStoreAsync();
        var count = 0;
        string lastTenant = "", lastEnv = "";
        while (true)
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
            var page = await (from e in db.Entitlements.AsNoTracking()
                              join t in db.Tenants.AsNoTracking() on e.TenantId equals t.TenantId
                              where string.Compare(e.TenantId, lastTenant) > 0 || (e.TenantId == lastTenant && string.Compare(e.Environment, lastEnv) > 0)
                              orderby e.TenantId, e.Environment
                              select new { Entitlement = e, t.Status }).Take(500).ToListAsync(ct);
            if (page.Count == 0)
            {
                return count;
            }

            var now = time.GetUtcNow();
            foreach (var item in page)
            {
                await store.PublishAsync(EntitlementChanges.Resolve(catalog, item.Entitlement, Tenant.Blocks(item.Status), now, dunning)).WaitAsync(RedisCallTimeout, time, ct);
                count++;
            }

            lastTenant = page[^1].Entitlement.TenantId;
            lastEnv = page[^1].Entitlement.Environment;
        }
    }

    /// <summary>Publishes one batch of the outbox; returns the number of outbox rows taken. Throws on Redis errors after recording the attempt.</summary>
    internal async Task<int> PublishBatchAsync(CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var rows = await db.OutboxMessages
            .FromSql($"SELECT * FROM outbox_messages WHERE published_at IS NULL ORDER BY id LIMIT {BatchSize} FOR UPDATE SKIP LOCKED")
            .ToListAsync(ct);
        if (rows.Count == 0)
        {
            return 0;
        }

        // One query for the whole batch, then every publish at once (pipelined on one connection): a burst of webhooks costs
        // a few round trips per batch, not three per tenant. Order does not matter: Redis keeps only a higher version.
        var keys = rows.Select(r => (r.TenantId, r.Environment)).ToHashSet();
        var tenantIds = keys.Select(k => k.TenantId).Distinct().ToList();
        var current = await (from e in db.Entitlements.AsNoTracking()
                             join t in db.Tenants.AsNoTracking() on e.TenantId equals t.TenantId
                             where tenantIds.Contains(e.TenantId)
                             select new { Entitlement = e, t.Status }).ToListAsync(ct);
        Exception? failure = null;
        try
        {
            var store = await redis.GetStoreAsync().WaitAsync(RedisCallTimeout, time, ct);
            var now = time.GetUtcNow();

            // A key without a row (removed) has nothing to publish; its outbox row is done. Each publish is a span in the trace of
            // the change that queued it (the key's latest traced row), and the invalidation message carries that span on.
            var parents = rows.Where(r => r.TraceParent is not null).GroupBy(r => (r.TenantId, r.Environment)).ToDictionary(g => g.Key, g => g.Last().TraceParent);
            var spans = new List<System.Diagnostics.Activity>();
            var ambient = System.Diagnostics.Activity.Current;
            var publishes = new List<Task<bool>>();
            foreach (var x in current.Where(x => keys.Contains((x.Entitlement.TenantId, x.Entitlement.Environment))))
            {
                var span = Observability.ControlPlaneTelemetry.Source.StartActivity("snapshot publish", System.Diagnostics.ActivityKind.Producer,
                    Telemetry.TelemetrySetup.ParentFrom(parents.GetValueOrDefault((x.Entitlement.TenantId, x.Entitlement.Environment))));
                span?.SetTag("ed.tenant_id", x.Entitlement.TenantId).SetTag("ed.environment", x.Entitlement.Environment).SetTag("ed.snapshot_version", x.Entitlement.Version);
                publishes.Add(store.PublishAsync(EntitlementChanges.Resolve(catalog, x.Entitlement, Tenant.Blocks(x.Status), now, dunning), span?.Id));
                if (span is not null)
                {
                    spans.Add(span);
                    System.Diagnostics.Activity.Current = ambient; // the next key's span is not a child of this one
                }
            }

            try
            {
                await Task.WhenAll(publishes).WaitAsync(RedisCallTimeout, time, ct); // false = Redis already has this version or newer: also done
            }
            finally
            {
                spans.ForEach(s => s.Dispose());
                System.Diagnostics.Activity.Current = ambient;
            }
        }
        catch (Exception e) when (e is RedisException or TimeoutException)
        {
            failure = e;
        }

        var publishedAt = time.GetUtcNow();
        foreach (var row in rows)
        {
            row.Attempts++;
            if (failure is null)
            {
                row.PublishedAt = publishedAt;
                Observability.ControlPlaneTelemetry.OutboxPublished(publishedAt - row.CreatedAt);
            }
        }

        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        if (failure is not null)
        {
            throw new InvalidOperationException("Redis did not accept the snapshots; the outbox rows stay unpublished", failure);
        }

        return rows.Count;
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Published {Count} snapshots at start-up")]
    private static partial void LogInitialPublish(ILogger logger, int count);
}
