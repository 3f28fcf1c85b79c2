using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace EntitlementDecision.Telemetry;

internal sealed class RedactingConsoleFormatterOptions : ConsoleFormatterOptions
{
    /// <summary>True: one JSON object per line (ED_LOG_FORMAT=json); false: one text line.</summary>
    public bool Json { get; set; }
}

/// <summary>
/// Both hosts' console lines, each through <see cref="LogRedaction"/> (message, state values, exception, scopes).
/// JSON: {"timestamp","level","category","event_id","message","trace_id","span_id","state":{...},"exception"}; text:
/// "2026-12-03T10:00:00.000Z info  Category[id] message trace=... ".
/// </summary>
internal sealed class RedactingConsoleFormatter(IOptionsMonitor<RedactingConsoleFormatterOptions> options) : ConsoleFormatter(FormatterName)
{
    public const string FormatterName = "ed-redacting";

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = LogRedaction.Redact(logEntry.Formatter(logEntry.State, logEntry.Exception));
        var exception = logEntry.Exception is { } e ? LogRedaction.Redact(e.ToString()) : null;
        string? traceId = null, spanId = null;
        var state = new List<KeyValuePair<string, string>>();
        if (logEntry.State is IReadOnlyList<KeyValuePair<string, object?>> pairs)
        {
            foreach (var (key, value) in pairs)
            {
                if (key != "{OriginalFormat}")
                {
                    state.Add(new(key, LogRedaction.Redact(value?.ToString())));
                }
            }
        }

        scopeProvider?.ForEachScope((scope, _) =>
        {
            if (scope is IEnumerable<KeyValuePair<string, object?>> items)
            {
                foreach (var (key, value) in items)
                {
                    switch (key)
                    {
                        case "TraceId": traceId = value?.ToString(); break;
                        case "SpanId": spanId = value?.ToString(); break;
                        case "ParentId" or "{OriginalFormat}": break;
                        default: state.Add(new(key, LogRedaction.Redact(value?.ToString()))); break;
                    }
                }
            }
        }, (object?)null);

        var now = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture);
        if (options.CurrentValue.Json)
        {
            using var buffer = new MemoryStream();
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteString("timestamp", now);
                json.WriteString("level", logEntry.LogLevel.ToString());
                json.WriteString("category", logEntry.Category);
                json.WriteNumber("event_id", logEntry.EventId.Id);
                json.WriteString("message", message);
                if (traceId is not null)
                {
                    json.WriteString("trace_id", traceId);
                    json.WriteString("span_id", spanId);
                }

                if (state.Count > 0)
                {
                    json.WriteStartObject("state");
                    foreach (var (key, value) in state)
                    {
                        json.WriteString(key, value);
                    }

                    json.WriteEndObject();
                }

                if (exception is not null)
                {
                    json.WriteString("exception", exception);
                }

                json.WriteEndObject();
            }

            textWriter.Write(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
            textWriter.Write('\n');
            return;
        }

        textWriter.Write($"{now} {Short(logEntry.LogLevel)} {logEntry.Category}[{logEntry.EventId.Id}] {message}");
        if (traceId is not null)
        {
            textWriter.Write($" trace={traceId}");
        }

        textWriter.Write('\n');
        if (exception is not null)
        {
            textWriter.Write(exception);
            textWriter.Write('\n');
        }
    }

    private static string Short(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };
}
