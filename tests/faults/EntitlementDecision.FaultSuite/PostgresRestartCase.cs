using System.Diagnostics;

namespace EntitlementDecision.FaultSuite;

/// <summary>
/// Case 3: PostgreSQL stopped (fast) and started again on the same data directory under webhook load. Each event is either 2xx
/// and later applied, or refused with a 5xx (Stripe retries it) and then applied once redelivered; never 2xx and then lost.
/// </summary>
internal sealed class PostgresRestartCase : FaultCase
{
    private const int Tenants = 20;
    private const int PerTenant = 10;
    private const int StopAfterAcks = 60;

    public override string Name => "postgres-restart";

    public override string Description => $"stop PostgreSQL after {StopAfterAcks} of {Tenants * PerTenant} webhooks, start it 3 s later, redeliver the refused";

    public override async Task RunAsync(FaultStack stack, CaseReport report, CancellationToken ct)
    {
        var burst = WebhookBurst.Create($"pgr-{stack.RunId}", Tenants, PerTenant, DateTimeOffset.UtcNow.AddHours(-1));
        await burst.CreateTenantsAsync(stack);

        var send = burst.SendAsync(stack, TimeSpan.FromMilliseconds(40), ct);
        var reached = await Poll.UntilAsync(() => Task.FromResult(burst.Acked >= StopAfterAcks || send.IsCompleted), TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(2), ct);
        var ackedBeforeStop = burst.Acked;
        var down = Stopwatch.StartNew();
        var stop = await stack.ControlAsync("postgres-stop");
        report.Figure("acknowledged before the stop", ackedBeforeStop);
        report.Figure("pg_ctl stop (fast)", stop);
        report.Check(reached is not null && !send.IsCompleted, "the burst ended before PostgreSQL stopped");

        await Task.Delay(TimeSpan.FromSeconds(3), ct);
        await stack.ControlAsync("postgres-start");
        report.Figure("PostgreSQL down", down.Elapsed);
        var healthy = await Poll.UntilAsync(async () =>
        {
            using var response = await stack.ControlPlane.GetAsync("/healthz", ct);
            return response.IsSuccessStatusCode;
        }, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100), ct);
        report.Figure("control plane healthy again after the start", healthy is { } h ? h : "not within 30 s");
        report.Check(healthy is not null, "the control plane did not report healthy within 30 s of PostgreSQL's start");
        await send;

        var classes = burst.AnswerClasses();
        report.Figure("first deliveries: 2xx / 5xx / 4xx / no answer",
            $"{classes.GetValueOrDefault("2xx")} / {classes.GetValueOrDefault("5xx")} / {classes.GetValueOrDefault("4xx")} / {classes.GetValueOrDefault("none")}");
        report.Check(classes.GetValueOrDefault("4xx") == 0, $"{classes.GetValueOrDefault("4xx")} deliveries answered 4xx while PostgreSQL was down (must be 5xx: Stripe retries)");
        report.Check(classes.GetValueOrDefault("5xx") > 0, "no delivery was refused while PostgreSQL was down: the fault did not hit the burst");

        var redelivered = await burst.RedeliverAsync(stack, TimeSpan.FromSeconds(30), ct);
        report.Figure("redeliveries (refused events, sent again)", redelivered);
        report.Figure("events sent", Tenants * PerTenant);
        await burst.VerifyAsync(stack, report, ct);

        // The control plane process itself survived (it was not restarted here).
        report.Check(FaultStack.IsAlive(stack.Pid("controlplane")), "the control plane process died");
    }
}
