using System.Globalization;
using System.Text;

namespace EntitlementDecision.Stripe.Api;

/// <summary>
/// Stripe's form encoding (<c>application/x-www-form-urlencoded</c>, as Stripe's libraries send it): nested keys in
/// brackets left unescaped (<c>metadata[tenant_id]</c>, <c>line_items[0][price]</c>), values percent-encoded per
/// RFC 3986, booleans <c>true</c>/<c>false</c>, integers in invariant culture. Keeps insertion order.
/// </summary>
internal sealed class StripeFormEncoder
{
    private readonly List<KeyValuePair<string, string>> _fields = [];

    /// <summary>The fields added so far, in order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Fields => _fields;

    /// <summary>Adds <paramref name="key"/>=<paramref name="value"/> unless the value is null.</summary>
    public StripeFormEncoder Add(string key, string? value)
    {
        if (value is not null)
        {
            _fields.Add(new(key, value));
        }

        return this;
    }

    public StripeFormEncoder Add(string key, long? value) =>
        Add(key, value?.ToString(CultureInfo.InvariantCulture));

    public StripeFormEncoder Add(string key, bool? value) =>
        Add(key, value is null ? null : value.Value ? "true" : "false");

    /// <summary>Adds <c>prefix[key]=value</c> for each entry, in key order (ordinal) so the body is deterministic.</summary>
    public StripeFormEncoder AddMap(string prefix, IEnumerable<KeyValuePair<string, string>>? map)
    {
        if (map is not null)
        {
            foreach (var (key, value) in map.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                Add($"{prefix}[{key}]", value ?? "");
            }
        }

        return this;
    }

    /// <summary>Adds <c>name[]=value</c> for each value (Stripe's <c>expand[]</c> form).</summary>
    public StripeFormEncoder AddList(string name, IEnumerable<string>? values)
    {
        foreach (var value in values ?? [])
        {
            Add($"{name}[]", value);
        }

        return this;
    }

    /// <summary>The encoded body or query string (without a leading <c>?</c>).</summary>
    public string Encode()
    {
        var builder = new StringBuilder();
        foreach (var (key, value) in _fields)
        {
            if (builder.Length > 0)
            {
                builder.Append('&');
            }

            builder.Append(EscapeKey(key)).Append('=').Append(Uri.EscapeDataString(value));
        }

        return builder.ToString();
    }

    private static string EscapeKey(string key) =>
        Uri.EscapeDataString(key).Replace("%5B", "[", StringComparison.Ordinal).Replace("%5D", "]", StringComparison.Ordinal);
}
