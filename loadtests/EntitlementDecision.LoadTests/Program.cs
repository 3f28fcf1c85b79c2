// The load driver. loadtests/run.sh starts the services and hosts and calls it; usage:
//   EntitlementDecision.LoadTests --out DIR --sidecar URL --redis HOST:PORT [--smoke]
//     [--controlplane URL --token OPERATOR_TOKEN --webhook-secret SECRET] [--sidecar-pid N] [--controlplane-pid N]
//     [--bare URL --bare-pid N] [--grpc-constant URL --grpc-constant-pid N] [--only name,name] [--no-ceiling] [--env key=value]...
//     [--sidecar-decision-log URL --sidecar-decision-log-pid N --decision-log-spool DIR]   (a second sidecar with the decision log on)
//     [--sidecar-uds unix:/path --sidecar-uds-pid N]   (a third sidecar on a Unix domain socket: check_hot_uds)
//     [--stripe URL --stripe-pid N --stripe-api-key KEY --token-signing-key KEY]   (the fake Stripe API the control plane uses: the webhook scenarios)
//     [--webhook-mode reread|payload] [--append]   (payload: only webhook_burst_payload and propagation_payload, against a control
//                                                   plane with ED_WEBHOOK_REREAD=off; --append adds them to the report in --out)
// Exit code: 0 when every correctness threshold passed (targets are reported as met or missed, not enforced), 1 otherwise.
using EntitlementDecision.LoadTests;
using EntitlementDecision.LoadTests.Framework;
using EntitlementDecision.LoadTests.Scenarios;

