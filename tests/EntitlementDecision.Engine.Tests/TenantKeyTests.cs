namespace EntitlementDecision.Engine.Tests;

public sealed class TenantKeyTests
{
    [Fact]
    public void Equality_IsOrdinal_AndTheTwoPartsDoNotSwap()
    {
        var acme = new TenantKey("production", "acme");
        Assert.Equal(new TenantKey("production", "acme"), acme);
        Assert.Equal(new TenantKey("production", "acme").GetHashCode(), acme.GetHashCode());
        Assert.NotEqual(new TenantKey("production", "Acme"), acme);
        Assert.NotEqual(new TenantKey("acme", "production"), acme);

        var held = new Dictionary<TenantKey, int> { [acme] = 1, [new TenantKey("staging", "acme")] = 2 };
        Assert.Equal(1, held[new TenantKey("production", "acme")]);
        Assert.False(held.ContainsKey(new TenantKey("production", "ACME")));
    }

    [Theory]
    [InlineData("production", "acme", true)]
    [InlineData("eu-1", "acme-2", true)]
    [InlineData("production", "Acme_1.x", false)] // a request may name it; the control plane never creates it
    [InlineData("Production", "acme", false)]
    [InlineData("", "acme", false)]
    [InlineData("production", "", false)]
    public void IsValid_AppliesTheControlPlanesRules(string environment, string tenantId, bool valid) =>
        Assert.Equal(valid, new TenantKey(environment, tenantId).IsValid);

    [Fact]
    public void ToString_NamesEnvironmentThenTenant() =>
        Assert.Equal("production/acme", new TenantKey("production", "acme").ToString());
}
