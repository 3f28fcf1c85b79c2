using System.Globalization;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace EntitlementDecision.ControlPlane.Configuration;

/// <summary>
/// The one convention of the control plane's options: a class per feature, read from flat environment variables (ED_..., STRIPE_...;
/// any IConfiguration source with the same keys) by <see cref="Read"/>, registered with
/// <see cref="EnvironmentOptionsRegistration.AddEnvironmentOptions{T}"/> and validated at start-up. A value that does not parse keeps
/// the default and is reported; <see cref="Check"/> adds the rules across values. Every message names the variable, never a secret.
/// </summary>
internal abstract class EnvironmentOptions
{
    /// <summary>Values that did not parse, reported by the validator.</summary>
    internal List<string> Errors { get; } = [];

    /// <summary>Reads the class's variables; unset or blank keeps the property's default.</summary>
    protected internal abstract void Read(EnvironmentReader env);

    /// <summary>Rules on the values read (ranges, dependencies between variables); one message per failure.</summary>
    protected internal virtual IEnumerable<string> Check() => [];

    /// <summary>True for an absolute http or https URL.</summary>
    protected static bool IsHttpUrl(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}

/// <summary>The parsers of the variables' formats, shared by every <see cref="EnvironmentOptions"/>; failures go to its errors.</summary>
internal sealed class EnvironmentReader(IConfiguration configuration, List<string> errors)
{
    /// <summary>The trimmed value; null when unset or blank.</summary>
    public string? Text(string name) => configuration[name] is { } raw && !string.IsNullOrWhiteSpace(raw) ? raw.Trim() : null;

    /// <summary>Comma-separated values, trimmed, blanks dropped; empty when unset.</summary>
    public string[] List(string name) =>
        Text(name)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];

    /// <summary>A non-negative integer (digits only); otherwise <paramref name="error"/> (default "NAME must be a non-negative integer.").</summary>
    public int Int(string name, int fallback, string? error = null) => Text(name) switch
    {
        null => fallback,
        var text when int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) => value,
        _ => Fail(error ?? $"{name} must be a non-negative integer.", fallback),
    };

    /// <summary>A whole number in <paramref name="min"/>..<paramref name="max"/>; otherwise "NAME must be a whole number between min and max.".</summary>
    public int Int(string name, int fallback, int min, int max) => Text(name) switch
    {
        null => fallback,
        var text when int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max => value,
        _ => Fail($"{name} must be a whole number between {min} and {max}.", fallback),
    };

    /// <summary>A finite decimal (invariant culture, e.g. 0.5) for which <paramref name="allowed"/> holds; otherwise <paramref name="error"/> of the raw text.</summary>
    public double Decimal(string name, double fallback, Func<double, bool> allowed, Func<string, string> error) => Text(name) switch
    {
        null => fallback,
        var text when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) && allowed(value) => value,
        var text => Fail(error(text), fallback),
    };

    /// <summary>A switch: on|true|1 or off|false|0 (any case); otherwise <paramref name="error"/> (default "NAME must be 'on' or 'off'.").</summary>
    public bool Switch(string name, bool fallback, string? error = null) =>
        Choice(name, fallback, error ?? $"{name} must be 'on' or 'off'.", ("on", true), ("true", true), ("1", true), ("off", false), ("false", false), ("0", false));

    /// <summary>One of <paramref name="words"/> (any case); otherwise <paramref name="error"/>.</summary>
    public T Choice<T>(string name, T fallback, string error, params (string Word, T Value)[] words)
    {
        var text = Text(name);
        if (text is null)
        {
            return fallback;
        }

        foreach (var (word, value) in words)
        {
            if (string.Equals(word, text, StringComparison.OrdinalIgnoreCase))
            {
                return value;
            }
        }

        return Fail(error, fallback);
    }

    /// <summary>Reports a value that is not allowed.</summary>
    public void Fail(string error) => errors.Add(error);

    private T Fail<T>(string error, T fallback)
    {
        errors.Add(error);
        return fallback;
    }
}

/// <summary>Registration of <see cref="EnvironmentOptions"/>: read, validated, and failing start-up when invalid.</summary>
internal static class EnvironmentOptionsRegistration
{
    /// <summary><c>AddOptions&lt;T&gt;()</c> read from the configuration's flat variables, validated (parse errors, then <see cref="EnvironmentOptions.Check"/>) on start.</summary>
    public static OptionsBuilder<T> AddEnvironmentOptions<T>(this IServiceCollection services)
        where T : EnvironmentOptions
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<T>, Validator<T>>());
        return services.AddOptions<T>()
            .Configure<IConfiguration>((options, configuration) => options.Read(new EnvironmentReader(configuration, options.Errors)))
            .ValidateOnStart();
    }

    /// <summary>Also registers the options' value itself, for consumers that take <typeparamref name="T"/> rather than IOptions.</summary>
    public static OptionsBuilder<T> AsSingleton<T>(this OptionsBuilder<T> builder)
        where T : class
    {
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<T>>().Value);
        return builder;
    }

    private sealed class Validator<T> : IValidateOptions<T>
        where T : EnvironmentOptions
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            List<string> failures = [.. options.Errors, .. options.Check()];
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }
    }
}
