using Grpc.Core;

namespace EntitlementDecision.Sidecar;

/// <summary>
/// Argument rules shared by every method. Identifiers (tenant_id, environment, feature_key) follow
/// <see cref="Engine.Identifiers.WireError"/> (128 characters, environment 64; empty means "production"); event_id is 1..128
/// printable ASCII characters.
/// A violation is an <see cref="RpcException"/> with INVALID_ARGUMENT naming the field.
/// </summary>
internal static class CheckValidation
{
    public const string DefaultEnvironment = Engine.Identifiers.DefaultEnvironment;

    /// <summary>An INVALID_ARGUMENT status carrying <paramref name="detail"/>, which names the field.</summary>
    public static RpcException Invalid(string detail) => new(new Status(StatusCode.InvalidArgument, detail));

    public static void RequireIdentifier(string value, string field, int maxLength = 128)
    {
        if (Engine.Identifiers.WireError(value, field, maxLength) is { } error)
        {
            throw Invalid(error);
        }
    }

    public static string Environment(string value)
    {
        if (value.Length == 0)
        {
            return DefaultEnvironment;
        }

        RequireIdentifier(value, "environment", 64);
        return value;
    }

    public static void RequireEventId(string value)
    {
        if (value.Length is 0 or > 128)
        {
            throw Invalid("event_id must be 1..128 characters");
        }

        foreach (var c in value)
        {
            if (c is < '!' or > '~')
            {
                throw Invalid("event_id must be printable ASCII without spaces");
            }
        }
    }
}
