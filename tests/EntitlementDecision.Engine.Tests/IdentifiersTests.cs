namespace EntitlementDecision.Engine.Tests;

public sealed class IdentifiersTests
{
    [Theory]
    [InlineData("acme", true, true)]
    [InlineData("acme-eu-2", true, true)]
    [InlineData("Acme_1.x", false, true)] // a request may name it; the control plane never creates it
    [InlineData("a", false, true)]
    [InlineData("-acme", false, true)]
    [InlineData("acme corp", false, false)]
    [InlineData("acmé", false, false)]
    [InlineData("", false, false)]
    public void TenantIds_CreationRuleIsASubsetOfTheWireRule(string id, bool creatable, bool onTheWire)
    {
        Assert.Equal(creatable, Identifiers.IsTenantId(id));
        Assert.Equal(onTheWire, Identifiers.WireError(id, "tenant_id", 128) is null);
    }

    [Fact]
    public void WireError_NamesTheFieldAndTheRule()
    {
        Assert.Equal("tenant_id must not be empty", Identifiers.WireError("", "tenant_id", 128));
        Assert.Equal("environment must be at most 64 characters", Identifiers.WireError(new string('e', 65), "environment", 64));
        Assert.Equal("feature_key may contain only A-Z, a-z, 0-9, '.', '_' and '-'", Identifiers.WireError("a/b", "feature_key", 128));
        Assert.Equal("production", Identifiers.DefaultEnvironment);
    }
}
