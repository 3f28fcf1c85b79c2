using EntitlementDecision.ControlPlane.Approvals;
using Microsoft.AspNetCore.Mvc;

namespace EntitlementDecision.ControlPlane.Tests;

/// <summary>An action's outcome carries no HTTP status; the approvals' endpoint layer maps it, in one place.</summary>
public sealed class ActionResultsTests
{
    [Theory]
    [InlineData("NotFound", 404)]
    [InlineData("Conflict", 409)]
    [InlineData("Unprocessable", 422)]
    public void Refusals_MapToTheirStatus_WithTheirTitleAndDetail(string reason, int status)
    {
        var outcome = ActionOutcome.Problem(Enum.Parse<ActionRefusal>(reason), "Title", "what happened");
        Assert.False(outcome.Succeeded);
        Assert.Equal(status, ActionResults.Status(outcome));
        var problem = Assert.IsType<ProblemDetails>(ActionResults.Body(outcome));
        Assert.Equal((status, "Title", "what happened"), (problem.Status, problem.Title, problem.Detail));
    }

    [Fact]
    public void DoneIs200WithItsBody_StripeFailureKeepsStripesStatus()
    {
        var body = new { id = "x" };
        Assert.Equal((200, (object)body), (ActionResults.Status(ActionOutcome.Ok(body)), ActionResults.Body(ActionOutcome.Ok(body))));
        Assert.Equal(503, ActionResults.Status(new ActionOutcome.StripeFailed(new ProblemDetails { Status = 503 })));
        Assert.Equal(502, ActionResults.Status(new ActionOutcome.StripeFailed(new ProblemDetails())));
    }
}
