using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using EntitlementDecision.Contracts.V1;

namespace EntitlementDecision.EndToEnd.Tests;

/// <summary>
/// Usage counted at the running sidecar (one Lua script: counter + stream entry) reaches the control plane's ledger through the
/// stream consumer, once per event id, and shows in the daily rollup and its integrity report.
/// </summary>
public sealed class UsageToLedgerTests(RunningSystem system) : IClassFixture<RunningSystem>
{
    [Fact]
    public async Task RecordUsageTwiceWithOneEventId_CountedOnceInTheSidecarAndInTheLedger()
    {
        var tenant = RunningSystem.NewTenantId();
        await system.CreateTenantAsync(tenant);
        var (known, after) = await system.WaitForAnswerAsync(tenant, "api_calls", a => a.Reason != DecisionReason.UnknownTenant, RunningSystem.FunctionalDeadline);
        Assert.True(after is not null, $"the sidecar never learned of the new tenant: {known}");
        var now = DateTimeOffset.UtcNow; // read once: the event's timestamp and the day the report is asked for agree across midnight
        var request = new RecordUsageRequest
        {
            Timestamp = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(now),
            TenantId = tenant,
            Environment = "production",
            FeatureKey = "api_calls",
            Quantity = 3,
            EventId = "e2e-" + Guid.NewGuid().ToString("n"),
            Service = "api-gateway",
            Unit = "call",
        };

        var first = await RecordAsync(request);
        var second = await RecordAsync(request);

        Assert.Equal((true, false, 3L), (first.Accepted, first.Duplicate, first.Used));
        Assert.Equal((true, true, 3L), (second.Accepted, second.Duplicate, second.Used));
        Assert.Equal(3, (await system.CheckAsync(tenant, "api_calls")).Used);

        var today = now.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        var clock = Stopwatch.StartNew();
        JsonObject? report;
        while (true)
        {
            report = await system.ControlPlane.GetFromJsonAsync<JsonObject>($"/tenants/{tenant}/usage/daily?environment=production&from={today}&to={today}", TestContext.Current.CancellationToken);
            var usage = report?["usage"]?.AsArray().SingleOrDefault(u => (string?)u?["feature"] == "api_calls");
            var integrity = report?["integrity"]?.AsArray().SingleOrDefault();
            if (usage is not null && integrity is not null && (long?)integrity["duplicate"] == 1)
            {
                Assert.Equal(3, (long?)usage["quantity"]);
                Assert.Equal(1, (long?)usage["events"]);
                Assert.Equal((2L, 1L, 1L), ((long?)integrity["received"], (long?)integrity["accepted"], (long?)integrity["duplicate"]));
                return;
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"the ledger's daily report never showed the usage: {report}");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    private Task<RecordUsageResponse> RecordAsync(RecordUsageRequest request) => system.RecordUsageAsync(request);
}
