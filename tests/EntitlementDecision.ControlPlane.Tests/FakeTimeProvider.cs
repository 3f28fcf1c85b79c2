namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>A clock that stands still until told otherwise (Microsoft.Extensions.TimeProvider.Testing is not available here).</summary>
public sealed class FakeTimeProvider(DateTimeOffset utcNow) : TimeProvider
{
    private DateTimeOffset _utcNow = utcNow;

    public override DateTimeOffset GetUtcNow() => _utcNow;

    public void Advance(TimeSpan by) => _utcNow += by;

    public void SetUtcNow(DateTimeOffset value) => _utcNow = value;
}
