using Microsoft.AspNetCore.Mvc;

namespace EntitlementDecision.ControlPlane.Approvals;

/// <summary>
/// The one mapping of an <see cref="ActionOutcome"/> to HTTP (the endpoint layer of approvable actions): its status, its body
/// (the result DTO or ProblemDetails) and the result; an executed approval stores the status and body it answered.
/// </summary>
internal static class ActionResults
{
    public static int Status(ActionOutcome outcome) => outcome switch
    {
        ActionOutcome.Done => StatusCodes.Status200OK,
        ActionOutcome.Refused { Reason: ActionRefusal.NotFound } => StatusCodes.Status404NotFound,
        ActionOutcome.Refused { Reason: ActionRefusal.Conflict } => StatusCodes.Status409Conflict,
        ActionOutcome.Refused => StatusCodes.Status422UnprocessableEntity,
        ActionOutcome.StripeFailed s => s.Details.Status ?? StatusCodes.Status502BadGateway,
        _ => throw new ArgumentOutOfRangeException(nameof(outcome)),
    };

    public static object Body(ActionOutcome outcome) => outcome switch
    {
        ActionOutcome.Done d => d.Body,
        ActionOutcome.Refused r => new ProblemDetails { Status = Status(outcome), Title = r.Title, Detail = r.Detail },
        ActionOutcome.StripeFailed s => s.Details,
        _ => throw new ArgumentOutOfRangeException(nameof(outcome)),
    };

    /// <summary>As an HTTP result: JSON with status 200, or ProblemDetails.</summary>
    public static IResult ToResult(this ActionOutcome outcome) => Body(outcome) is ProblemDetails p
        ? TypedResults.Problem(p)
        : TypedResults.Json(Body(outcome), statusCode: Status(outcome));
}
