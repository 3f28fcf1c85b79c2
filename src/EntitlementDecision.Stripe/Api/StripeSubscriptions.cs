namespace EntitlementDecision.Stripe.Api;

/// <summary>Converts a subscription read from the API into the update a webhook would carry, so both paths apply alike.</summary>
public static class StripeSubscriptions
{
    /// <summary>The <see cref="SubscriptionUpdate.EventType"/> of an update made from a retrieved subscription (not a Stripe event type).</summary>
    public const string RetrievedEventType = "subscription.retrieved";

    /// <summary>
    /// The <see cref="SubscriptionUpdate"/> for a subscription retrieved at <paramref name="observedAt"/>: the same fields
    /// <see cref="StripeSubscriptionEvents.Read"/> takes from a <c>customer.subscription.*</c> webhook (tenant id and
    /// environment from <c>metadata.tenant_id</c>/<c>metadata.environment</c>, default environment <c>production</c>;
    /// current period start/end from the subscription or, in newer API versions, its items), with
    /// <see cref="SubscriptionUpdate.EventCreated"/> = <paramref name="observedAt"/> (the state is at least that recent),
    /// <see cref="SubscriptionUpdate.EventType"/> = <see cref="RetrievedEventType"/> and
    /// <see cref="SubscriptionUpdate.EventId"/> = <c>"retrieved:{sub id}:{observedAt Unix ms}"</c>.
    /// </summary>
    /// <returns>A failure naming the problem when <c>metadata.tenant_id</c>, the id or the status is missing.</returns>
    public static SubscriptionUpdateResult FromSubscription(Subscription subscription, DateTimeOffset observedAt)
    {
        ArgumentNullException.ThrowIfNull(subscription);
        var metadata = subscription.Metadata ?? new Dictionary<string, string>();
        var tenantId = NonEmpty(metadata.GetValueOrDefault("tenant_id"));
        if (tenantId is null)
        {
            return SubscriptionUpdateResult.Failure("metadata.tenant_id missing");
        }

        if (string.IsNullOrEmpty(subscription.Id))
        {
            return SubscriptionUpdateResult.Failure("id missing");
        }

        if (string.IsNullOrEmpty(subscription.Status))
        {
            return SubscriptionUpdateResult.Failure("status missing");
        }

        return SubscriptionUpdateResult.Success(new SubscriptionUpdate(
            TenantId: tenantId,
            Environment: NonEmpty(metadata.GetValueOrDefault("environment")) ?? "production",
            SubscriptionId: subscription.Id,
            CustomerId: NonEmpty(subscription.Customer),
            Status: subscription.Status,
            PriceIds: subscription.PriceIds,
            PlanIdFromMetadata: NonEmpty(metadata.GetValueOrDefault("plan_id")),
            CurrentPeriodEnd: subscription.PeriodEnd,
            CancelAtPeriodEnd: subscription.CancelAtPeriodEnd,
            CanceledAt: subscription.CanceledAt,
            EventId: $"retrieved:{subscription.Id}:{observedAt.ToUnixTimeMilliseconds()}",
            EventType: RetrievedEventType,
            EventCreated: observedAt.ToUniversalTime()) { CurrentPeriodStart = subscription.PeriodStart });
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
