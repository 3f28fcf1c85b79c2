using System.Text;

namespace EntitlementDecision.Grpc.Internal;

/// <summary>
/// grpc-message encoding (PROTOCOL-HTTP2.md): the UTF-8 bytes of the message, where every byte outside
/// the printable ASCII range 0x20-0x7E, and '%' itself, is sent as "%XX".
/// </summary>
internal static class PercentEncoding
{
    private const string HexUpper = "0123456789ABCDEF";

    public static string Encode(string value)
    {
        var i = 0;
        for (; i < value.Length; i++)
        {
            if (!IsUnreserved(value[i]))
            {
                break;
            }
        }

        if (i == value.Length)
        {
            return value; // the common case: nothing to escape, no allocation
        }

        var utf8 = Encoding.UTF8.GetBytes(value);
        var builder = new StringBuilder(utf8.Length + 16);
        foreach (var b in utf8)
        {
            if (IsUnreserved((char)b))
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append('%').Append(HexUpper[b >> 4]).Append(HexUpper[b & 0xF]);
            }
        }

        return builder.ToString();
    }

    /// <summary>
    /// Decodes "%XX" sequences and reads the result as UTF-8. A '%' not followed by two hex digits is kept
    /// as is (the spec asks receivers to be lenient).
    /// </summary>
    public static string Decode(string value)
    {
        if (value.IndexOf('%', StringComparison.Ordinal) < 0)
        {
            return value;
        }

        var bytes = new List<byte>(value.Length);
        Span<byte> scratch = stackalloc byte[4];
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '%' && i + 2 < value.Length && TryHex(value[i + 1], out var hi) && TryHex(value[i + 2], out var lo))
            {
                bytes.Add((byte)((hi << 4) | lo));
                i += 2;
            }
            else if (c < 0x80)
            {
                bytes.Add((byte)c);
            }
            else
            {
                // Not allowed on the wire, but keep it rather than drop it.
                Rune.DecodeFromUtf16(value.AsSpan(i), out var rune, out var consumed); // invalid: U+FFFD
                var written = rune.EncodeToUtf8(scratch);
                for (var k = 0; k < written; k++)
                {
                    bytes.Add(scratch[k]);
                }

                i += consumed - 1;
            }
        }

        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    private static bool IsUnreserved(char c) => c >= ' ' && c <= '~' && c != '%';

    private static bool TryHex(char c, out int value)
    {
        value = c switch
        {
            >= '0' and <= '9' => c - '0',
            >= 'A' and <= 'F' => c - 'A' + 10,
            >= 'a' and <= 'f' => c - 'a' + 10,
            _ => -1,
        };
        return value >= 0;
    }
}
