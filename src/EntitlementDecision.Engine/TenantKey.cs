namespace EntitlementDecision.Engine;

/// <summary>
/// One tenant in one environment: the key of a snapshot, of usage counters and of their Redis keys, passed as one value so the
/// two strings cannot swap places between layers. Equality is ordinal on both parts and allocation-free (a dictionary key).
/// Not validated on construction: a request may name ids the control plane never created (<see cref="Identifiers.WireError"/>);
/// <see cref="IsValid"/> applies the control plane's rules.
/// </summary>
public readonly record struct TenantKey(string Environment, string TenantId)
{
    /// <summary>True when <see cref="TenantId"/> passes <see cref="Identifiers.IsTenantId"/> and <see cref="Environment"/> passes
    /// <see cref="Identifiers.IsEnvironment"/> (the shapes the control plane creates).</summary>
    public bool IsValid => Identifiers.IsTenantId(TenantId) && Identifiers.IsEnvironment(Environment);

    /// <summary>"environment/tenant", for logs and messages.</summary>
    public override string ToString() => $"{Environment}/{TenantId}";
}
