using System.Text.RegularExpressions;

namespace EntitlementDecision.Engine;

/// <summary>
/// The identifier rule of the whole system: tenant ids are <c>^[a-z0-9][a-z0-9-]{1,62}$</c>, environments
/// <c>^[a-z0-9][a-z0-9-]{0,31}$</c>, and an omitted environment is <see cref="DefaultEnvironment"/>. The control plane
/// creates tenants only under it; the sidecar and the usage schema share <see cref="DefaultEnvironment"/>.
/// </summary>
public static partial class Identifiers
{
    /// <summary>The environment of a request or event that names none.</summary>
    public const string DefaultEnvironment = "production";

    public static bool IsTenantId(string? value) => value is not null && TenantIdRegex().IsMatch(value);

    public static bool IsEnvironment(string? value) => value is not null && EnvironmentRegex().IsMatch(value);

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{1,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex TenantIdRegex();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,31}$", RegexOptions.CultureInvariant)]
    private static partial Regex EnvironmentRegex();
}
