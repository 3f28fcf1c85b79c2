using System.Diagnostics;

namespace EntitlementDecision.FaultSuite;

/// <summary>
/// Case 2: the control plane SIGKILLed in the middle of a webhook burst (30 tenants x 10 signed customer.subscription.* events,
/// each tenant's in order) and started again. Every event it answered 2xx must be applied; the ones that got no 2xx are
/// redelivered (as Stripe does) and then applied; every tenant ends on its newest event; nothing is applied twice.
/// </summary>
internal sealed class ControlPlaneKillCase : FaultCase
{
    private const int Tenants = 30;
    private const int PerTenant = 10;
    private const int KillAfterAcks = 100;

    public override string Name => "controlplane-kill";

    public override string Description => $"SIGKILL the control plane after {KillAfterAcks} of {Tenants * PerTenant} webhooks were acknowledged, restart, redeliver";

    public override async Task RunAsync(FaultStack stack, CaseReport report, CancellationToken ct)
    {
        var burst = WebhookBurst.Create($"cpk-{stack.RunId}", Tenants, PerTenant, DateTimeOffset.UtcNow.AddHours(-1));
        await burst.CreateTenantsAsync(stack);

        using var sending = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var send = burst.SendAsync(stack, TimeSpan.FromMilliseconds(15), sending.Token);
        var reached = await Poll.UntilAsync(() => Task.FromResult(burst.Acked >= KillAfterAcks || send.IsCompleted), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(2), ct);
        var ackedBeforeKill = burst.Acked;
        var downtime = Stopwatch.StartNew();
        await stack.ControlAsync("controlplane-kill");
        report.Figure("acknowledged before the SIGKILL", ackedBeforeKill);
        report.Check(reached is not null && !send.IsCompleted, "the burst ended before the kill: nothing was in flight");

        // The senders carry on while it is down (every delivery fails); then it starts again on the same database.
        await Task.Delay(TimeSpan.FromSeconds(1), ct);
        var startup = await stack.ControlAsync("controlplane-start");
        report.Figure("control plane down (kill to healthy)", downtime.Elapsed);
        report.Figure("control plane start-up", startup);
        await send;

        var classes = burst.AnswerClasses();
        report.Figure("first deliveries: 2xx / no answer / 5xx / 4xx",
            $"{classes.GetValueOrDefault("2xx")} / {classes.GetValueOrDefault("none")} / {classes.GetValueOrDefault("5xx")} / {classes.GetValueOrDefault("4xx")}");
        report.Check(classes.GetValueOrDefault("4xx") == 0, $"{classes.GetValueOrDefault("4xx")} deliveries answered 4xx (Stripe would not count that as a failure to retry for the right reason)");

        var redelivered = await burst.RedeliverAsync(stack, TimeSpan.FromSeconds(30), ct);
        report.Figure("redeliveries (events without a 2xx, sent again)", redelivered);
        report.Figure("events sent", Tenants * PerTenant);
        await burst.VerifyAsync(stack, report, ct);
    }
}
