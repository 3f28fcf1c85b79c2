using System.Text.RegularExpressions;

namespace EntitlementDecision.ControlPlane.Tenants;

/// <summary>Formats of tenant ids (<c>^[a-z0-9][a-z0-9-]{1,62}$</c>) and environments (<c>^[a-z0-9][a-z0-9-]{0,31}$</c>).</summary>
public static partial class Identifiers
{
    public const string DefaultEnvironment = "production";

    public static bool IsTenantId(string? value) => value is not null && TenantIdRegex().IsMatch(value);

    public static bool IsEnvironment(string? value) => value is not null && EnvironmentRegex().IsMatch(value);

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{1,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex TenantIdRegex();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,31}$", RegexOptions.CultureInvariant)]
    private static partial Regex EnvironmentRegex();
}
