using System.Reflection;
using Microsoft.Extensions.Logging;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>Every log message of the control plane has its own EventId, so a log query by id finds one kind of event.</summary>
public sealed class LogEventIdTests
{
    [Fact]
    public void LoggerMessageEventIds_AreUnique()
    {
        var messages = typeof(Data.EntitlementsDbContext).Assembly.GetTypes()
            .SelectMany(t => t.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(m => (Method: $"{m.DeclaringType!.Name}.{m.Name}", Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(x => x.Attribute is not null)
            .ToList();

        Assert.True(messages.Count > 20, $"only {messages.Count} [LoggerMessage] methods found");
        var shared = messages.GroupBy(x => x.Attribute!.EventId).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(x => x.Method))}").ToList();
        Assert.True(shared.Count == 0, "EventIds used twice: " + string.Join("; ", shared));
    }
}
