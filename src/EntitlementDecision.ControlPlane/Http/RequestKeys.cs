using Microsoft.AspNetCore.Http.HttpResults;

namespace EntitlementDecision.ControlPlane.Http;

/// <summary>
/// A request's <c>Idempotency-Key</c> header and what derives from it: the audit cause and the operation id of a Stripe call
/// (its Stripe idempotency key), shared by the self-service billing endpoints.
/// </summary>
internal static class RequestKeys
{
    /// <summary>The request header a client sets to make its call idempotent.</summary>
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    /// <summary>The <c>Idempotency-Key</c> header (null when absent); a problem when it is empty, longer than 200 or not printable ASCII.</summary>
    internal static string? RequestKey(HttpContext http, out ProblemHttpResult? problem)
    {
        problem = null;
        if (!http.Request.Headers.TryGetValue(IdempotencyKeyHeader, out var values))
        {
            return null;
        }

        var key = values.ToString();
        if (values.Count != 1 || key.Length is 0 or > 200 || key.Any(c => c is < '!' or > '~'))
        {
            problem = Problems.BadRequest($"{IdempotencyKeyHeader} must be one value of 1-200 printable ASCII characters without spaces.");
            return null;
        }

        return key;
    }

    /// <summary>
    /// The operation id of a self-service Stripe call (its Stripe idempotency key derives from it): <paramref name="operation"/> with
    /// the client's <c>Idempotency-Key</c> when sent, else with <paramref name="state"/>, what the request acts on (e.g. the row's
    /// version), so a retried request on the same state is the same Stripe call and Stripe answers it again instead of creating a
    /// second object (Stripe keeps keys at least 24 h). A request after a change of that state is a new call.
    /// </summary>
    internal static string OperationId(string operation, string? key, string state) => key is null ? $"{operation}:state:{state}" : $"{operation}:{key}";

    /// <summary>The audit cause of a request: <c>request:&lt;Idempotency-Key&gt;</c>, else <c>request:&lt;request id&gt;</c>.</summary>
    internal static string Cause(HttpContext http, string? key) => $"request:{key ?? http.TraceIdentifier}";
}
