using System.Text;
using EntitlementDecision.Engine.Catalog;

namespace EntitlementDecision.Engine.Tests;

public sealed class ServiceCoverageTests
{
    private static readonly string CatalogPath = Path.Combine(RepoPaths.Root, "catalog", "plans.json");

    [Fact]
    public void RepositoryCatalog_DeclaresServices_WarnMode()
    {
        var coverage = ServiceCoverageLoader.LoadFile(CatalogPath, PlanCatalogLoader.LoadFile(CatalogPath));

        Assert.Equal(UndeclaredUsage.Warn, coverage.Mode);
        Assert.True(coverage.IsDeclared("api-gateway", "api_calls"));
        Assert.True(coverage.IsDeclared("exporter", "exports"));
        Assert.False(coverage.IsDeclared("exporter", "api_calls"));
        Assert.False(coverage.IsDeclared("unknown", "api_calls"));
    }

    [Theory]
    [InlineData("""{ "services": { "svc": { "metrics": ["projects"] } } }""", "services.svc.metrics: 'projects' is not a metered feature")]
    [InlineData("""{ "services": { "svc": { "metrics": ["nope"] } } }""", "services.svc.metrics: 'nope' is not a metered feature")]
    [InlineData("""{ "services": { "svc": {} } }""", "services.svc.metrics must be an array")]
    [InlineData("""{ "services": [] }""", "catalog.services must be an object")]
    [InlineData("""{ "undeclared_usage": "drop" }""", "catalog.undeclared_usage 'drop' is not 'warn' or 'reject'")]
    public void InvalidSection_Throws_NamingTheEntry(string json, string message)
    {
        var catalog = PlanCatalogLoader.LoadFile(CatalogPath);
        var e = Assert.Throws<CatalogException>(() => ServiceCoverageLoader.Load(Encoding.UTF8.GetBytes(json), catalog));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NoSection_NothingDeclared_Warn()
    {
        var coverage = ServiceCoverageLoader.Load("{}"u8, PlanCatalogLoader.LoadFile(CatalogPath));
        Assert.Empty(coverage.Services);
        Assert.Equal(UndeclaredUsage.Warn, coverage.Mode);
        Assert.Equal(UndeclaredUsage.Reject, ServiceCoverageLoader.Load("""{ "undeclared_usage": "reject" }"""u8, PlanCatalogLoader.LoadFile(CatalogPath)).Mode);
    }
}
