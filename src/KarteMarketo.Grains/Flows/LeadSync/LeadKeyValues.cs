using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace KarteMarketo.Grains.Flows.LeadSync;

/// <summary>Normalises and checks the values of lookup keys (API.md, "KARTE events in"). Pure.</summary>
public static class LeadKeyValues
{
    /// <summary>Longest accepted email (RFC 5321 path limit).</summary>
    public const int MaxEmailLength = 254;

    /// <summary>Longest accepted <c>_mkto_trk</c> value; real ones are well under 100 characters.</summary>
    public const int MaxCookieLength = 256;

    private const string LocalSpecials = "!#$%&'*+/=?^_`{|}~.-";
    private const string AsciiLettersAndDigits = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    private static readonly SearchValues<char> LocalCharacters = SearchValues.Create(AsciiLettersAndDigits + LocalSpecials);
    private static readonly SearchValues<char> DomainCharacters = SearchValues.Create(AsciiLettersAndDigits + "-");
    private static readonly SearchValues<char> AsciiDigits = SearchValues.Create("0123456789");

    /// <summary>Trims and lower-cases an email and checks it is a plain ASCII address (Marketo accepts ASCII emails only).
    /// Returns false with a reason for anything else.</summary>
    public static bool TryNormalizeEmail(string? raw, [NotNullWhen(true)] out string? email, [NotNullWhen(false)] out string? error)
    {
        email = null;
        var text = raw?.Trim().ToLowerInvariant();
        if (string.IsNullOrEmpty(text)) { error = "is empty"; return false; }
        if (text.Length > MaxEmailLength) { error = $"is longer than {MaxEmailLength} characters"; return false; }

        // Checked on spans: the events hot path (issue 18) normalises every identify's email, and an address already in
        // normal form (the usual case) costs no allocation (Trim and ToLowerInvariant return the same string).
        var at = text.IndexOf('@');
        if (at <= 0 || at != text.LastIndexOf('@') || at == text.Length - 1) { error = "is not an email address"; return false; }
        var local = text.AsSpan(0, at);
        var domain = text.AsSpan(at + 1);

        if (local.Length > 64 || local[0] == '.' || local[^1] == '.' || local.Contains("..", StringComparison.Ordinal)
            || local.ContainsAnyExcept(LocalCharacters))
        {
            error = "is not an email address"; return false;
        }

        var labels = 0;
        var last = ReadOnlySpan<char>.Empty;
        foreach (var range in domain.Split('.'))
        {
            var label = domain[range];
            labels++;
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-' || label.ContainsAnyExcept(DomainCharacters))
            {
                error = "is not an email address"; return false;
            }
            last = label;
        }
        if (labels < 2 || last.Length < 2 || !last.ContainsAnyExcept(AsciiDigits))
        {
            error = "is not an email address"; return false;
        }

        email = text;
        error = null;
        return true;
    }

    /// <summary>Checks a Munchkin cookie (<c>_mkto_trk</c>): <c>id:AAA-BBB-CCC&amp;token:_mch-…</c>, trimmed. Marketo wants the
    /// whole value; a comma would split a batched lookup's <c>filterValues</c>, so it is refused.</summary>
    public static bool TryNormalizeCookie(string? raw, [NotNullWhen(true)] out string? cookie, [NotNullWhen(false)] out string? error)
    {
        cookie = null;
        var text = raw?.Trim();
        if (string.IsNullOrEmpty(text)) { error = "is empty"; return false; }
        if (text.Length > MaxCookieLength) { error = $"is longer than {MaxCookieLength} characters"; return false; }
        var tokenAt = text.IndexOf("&token:", StringComparison.Ordinal);
        if (!text.StartsWith("id:", StringComparison.Ordinal) || tokenAt <= 3 || tokenAt + 7 >= text.Length
            || text.AsSpan().IndexOfAnyExceptInRange('!', '~') >= 0 || text.Contains(','))
        {
            error = "is not a Munchkin cookie (id:AAA-BBB-CCC&token:_mch-…)"; return false;
        }
        cookie = text;
        error = null;
        return true;
    }

    /// <summary>The token part of a cookie (<c>_mch-…</c>), which is what Marketo returns in a lead's <c>cookies</c> field.</summary>
    public static string CookieToken(string cookie)
    {
        var tokenAt = cookie.IndexOf("&token:", StringComparison.Ordinal);
        return tokenAt < 0 ? cookie : cookie[(tokenAt + 7)..];
    }
}
