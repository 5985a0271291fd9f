using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using KarteMarketo.Contracts.LeadSync;

namespace KarteMarketo.Grains.Identity;

/// <summary>
/// The lead identity rules in one place (API.md, "Lead identity rules"; "KARTE events in"): how an email and a
/// Munchkin cookie (<c>_mkto_trk</c>) are normalised, and which key wins where a user, an identify, a webhook or an
/// activity carries both. Email is preferred over the cookie everywhere; the cookie only speaks where the email is
/// absent or found no lead. Pure: callers do the reading and the grain calls, this class only decides.
/// </summary>
public static class LeadKeyPolicy
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

    // ---- Precedence ------------------------------------------------------------------------------------------

    /// <summary>The keys an identify carrying <paramref name="email"/> and/or <paramref name="cookie"/> (normalised,
    /// at least one) touches: with an email, the email key is looked up and gets the cookie as its fallback, and the
    /// cookie key is only linked; a cookie alone is looked up by itself.</summary>
    public static IdentifyKeys ForIdentify(string? email, string? cookie) => email is not null
        ? new IdentifyKeys(LeadKeyType.Email, email, cookie, cookie)
        : new IdentifyKeys(LeadKeyType.Cookie, cookie ?? throw new ArgumentException("An identify needs an email or a cookie", nameof(cookie)), null, null);

    /// <summary>What an email key does now with the cookie of an identify that starts no lookup on it: where the email
    /// cannot find the user's lead (realtime sync does not look emails up, or the last lookup found none) the cookie
    /// key is tried at once; while the email's lookup is pending the cookie waits for its answer; otherwise (the email
    /// found a lead, or its outcome stands) the cookie is not needed.</summary>
    public static CookieFallback CookieFallbackNow(bool emailLookedUp, SyncResult? emailResult) =>
        !emailLookedUp || emailResult == SyncResult.NotFound ? CookieFallback.HandOver
        : emailResult == SyncResult.Pending ? CookieFallback.WaitForAnswer
        : CookieFallback.NotNeeded;

    /// <summary>Whether a key of <paramref name="type"/> whose lookup found no lead hands its users over to the
    /// cookies their identifies carried (only email keys have cookie fallbacks).</summary>
    public static bool HandsOverOnNotFound(LeadKeyType type) => type == LeadKeyType.Email;

    /// <summary>Whether a user keeps only the latest key of <paramref name="type"/>: a user has one email (a new email
    /// link ends the user's other email links, and a lead the old email gave is cleared from the user), while cookies
    /// (one per browser) accumulate. Both user stores apply it.</summary>
    public static bool LatestKeyWins(LeadKeyType type) => type == LeadKeyType.Email;

    /// <summary>Whether a lead found by <paramref name="incoming"/> may replace what a user has: a lead found by cookie
    /// does not replace one found by email. Both user stores apply it (PostgreSQL also in its upsert's WHERE).</summary>
    public static bool MayReplaceLead(LeadKeyType? currentSyncedBy, long? currentLeadId, LeadKeyType incoming) =>
        incoming == LeadKeyType.Email || currentSyncedBy != LeadKeyType.Email || currentLeadId is null;

    /// <summary>A user's keys as the rules read them: the email key (a user has at most one: the latest email wins)
    /// and the first cookie key.</summary>
    public static (UserKey? Email, UserKey? Cookie) KeysOf(IReadOnlyList<UserKey> keys) =>
        (keys.FirstOrDefault(k => k.Type == LeadKeyType.Email), keys.FirstOrDefault(k => k.Type == LeadKeyType.Cookie));

    /// <summary>The key whose sync state speaks for a user (<c>GET …/users/{userId}</c>'s <c>sync</c> block): the
    /// email key; where it has no outcome or found nothing and the cookie was tried, the cookie's outcome counts.
    /// <paramref name="viewOf"/> is asked only for the keys the rule needs.</summary>
    public static async Task<(UserKey Key, LeadKeyView View)?> KeySpeakingForUserAsync(IReadOnlyList<UserKey> keys,
        Func<UserKey, Task<LeadKeyView>> viewOf)
    {
        var (email, cookie) = KeysOf(keys);
        (UserKey Key, LeadKeyView View)? chosen = null;
        if (email is not null) chosen = (email, await viewOf(email));
        if (cookie is not null && (chosen is null || chosen.Value.View.LastResult is null or SyncResult.NotFound))
        {
            var cookieView = await viewOf(cookie);
            if (chosen is null || cookieView.LastResult is not null) chosen = (cookie, cookieView);
        }
        return chosen;
    }

    /// <summary>Where a Marketo webhook's users are looked for, in order, the first that has any winning: the users
    /// linked to its email, else those whose lead has its lead id, else those linked to its cookie.</summary>
    public static IEnumerable<WebhookMatch> WebhookMatchOrder(string? email, long? leadId, string? cookie)
    {
        if (email is not null) yield return WebhookMatch.ByKey(new UserKey(LeadKeyType.Email, email));
        if (leadId is { } id) yield return WebhookMatch.ByLeadId(id);
        if (cookie is not null) yield return WebhookMatch.ByKey(new UserKey(LeadKeyType.Cookie, cookie));
    }

    /// <summary>The key a custom activity's lead is resolved by: the activity's own email, else the user's current
    /// email key (the latest email wins), else the user's cookie key, else the activity's cookie; null when none is
    /// known. <paramref name="userKeys"/> need only be read where <paramref name="activityEmail"/> is null.</summary>
    public static UserKey? KeyForActivity(string? activityEmail, IReadOnlyList<UserKey> userKeys, string? activityCookie)
    {
        if (activityEmail is { Length: > 0 }) return new UserKey(LeadKeyType.Email, activityEmail);
        var (email, cookie) = KeysOf(userKeys);
        if ((email ?? cookie) is { } known) return known;
        return activityCookie is { Length: > 0 } ? new UserKey(LeadKeyType.Cookie, activityCookie) : null;
    }
}

/// <summary>The keys one identify touches (<see cref="LeadKeyPolicy.ForIdentify"/>): the key it looks up, the cookie
/// that key falls back to, and the cookie key it only links (null where the identify carried no such cookie).</summary>
public readonly record struct IdentifyKeys(LeadKeyType LookupType, string LookupValue, string? CookieFallback, string? LinkedCookie);

/// <summary>What an email key does with an identify's cookie (<see cref="LeadKeyPolicy.CookieFallbackNow"/>).</summary>
public enum CookieFallback
{
    /// <summary>The email's outcome stands: the cookie changes nothing.</summary>
    NotNeeded = 0,
    /// <summary>The email's lookup is pending: the cookie is tried if its answer finds no lead.</summary>
    WaitForAnswer = 1,
    /// <summary>The email cannot find the lead: the cookie key is tried now.</summary>
    HandOver = 2,
}

/// <summary>One place a webhook's users are looked for: the users linked to a key, or those whose lead has an id.</summary>
public readonly record struct WebhookMatch(UserKey? Key, long? LeadId)
{
    public static WebhookMatch ByKey(UserKey key) => new(key, null);
    public static WebhookMatch ByLeadId(long leadId) => new(null, leadId);
}
