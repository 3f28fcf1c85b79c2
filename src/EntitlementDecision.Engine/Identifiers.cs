using System.Text.RegularExpressions;

namespace EntitlementDecision.Engine;

/// <summary>
/// The identifier rules of the whole system, in one place. What the control plane creates: tenant ids
/// <c>^[a-z0-9][a-z0-9-]{1,62}$</c>, environments <c>^[a-z0-9][a-z0-9-]{0,31}$</c>. What a request may name (sidecar and
/// usage schema; a superset, so an id that was never created is an answer such as UNKNOWN_TENANT, not an error):
/// <see cref="WireError"/>, 1..N of <c>[A-Za-z0-9._-]</c>. An omitted environment is <see cref="DefaultEnvironment"/>.
/// </summary>
public static partial class Identifiers
{
    /// <summary>The environment of a request or event that names none.</summary>
    public const string DefaultEnvironment = "production";

    /// <summary>Why <paramref name="value"/> is not an identifier a request may carry in <paramref name="field"/> (1..<paramref name="maxLength"/> of [A-Za-z0-9._-]); null when it is.</summary>
    public static string? WireError(string value, string field, int maxLength)
    {
        if (value.Length == 0)
        {
            return $"{field} must not be empty";
        }

        if (value.Length > maxLength)
        {
            return $"{field} must be at most {maxLength} characters";
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return $"{field} may contain only A-Z, a-z, 0-9, '.', '_' and '-'";
            }
        }

        return null;
    }

    public static bool IsTenantId(string? value) => value is not null && TenantIdRegex().IsMatch(value);

    public static bool IsEnvironment(string? value) => value is not null && EnvironmentRegex().IsMatch(value);

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{1,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex TenantIdRegex();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,31}$", RegexOptions.CultureInvariant)]
    private static partial Regex EnvironmentRegex();
}
