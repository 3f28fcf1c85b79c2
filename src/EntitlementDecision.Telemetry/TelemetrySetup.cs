using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace EntitlementDecision.Telemetry;

/// <summary>What one host exports: its service name, its own ActivitySources and Meters, and which inbound requests start spans.</summary>
internal sealed record TelemetrySettings(string ServiceName, IReadOnlyList<string> ActivitySources, IReadOnlyList<string> Meters)
{
    /// <summary>
    /// ASP.NET Core's request spans and http.server metrics. The sidecar leaves them off by default: with a listener, ASP.NET Core
    /// starts an Activity for every gRPC call (about a microsecond of the hot path); its own decision histogram measures the calls.
    /// </summary>
    public bool AspNetCore { get; init; } = true;

    /// <summary>Npgsql's own ActivitySource and Meter (the control plane's database calls); the sidecar never talks to PostgreSQL.</summary>
    public bool Npgsql { get; init; }
}

/// <summary>
/// OpenTelemetry for both hosts: traces (W3C trace context) and metrics; metrics scrapeable in Prometheus text format (map with
/// <c>UseOpenTelemetryPrometheusScrapingEndpoint</c>), everything exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set
/// (protocol per OTEL_EXPORTER_OTLP_PROTOCOL: grpc default, http/protobuf; traces and metrics). Logs: stdout only, one line each, trace and span ids in scope,
/// secrets and billing PII redacted by <see cref="LogRedaction"/>; ED_LOG_FORMAT=json writes JSON lines.
/// </summary>
internal static class TelemetrySetup
{
    public const string LogFormatVariable = "ED_LOG_FORMAT";

    public static WebApplicationBuilder AddEntitlementTelemetry(this WebApplicationBuilder builder, TelemetrySettings settings)
    {
        var format = Environment.GetEnvironmentVariable(LogFormatVariable) switch
        {
            null or "" or "text" => false,
            "json" => true,
            var other => throw new InvalidOperationException($"{LogFormatVariable} must be 'text' or 'json', got '{other}'"),
        };
        builder.Logging.ClearProviders();
        builder.Logging.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
        builder.Logging.AddConsole(o => o.FormatterName = RedactingConsoleFormatter.FormatterName)
            .AddConsoleFormatter<RedactingConsoleFormatter, RedactingConsoleFormatterOptions>(o =>
            {
                o.Json = format;
                o.IncludeScopes = true; // the trace and span ids arrive as a scope
            });

        var version = typeof(TelemetrySetup).Assembly.GetName().Version?.ToString() ?? "0.0.0";
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(settings.ServiceName, serviceVersion: version))
            .WithTracing(t =>
            {
                t.AddSource([.. settings.ActivitySources]).AddHttpClientInstrumentation();
                if (settings.AspNetCore)
                {
                    t.AddAspNetCoreInstrumentation(o => o.Filter = c => !c.Request.Path.StartsWithSegments("/metrics"));
                }

                if (settings.Npgsql)
                {
                    t.AddSource("Npgsql");
                }
            })
            .WithMetrics(m =>
            {
                m.AddMeter([.. settings.Meters]).AddHttpClientInstrumentation()
                    .AddRuntimeInstrumentation()
                    .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
                if (settings.AspNetCore)
                {
                    m.AddAspNetCoreInstrumentation();
                }

                if (settings.Npgsql)
                {
                    m.AddMeter("Npgsql");
                }
            });
        // Traces and metrics only: logs stay on stdout (for the node's log shipper), where the redaction rule applies to every line.
        if (!string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("OTEL_EXPORTER_OTLP_ENDPOINT")))
        {
            otel.WithTracing(t => t.AddOtlpExporter()).WithMetrics(m => m.AddOtlpExporter());
        }

        return builder;
    }

    /// <summary>The current span as a W3C traceparent ("00-{trace}-{span}-{flags}"), to carry across a queue; null outside a span.</summary>
    public static string? CurrentTraceParent() => Activity.Current is { IdFormat: ActivityIdFormat.W3C } a ? a.Id : null;

    /// <summary>Parses a stored traceparent; default (no parent) when absent or malformed, so a bad value never fails the work it labels.</summary>
    public static ActivityContext ParentFrom(string? traceParent) =>
        traceParent is { Length: > 0 } && ActivityContext.TryParse(traceParent, null, out var context) ? context : default;
}
