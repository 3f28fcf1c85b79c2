using System.Text.Json;
using EntitlementDecision.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>The one redaction rule of both hosts' logs (Phase 16 7.2: billing PII and secrets never reach logs).</summary>
public sealed class LogRedactionTests
{
    [Theory]
    [InlineData("key sk_test_51PgafmB7WZ01zgkWabc in use", "key [REDACTED:stripe_key] in use")]
    [InlineData("restricted rk_live_abcDEF123", "restricted [REDACTED:stripe_key]")]
    [InlineData("secret whsec_test_only_0123456789abcdef,whsec_rotated_x", "secret [REDACTED:webhook_secret],[REDACTED:webhook_secret]")]
    [InlineData("Stripe-Signature: t=1733212345,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd", "Stripe-Signature: t=[REDACTED:signature]")]
    [InlineData("Authorization: Bearer abc.def-ghi", "Authorization: Bearer [REDACTED:token]")]
    [InlineData("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl end", "token [REDACTED:token] end")]
    [InlineData("customer jenny.rosen@example.com paid", "customer [REDACTED:email] paid")]
    [InlineData("phone +1 415 555 2671 on file", "phone [REDACTED:phone] on file")]
    [InlineData("card 4242 4242 4242 4242 seen", "card [REDACTED:card] seen")]
    [InlineData("card 4000-0566-5566-5556 seen", "card [REDACTED:card] seen")]
    public void Redact_RemovesSecretsAndPii(string input, string expected) => Assert.Equal(expected, LogRedaction.Redact(input));

    [Theory]
    [InlineData("tenant acme-1 snapshot version 1733212345678 applied")] // a 13-digit ms timestamp is no card
    [InlineData("event evt_1PgafmB7WZ01zgkW sub_1Pgafm cus_QXw price_1PgafmB7WZ01zgkW6dKueIc5")] // Stripe ids are references, not PII
    [InlineData("order 12345678901234567 failed")] // 17 digits failing the Luhn check
    public void Redact_KeepsOrdinaryText(string input) => Assert.Equal(input, LogRedaction.Redact(input));

    [Fact]
    public void JsonLines_RedactMessageAndState_AndCarryTheTraceId()
    {
        var writer = new StringWriter();
        using var services = new ServiceCollection()
            .AddLogging(b =>
            {
                b.Configure(o => o.ActivityTrackingOptions = ActivityTrackingOptions.TraceId | ActivityTrackingOptions.SpanId);
                b.AddConsole(o => o.FormatterName = RedactingConsoleFormatter.FormatterName)
                    .AddConsoleFormatter<RedactingConsoleFormatter, RedactingConsoleFormatterOptions>(o =>
                    {
                        o.Json = true;
                        o.IncludeScopes = true;
                    });
            })
            .BuildServiceProvider();
        var formatter = services.GetServices<Microsoft.Extensions.Logging.Console.ConsoleFormatter>().Single(f => f.Name == RedactingConsoleFormatter.FormatterName);
        using var activity = new System.Diagnostics.Activity("test").SetIdFormat(System.Diagnostics.ActivityIdFormat.W3C).Start();
        var scopes = new LoggerExternalScopeProvider();
        using (scopes.Push(new[] { new KeyValuePair<string, object?>("TraceId", activity.TraceId.ToHexString()), new KeyValuePair<string, object?>("SpanId", activity.SpanId.ToHexString()) }))
        {
            var state = new[] { new KeyValuePair<string, object?>("Email", "jenny.rosen@example.com"), new KeyValuePair<string, object?>("{OriginalFormat}", "Customer {Email} used sk_live_abc") };
            formatter.Write(new Microsoft.Extensions.Logging.Abstractions.LogEntry<KeyValuePair<string, object?>[]>(
                LogLevel.Information, "Billing", new EventId(7), state, null, (_, _) => "Customer jenny.rosen@example.com used sk_live_abc"), scopes, writer);
        }

        var line = writer.ToString();
        Assert.DoesNotContain("jenny.rosen", line, StringComparison.Ordinal);
        Assert.DoesNotContain("sk_live", line, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(line);
        Assert.Equal("Customer [REDACTED:email] used [REDACTED:stripe_key]", json.RootElement.GetProperty("message").GetString());
        Assert.Equal("[REDACTED:email]", json.RootElement.GetProperty("state").GetProperty("Email").GetString());
        Assert.Equal(activity.TraceId.ToHexString(), json.RootElement.GetProperty("trace_id").GetString());
        Assert.Equal(7, json.RootElement.GetProperty("event_id").GetInt32());
    }
}
