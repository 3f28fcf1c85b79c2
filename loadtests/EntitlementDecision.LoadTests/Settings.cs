using System.Net;
using EntitlementDecision.Client;

namespace EntitlementDecision.LoadTests;

/// <summary>How the control plane under test applies Stripe webhooks (its ED_WEBHOOK_REREAD); names the webhook scenarios.</summary>
public enum WebhookMode
{
    /// <summary>ED_WEBHOOK_REREAD=on, the shipped default: subscriptions re-read from Stripe's API (here the fake).</summary>
    Reread,

    /// <summary>ED_WEBHOOK_REREAD=off: payloads applied with the order check; scenario names end in <c>_payload</c>.</summary>
    Payload,
}

/// <summary>Command-line settings of the driver (see Program.cs) and the clients shared by the scenarios.</summary>
public sealed class Settings
{
    public bool Smoke { get; set; }
    public string Out { get; set; } = "loadtests/out/manual";
    public Uri Sidecar { get; set; } = new("http://127.0.0.1:50251");
    public Uri? ControlPlane { get; set; }
    public string Redis { get; set; } = "127.0.0.1:56381";
    public string? OperatorToken { get; set; }
    public string? WebhookSecret { get; set; }
    public int SidecarPid { get; set; }
    public int ControlPlanePid { get; set; }
    public Uri? Bare { get; set; }
    public int BarePid { get; set; }

    /// <summary>The fake Stripe API the control plane talks to (its /v1 and /_fake routes); null: the webhook scenarios are not run.</summary>
    public Uri? Stripe { get; set; }

    public int StripePid { get; set; }

    /// <summary>The API key the fake accepts (the control plane's STRIPE_API_KEY).</summary>
    public string? StripeApiKey { get; set; }

    /// <summary>ED_TOKEN_SIGNING_KEY of the control plane: the driver mints tenant owners' tokens with it (checkout).</summary>
    public string? TokenSigningKey { get; set; }

    /// <summary>The control plane's webhook mode: which webhook scenarios run (Payload: only those, after run.sh restarted it).</summary>
    public WebhookMode WebhookMode { get; set; } = WebhookMode.Reread;

    /// <summary>Add this run's scenarios to the report already in <see cref="Out"/> instead of replacing it.</summary>
    public bool Append { get; set; }

    /// <summary>Grpc.AspNetCore with a constant answer (BareKestrel in grpc mode), the second ceiling; null: not run.</summary>
    public Uri? GrpcConstant { get; set; }

    public int GrpcConstantPid { get; set; }

    /// <summary>A second sidecar with the decision log on (check_hot_open_decision_log) and its spool directory; null: not run.</summary>
    public Uri? SidecarDecisionLog { get; set; }

    public int SidecarDecisionLogPid { get; set; }

    public string? DecisionLogSpool { get; set; }

    /// <summary>A third sidecar on a Unix domain socket (unix:/path; check_hot_uds); null: not run.</summary>
    public Uri? SidecarUds { get; set; }

    public int SidecarUdsPid { get; set; }
    public HashSet<string> Only { get; } = new(StringComparer.Ordinal);
    public bool Ceiling { get; set; } = true;
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    /// <summary>Run tag, lower-case digits: keeps tenant, event and subscription ids unique across runs on the same Redis/PostgreSQL.</summary>
    public string RunTag { get; } = DateTimeOffset.UtcNow.ToString("MMddHHmmss", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Snapshot version base of seeded tenants (higher than any earlier run's).</summary>
    public long VersionBase { get; } = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>Scenario duration: a few seconds in smoke mode.</summary>
    public TimeSpan Duration(int fullSeconds) => TimeSpan.FromSeconds(Smoke ? 1.5 : fullSeconds);

    /// <summary>Warm-up before each scenario's measured part: long enough on 2 busy cores for tiered JIT to reach tier 1.</summary>
    public TimeSpan WarmUp => TimeSpan.FromSeconds(Smoke ? 0.5 : 10);

    private SidecarClient[]? _clients;

    /// <summary>Four gRPC channels to the sidecar (like h2load -c 4); virtual user n uses channel n % 4.</summary>
    public SidecarClient[] SidecarClients => _clients ??= [.. Enumerable.Range(0, 4).Select(_ => NewClient())];

    public SidecarClient NewClient() => new(Sidecar);

    private SidecarClient[]? _decisionLogClients;

    private SidecarClient[]? _udsClients;

    /// <summary>Four gRPC channels to <see cref="SidecarUds"/> over its socket, as <see cref="SidecarClients"/>.</summary>
    public SidecarClient[] UdsClients => _udsClients ??= [.. Enumerable.Range(0, 4).Select(_ => new SidecarClient(SidecarUds!))];

    /// <summary>Four gRPC channels to <see cref="SidecarDecisionLog"/>, as <see cref="SidecarClients"/>.</summary>
    public SidecarClient[] DecisionLogClients => _decisionLogClients ??= [.. Enumerable.Range(0, 4).Select(_ => new SidecarClient(SidecarDecisionLog!))];
}
