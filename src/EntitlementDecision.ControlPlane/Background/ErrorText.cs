namespace EntitlementDecision.ControlPlane.Background;

/// <summary>How a failure is written into a stored row (webhook event, reconciliation run): type and message, with the inner cause.</summary>
internal static class ErrorText
{
    /// <summary>"Type: message (InnerType: inner message)", at most 2000 characters.</summary>
    public static string Describe(Exception e)
    {
        var text = e.InnerException is { } inner ? $"{e.GetType().Name}: {e.Message} ({inner.GetType().Name}: {inner.Message})" : $"{e.GetType().Name}: {e.Message}";
        return text.Length <= 2000 ? text : text[..2000];
    }
}
