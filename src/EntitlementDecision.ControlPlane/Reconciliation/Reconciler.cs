using Stripe;
using System.Globalization;
using System.Text.Json;
using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Snapshots;
using EntitlementDecision.Engine.Catalog;
using EntitlementDecision.Stripe;
using EntitlementDecision.Stripe.Api;
using Microsoft.EntityFrameworkCore;
using EntitlementDecision.ControlPlane.Background;
using EntitlementDecision.ControlPlane.Approvals;
using EntitlementDecision.ControlPlane.Webhooks;
using EntitlementDecision.ControlPlane.Subscriptions;
using EntitlementDecision.Engine;

namespace EntitlementDecision.ControlPlane.Reconciliation;

/// <summary>
/// Compares Stripe's subscriptions with our entitlement rows and repairs what is safe. For each row with a Stripe subscription or
/// customer id: the stored subscription is retrieved by id, and the customer's subscriptions are listed (all statuses); the
/// subscription to compare is the stored one, or, when that is missing or ended, a live subscription of the customer whose
/// metadata names this tenant and environment. Compared fields: subscription_id, status, plan (via the catalog's price),
/// current_period_start, current_period_end, cancel_at_period_end. Each difference is a <see cref="ReconciliationMismatch"/> of the
/// run. Repair (Stripe is the source of truth for subscription state): Stripe's object is applied like a webhook
/// (<see cref="SubscriptionSync.Apply"/>: version bump, outbox, audit with actor <c>reconciliation</c> and cause
/// <c>reconciliation:&lt;run id&gt;</c>) when <c>ED_RECONCILE_AUTO_REPAIR=true</c>; by default the drift is reported and a
/// <c>reconciliation.repair</c> approval is filed for the row (one pending per row), which an operator approves to apply
/// Stripe's then-current object. Reported only (not repaired): a stored subscription Stripe does not know with no live
/// replacement (<c>missing_in_stripe</c>), a price the catalog does not have (<c>unknown_price</c>), Stripe API errors (<c>error</c>).
/// </summary>
internal sealed partial class Reconciler(
    EntitlementsDbContext db,
    IServiceScopeFactory scopes,
    IStripeBilling stripe,
    PlanCatalog catalog,
    OutboxSignal outbox,
    GovernanceOptions governance,
    TimeProvider time,
    ILogger<Reconciler> logger)
{
    public const string Actor = "reconciliation";
    private const int PageSize = 200;

    /// <summary>Runs a reconciliation of every tenant (<paramref name="tenantId"/> null) or one tenant; returns the finished run.</summary>
    public async Task<ReconciliationRun> RunAsync(string trigger, string? tenantId, CancellationToken ct)
    {
        // Reconciliation spends the Stripe request budget last, after customer calls and webhook re-reads.
        using var priority = StripeCallContext.Use(StripeCallPriority.Background);
        var run = new ReconciliationRun { Trigger = trigger, TenantId = tenantId, Status = ReconciliationRun.Running, StartedAt = time.GetUtcNow() };
        db.ReconciliationRuns.Add(run);
        await db.SaveChangesAsync(ct);
        var drift = new SortedDictionary<string, int>(StringComparer.Ordinal);
        try
        {
            string lastTenant = "", lastEnv = "";
            while (true)
            {
                var page = await db.Entitlements.AsNoTracking()
                    .Where(e => e.StripeSubscriptionId != null || e.StripeCustomerId != null)
                    .Where(e => tenantId == null || e.TenantId == tenantId)
                    .Where(e => string.Compare(e.TenantId, lastTenant) > 0 || (e.TenantId == lastTenant && string.Compare(e.Environment, lastEnv) > 0))
                    .OrderBy(e => e.TenantId).ThenBy(e => e.Environment)
                    .Take(PageSize)
                    .ToListAsync(ct);
                foreach (var row in page)
                {
                    run.Checked++;
                    var (mismatches, repaired) = await ReconcileRowAsync(run.Id, row, ct);
                    mismatches.AddRange(await ReconcileInvoicesAsync(run.Id, row, ct));
                    foreach (var m in mismatches)
                    {
                        drift[m.Field] = drift.GetValueOrDefault(m.Field) + 1;
                        Observability.ControlPlaneTelemetry.MismatchFound(m.Field);
                    }

                    run.MismatchCount += mismatches.Count;
                    run.Repaired += repaired ? 1 : 0;
                }

                if (page.Count < PageSize)
                {
                    break;
                }

                (lastTenant, lastEnv) = (page[^1].TenantId, page[^1].Environment);
            }

            run.Status = ReconciliationRun.Completed;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            run.Status = ReconciliationRun.Failed;
            run.Error = ErrorText.Describe(e);
            LogRunFailed(logger, e, run.Id);
        }

        run.DriftCounts = JsonSerializer.Serialize(drift);
        run.FinishedAt = time.GetUtcNow();
        db.ReconciliationRuns.Update(run);
        await db.SaveChangesAsync(CancellationToken.None);
        if (run.Repaired > 0)
        {
            outbox.Notify();
        }

        LogRunFinished(logger, run.Id, run.Status, run.Checked, run.MismatchCount, run.Repaired);
        return run;
    }

    /// <summary>Compares one row (its own transaction for the repair); returns the stored mismatches and whether the row was repaired.</summary>
    private async Task<(List<ReconciliationMismatch> Mismatches, bool Repaired)> ReconcileRowAsync(long runId, Entitlement row, CancellationToken ct)
    {
        await using var scope = scopes.CreateAsyncScope();
        var rowDb = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
        var sync = scope.ServiceProvider.GetRequiredService<SubscriptionSync>();
        var mismatches = new List<ReconciliationMismatch>();
        ReconciliationMismatch Mismatch(string field, string? ours, string? theirs, string? subscriptionId) => new()
        {
            RunId = runId, TenantId = row.TenantId, Environment = row.Environment, SubscriptionId = subscriptionId,
            Field = field, OurValue = ours, StripeValue = theirs, Action = "reported",
        };

        Subscription? candidate;
        try
        {
            candidate = await FindSubscriptionAsync(row, ct);
        }
        catch (StripeException e)
        {
            mismatches.Add(Mismatch("error", row.StripeSubscriptionId, $"Stripe API: {e.Status()} {e.StripeError?.Type} {e.Message}", row.StripeSubscriptionId));
            return (await SaveAsync(rowDb, mismatches, ct), false);
        }

        if (candidate is null)
        {
            if (row.StripeSubscriptionId is not null && row.StripeStatus is not ("canceled" or "incomplete_expired"))
            {
                mismatches.Add(Mismatch("missing_in_stripe", row.StripeSubscriptionId, null, row.StripeSubscriptionId));
            }

            return (await SaveAsync(rowDb, mismatches, ct), false);
        }

        var read = StripeSubscriptionMapper.FromRetrieved(candidate, time.GetUtcNow());
        if (!read.Succeeded)
        {
            mismatches.Add(Mismatch("error", row.StripeSubscriptionId, $"Stripe's subscription {candidate.Id}: {read.Error}", candidate.Id));
            return (await SaveAsync(rowDb, mismatches, ct), false);
        }

        var update = read.Update;
        string? stripePlan = null;
        var unknownPrice = false;
        foreach (var price in update.PriceIds)
        {
            if (catalog.TryGetPlanByPrice(price, out var plan))
            {
                stripePlan = plan.Id;
                break;
            }
        }

        if (stripePlan is null && update.PriceIds.Count > 0)
        {
            unknownPrice = true;
            mismatches.Add(Mismatch("unknown_price", row.PlanId, update.PriceIds[0], candidate.Id));
        }

        void Compare(string field, string? ours, string? theirs)
        {
            if (!string.Equals(ours, theirs, StringComparison.Ordinal))
            {
                mismatches.Add(Mismatch(field, ours, theirs, candidate.Id));
            }
        }

        Compare("subscription_id", row.StripeSubscriptionId, candidate.Id);
        Compare("status", row.StripeStatus, update.Status);
        if (stripePlan is not null)
        {
            Compare("plan", row.PlanId, stripePlan);
        }

        Compare("current_period_start", Text(row.CurrentPeriodStart), Text(update.CurrentPeriodStart));
        Compare("current_period_end", Text(row.CurrentPeriodEnd), Text(update.CurrentPeriodEnd));
        Compare("cancel_at_period_end", row.CancelAtPeriodEnd ? "true" : "false", update.CancelAtPeriodEnd ? "true" : "false");

        var repaired = false;
        if (mismatches.Count > 0 && !unknownPrice && !governance.ReconcileAutoRepair)
        {
            // Report-only (default): the repair waits for an operator; a row with a pending repair gets no second one.
            var pending = await rowDb.Approvals.AnyAsync(a => a.Status == Approval.Pending && a.Action == ApprovalActions.ReconciliationRepair
                && a.TenantId == row.TenantId && a.Environment == row.Environment, ct);
            if (!pending)
            {
                scope.ServiceProvider.GetRequiredService<Approvals.ApprovalService>().File(rowDb, ApprovalActions.ReconciliationRepair, row.TenantId, row.Environment,
                    JsonSerializer.SerializeToElement(new Dictionary<string, object> { ["run_id"] = runId, ["subscription_id"] = candidate.Id }),
                    "system:reconciliation", $"reconciliation:{runId}");
            }

            rowDb.ReconciliationMismatches.AddRange(mismatches);
            await rowDb.SaveChangesAsync(ct);
            return (mismatches, false);
        }

        if (mismatches.Count > 0 && !unknownPrice)
        {
            DateTimeOffset? reportedSince = null, correctedAt = null;
            await using var tx = await rowDb.Database.BeginTransactionAsync(ct);
            var locked = await rowDb.LockEntitlementAsync(row.TenantId, row.Environment, ct);
            if (locked is not null)
            {
                var now = time.GetUtcNow();
                var result = sync.Apply(locked, update, StateSource.Repair, revealedAt: now, Actor, "reconciliation.repair", $"reconciliation:{runId}", now);
                repaired = result.Changed;
                if (repaired)
                {
                    foreach (var m in mismatches)
                    {
                        m.Action = "repaired";
                    }

                    // Auto-repair corrects a drift when found, unless an earlier run reported it and left it open.
                    reportedSince = (await ReconciliationRepairAction.CloseReportedAsync(rowDb, row.TenantId, row.Environment, ct))?.Since;
                    correctedAt = now;
                }
            }

            rowDb.ReconciliationMismatches.AddRange(mismatches);
            await rowDb.SaveChangesAsync(ct);
            await tx.CommitAsync(ct);
            if (correctedAt is { } at)
            {
                Observability.ControlPlaneTelemetry.DriftCorrected(at - (reportedSince ?? at));
            }

            return (mismatches, repaired);
        }

        return (await SaveAsync(rowDb, mismatches, ct), false);
    }

    /// <summary>
    /// Compares our copy of the customer's newest invoices (at most 100) with Stripe's: <c>invoice_missing</c> (Stripe has it, we do
    /// not), <c>invoice_status</c>, <c>invoice_amount_paid</c>. Our copy is a cache of Stripe's (it grants nothing), so it is
    /// refreshed at once (action <c>repaired</c>, audited <c>invoice.synced</c>) in report-only mode too.
    /// </summary>
    private async Task<List<ReconciliationMismatch>> ReconcileInvoicesAsync(long runId, Entitlement row, CancellationToken ct)
    {
        var mismatches = new List<ReconciliationMismatch>();
        if (row.StripeCustomerId is null)
        {
            return mismatches;
        }

        IReadOnlyList<Invoice> invoices;
        try
        {
            invoices = await stripe.ListInvoicesAsync(row.StripeCustomerId, 100, ct);
        }
        catch (StripeException e)
        {
            mismatches.Add(new ReconciliationMismatch
            {
                RunId = runId, TenantId = row.TenantId, Environment = row.Environment, Field = "error", OurValue = row.StripeCustomerId,
                StripeValue = $"Stripe API (invoices): {e.Status()} {e.StripeError?.Type} {e.Message}", Action = "reported",
            });
            return mismatches;
        }

        await using var scope = scopes.CreateAsyncScope();
        var rowDb = scope.ServiceProvider.GetRequiredService<EntitlementsDbContext>();
        var ids = invoices.Select(i => i.Id).ToList();
        var ours = await rowDb.Invoices.AsNoTracking().Where(i => ids.Contains(i.InvoiceId)).ToDictionaryAsync(i => i.InvoiceId, ct);
        var now = time.GetUtcNow();
        foreach (var invoice in invoices)
        {
            ours.TryGetValue(invoice.Id, out var mine);
            var fields = mine is null
                ? [("invoice_missing", null, invoice.Id)]
                : new List<(string, string?, string?)>
                {
                    ("invoice_status", mine.Status, invoice.Status),
                    ("invoice_amount_paid", mine.AmountPaid.ToString(CultureInfo.InvariantCulture), invoice.AmountPaid.ToString(CultureInfo.InvariantCulture)),
                }.Where(f => !string.Equals(f.Item2, f.Item3, StringComparison.Ordinal)).ToList();
            if (fields.Count == 0)
            {
                continue;
            }

            foreach (var (field, ourValue, stripeValue) in fields)
            {
                mismatches.Add(new ReconciliationMismatch
                {
                    RunId = runId, TenantId = row.TenantId, Environment = row.Environment, SubscriptionId = row.StripeSubscriptionId,
                    Field = field, OurValue = ourValue, StripeValue = stripeValue, Action = "repaired",
                });
            }

            // Stripe's invoice now, as of this run (newer than any event we applied).
            var subscriptionId = invoice.Parent?.SubscriptionDetails?.SubscriptionId;
            await Invoices.InvoiceStore.TrackAsync(rowDb, invoice, row.TenantId, row.Environment, subscriptionId, now, now, ct);
            Audit.AuditLog.Add(rowDb, row.TenantId, row.Environment, now, Actor, "invoice.synced", mine is null ? null : new { mine.Status, mine.AmountPaid },
                new { InvoiceId = invoice.Id, invoice.Status, invoice.AmountPaid }, $"reconciliation:{runId}");
        }

        rowDb.ReconciliationMismatches.AddRange(mismatches);
        await rowDb.SaveChangesAsync(ct);
        return mismatches;
    }

    /// <summary>The stored subscription, or when it is missing or ended, a live subscription of the customer for this tenant/environment.</summary>
    private async Task<Subscription?> FindSubscriptionAsync(Entitlement row, CancellationToken ct)
    {
        var stored = row.StripeSubscriptionId is { } id ? await stripe.GetSubscriptionAsync(id, ct) : null;
        if (stored is not null && !Ended(stored.Status))
        {
            return stored;
        }

        if (row.StripeCustomerId is { } customer)
        {
            await foreach (var s in stripe.ListSubscriptionsAsync(customer, "all", null, ct))
            {
                var metadata = s.Metadata ?? new Dictionary<string, string>();
                var environment = metadata.GetValueOrDefault("environment") is { Length: > 0 } env ? env : Identifiers.DefaultEnvironment;
                if (!Ended(s.Status) && metadata.GetValueOrDefault("tenant_id") == row.TenantId && environment == row.Environment)
                {
                    return s;
                }
            }
        }

        return stored;
    }

    private static bool Ended(string status) => status is "canceled" or "incomplete_expired";

    private static string? Text(DateTimeOffset? value) =>
        value?.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static async Task<List<ReconciliationMismatch>> SaveAsync(EntitlementsDbContext rowDb, List<ReconciliationMismatch> mismatches, CancellationToken ct)
    {
        if (mismatches.Count > 0)
        {
            rowDb.ReconciliationMismatches.AddRange(mismatches);
            await rowDb.SaveChangesAsync(ct);
        }

        return mismatches;
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Reconciliation run {RunId} {Status}: {Checked} checked, {Mismatches} mismatches, {Repaired} repaired")]
    private static partial void LogRunFinished(ILogger logger, long runId, string status, int @checked, int mismatches, int repaired);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Error, Message = "Reconciliation run {RunId} failed")]
    private static partial void LogRunFailed(ILogger logger, Exception exception, long runId);
}

/// <summary>Runs <see cref="Reconciler"/> for all tenants every <see cref="BillingOptions.ReconcileInterval"/> (off when zero); the first run one interval after start.</summary>
internal sealed partial class ReconciliationScheduler(
    IServiceScopeFactory scopes,
    Microsoft.Extensions.Options.IOptions<BillingOptions> options,
    TimeProvider time,
    ILogger<ReconciliationScheduler> logger) : Background.BackgroundLoop(logger)
{
    protected override TimeProvider Time => time;

    protected override TimeSpan? InitialDelay => options.Value.ReconcileInterval > TimeSpan.Zero ? options.Value.ReconcileInterval : null;

    protected override async Task<TimeSpan?> PassAsync(CancellationToken stoppingToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<Reconciler>().RunAsync("scheduled", null, stoppingToken);
        return options.Value.ReconcileInterval;
    }
}