var settings = new Settings();
for (var i = 0; i < args.Length; i++)
{
    string Next() => args[++i];
    switch (args[i])
    {
        case "--smoke": settings.Smoke = true; break;
        case "--out": settings.Out = Next(); break;
        case "--sidecar": settings.Sidecar = new Uri(Next()); break;
        case "--controlplane": settings.ControlPlane = new Uri(Next()); break;
        case "--redis": settings.Redis = Next(); break;
        case "--token": settings.OperatorToken = Next(); break;
        case "--webhook-secret": settings.WebhookSecret = Next(); break;
        case "--sidecar-pid": settings.SidecarPid = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
        case "--controlplane-pid": settings.ControlPlanePid = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
        case "--bare": settings.Bare = new Uri(Next()); break;
        case "--bare-pid": settings.BarePid = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
        case "--only": foreach (var name in Next().Split(',', StringSplitOptions.RemoveEmptyEntries)) { settings.Only.Add(name); } break;
        case "--grpc-constant": settings.GrpcConstant = new Uri(Next()); break;
        case "--grpc-constant-pid": settings.GrpcConstantPid = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
        case "--no-ceiling": settings.Ceiling = false; break;
        case "--sidecar-decision-log": settings.SidecarDecisionLog = new Uri(Next()); break;
        case "--sidecar-decision-log-pid": settings.SidecarDecisionLogPid = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
        case "--decision-log-spool": settings.DecisionLogSpool = Next(); break;
        case "--sidecar-uds": settings.SidecarUds = new Uri(Next()); break;
        case "--sidecar-uds-pid": settings.SidecarUdsPid = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
        case "--stripe": settings.Stripe = new Uri(Next()); break;
        case "--stripe-pid": settings.StripePid = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
        case "--stripe-api-key": settings.StripeApiKey = Next(); break;
        case "--token-signing-key": settings.TokenSigningKey = Next(); break;
        case "--webhook-mode":
            var webhookMode = Next();
            if (webhookMode is not ("reread" or "payload"))
            {
                Console.Error.WriteLine($"--webhook-mode takes reread or payload, not {webhookMode}");
                return 2;
            }

            settings.WebhookMode = webhookMode == "payload" ? WebhookMode.Payload : WebhookMode.Reread;
            break;
        case "--append": settings.Append = true; break;
        case "--env": var kv = Next().Split('=', 2); settings.Environment[kv[0]] = kv.Length > 1 ? kv[1] : ""; break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}

var mode = settings.Smoke ? "smoke" : "full";
settings.Environment["mode"] = mode + (settings.Smoke ? " (a few seconds per scenario: checks the driver and the reports, not the speed)" : "");
settings.Environment["started (UTC)"] = DateTimeOffset.UtcNow.ToString("u", System.Globalization.CultureInfo.InvariantCulture);

var seeder = new Seeder(settings);
var reread = settings.WebhookMode == WebhookMode.Reread;
settings.Environment["webhook mode"] = reread
    ? "re-read (control plane ED_WEBHOOK_REREAD=on, the shipped default)"
    : "payload (control plane restarted with ED_WEBHOOK_REREAD=off: the webhook scenarios again, as *_payload)";
var scenarios = new List<Scenario>();
var watched = new List<(string, int)> { ("sidecar", settings.SidecarPid) };
SidecarScenarios? sidecar = null;
var copies = settings.Smoke ? 16 : 128;
if (reread)
{
    // The sidecar scenarios do not involve the control plane: they run once, in the first (default-mode) run.
    sidecar = new SidecarScenarios(settings, seeder);
    await sidecar.SeedHotAsync();
    scenarios.AddRange(
    [
        sidecar.CheckHot(copies),
        sidecar.CheckHotOpen(settings.Smoke ? 500 : 15_000),
        sidecar.CheckBatch(settings.Smoke ? 8 : 32),
        sidecar.CheckWide(settings.Smoke ? 2_000 : 100_000, copies),
        sidecar.RecordUsage(copies),
        sidecar.Mixed(copies),
    ]);
    if (settings.SidecarUds is not null)
    {
        scenarios.Insert(1, sidecar.CheckHotUds(copies));
        watched.Add(("sidecar (unix socket)", settings.SidecarUdsPid));
    }
    else
    {
        settings.Environment["not run (unix socket)"] = "check_hot_uds (no --sidecar-uds)";
    }

    if (settings.SidecarDecisionLog is not null && settings.DecisionLogSpool is { Length: > 0 } spool)
    {
        scenarios.Insert(2, sidecar.CheckHotOpenDecisionLog(settings.Smoke ? 500 : 15_000, spool));
        watched.Add(("sidecar (decision log)", settings.SidecarDecisionLogPid));
    }
    else
    {
        settings.Environment["not run (decision log)"] = "check_hot_open_decision_log (no --sidecar-decision-log/--decision-log-spool)";
    }
}

if (settings.ControlPlane is not null && settings.OperatorToken is { Length: > 0 } && settings.WebhookSecret is { Length: > 0 })
{
    var controlPlane = new ControlPlaneScenarios(settings, seeder);
    if (reread)
    {
        scenarios.Add(controlPlane.LedgerDrain(TimeSpan.FromSeconds(settings.Smoke ? 60 : 600)));
    }

    if (settings.Stripe is not null && settings.TokenSigningKey is { Length: > 0 })
    {
        scenarios.Add(controlPlane.WebhookBurst(settings.Smoke ? 100 : 5_000, settings.Smoke ? 10 : 100, 32));
        scenarios.Add(controlPlane.Propagation(settings.Smoke ? 10 : 200));
        if (settings.StripePid > 0)
        {
            watched.Add(("fake Stripe API", settings.StripePid));
        }
    }
    else
    {
        settings.Environment["not run (webhooks)"] = "webhook_burst and propagation (no --stripe/--token-signing-key: they need the fake Stripe API)";
    }

    watched.Add(("control plane", settings.ControlPlanePid));
}
else
{
    settings.Environment["not run"] = "ledger_drain, webhook_burst and propagation (no --controlplane/--token/--webhook-secret)";
}

if (settings.Only.Count > 0)
{
    scenarios.RemoveAll(s => !settings.Only.Contains(s.Name));
}

var results = await LoadRunner.RegisterScenarios([.. scenarios]).WatchProcesses(watched).RunAsync();

CeilingResult? ceiling = null;
if (settings.Ceiling && settings.Bare is not null && sidecar is not null)
{
    Console.Error.WriteLine("== ceiling: h2load against bare Kestrel and the sidecar");
    try
    {
        ceiling = await Ceiling.RunAsync(settings, sidecar.HotTenant, settings.Smoke ? 2_000 : 500_000, settings.Smoke ? 1 : 3);
        Console.Error.WriteLine($"   CheckEntitlement / bare = {100 * ceiling.Ratio:0.0} %" + (ceiling.GrpcConstantRatio is { } f ? $", / Grpc.AspNetCore constant = {100 * f:0.0} %" : ""));
    }
    catch (Exception e)
    {
        Console.Error.WriteLine($"   ceiling failed: {e.Message}");
        ceiling = new CeilingResult("", [], [$"ceiling failed: {e.GetType().Name}: {e.Message}"]);
    }
}

Reports.Write(settings.Out, mode, settings.Environment, results, ceiling, settings.Append);
Console.Error.WriteLine($"report: {Path.Combine(settings.Out, "report.md")}");
var failed = results.Where(r => r.Error is not null || r.Thresholds.Any(t => !t.Passed && t.Kind == ThresholdKind.Correctness)).Select(r => r.Scenario.Name).ToList();
var ceilingBroken = ceiling is not null && (ceiling.Runs.Count == 0 || ceiling.Runs.Any(r => r.Succeeded == 0 || r.Failed > 0));
if (ceilingBroken)
{
    failed.Add("ceiling");
}

Console.Error.WriteLine(failed.Count == 0 ? "load driver: all correctness checks passed" : "load driver: FAILED: " + string.Join(", ", failed));
return failed.Count == 0 ? 0 : 1;
