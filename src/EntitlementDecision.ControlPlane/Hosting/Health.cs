using EntitlementDecision.ControlPlane.Data;
using EntitlementDecision.ControlPlane.Snapshots;
using Microsoft.AspNetCore.Http.HttpResults;

namespace EntitlementDecision.ControlPlane.Hosting;

/// <summary><c>GET /healthz</c>: 200 <c>{ "status": "healthy" }</c> when PostgreSQL and Redis answer, else 503 ProblemDetails naming the failing one.</summary>
internal static class Health
{
    public sealed record HealthDto(string Status);

    public static async Task<Results<Ok<HealthDto>, ProblemHttpResult>> CheckAsync(EntitlementsDbContext db, RedisConnection redis, CancellationToken ct)
    {
        var failing = new List<string>();
        try
        {
            if (!await db.Database.CanConnectAsync(ct))
            {
                failing.Add("postgresql");
            }
        }
        catch (Exception)
        {
            failing.Add("postgresql");
        }

        try
        {
            var connection = await redis.GetAsync().WaitAsync(TimeSpan.FromSeconds(2), ct);
            await connection.GetDatabase().PingAsync().WaitAsync(TimeSpan.FromSeconds(2), ct);
        }
        catch (Exception)
        {
            failing.Add("redis");
        }

        return failing.Count == 0
            ? TypedResults.Ok(new HealthDto("healthy"))
            : TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Unhealthy", detail: $"Not answering: {string.Join(", ", failing)}.");
    }
}
