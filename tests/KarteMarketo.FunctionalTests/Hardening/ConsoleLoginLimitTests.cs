using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KarteMarketo.FunctionalTests.Infrastructure;

namespace KarteMarketo.FunctionalTests.Hardening;

/// <summary>
/// The console sign-in (<c>/admin/login</c>) is limited like the API (API.md, "A hardened host", Abuse): wrong admin
/// keys count against the client address's <c>Auth:FailedPerMinute</c>, shared with the API; past it every sign-in,
/// the right key included, and every API call from that address is <c>429</c> problem+json with <c>Retry-After</c>
/// until the minute is over. Over HTTP with the form's antiforgery token, as a browser posts it.
/// </summary>
public sealed partial class ConsoleLoginLimitTests
{
    private sealed class LimitedFactory : KarteMarketoAppFactory
    {
        public LimitedFactory() => Settings["Auth:FailedPerMinute"] = "3";
    }

    [Fact]
    public async Task A_flood_of_wrong_keys_at_the_console_login_is_429_until_the_minute_is_over_for_the_console_and_the_api()
    {
        await using var app = new LimitedFactory();
        using var browser = app.CreateClient(new() { AllowAutoRedirect = false, HandleCookies = true });

        for (var i = 0; i < 3; i++)
        {
            using var refused = await SignInAsync(browser, "wrong-key-" + i);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        // The budget is spent: the right key is refused too, as problem+json with Retry-After, and sets no session.
        using (var limited = await SignInAsync(browser, KarteMarketoAppFactory.AdminKey))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
            Assert.Equal("application/problem+json", limited.Content.Headers.ContentType?.MediaType);
            Assert.InRange(int.Parse(limited.Headers.RetryAfter!.ToString()), 1, 60);
            Assert.Equal(429, (int)JsonNode.Parse(await limited.Content.ReadAsStringAsync())!["status"]!);
            Assert.False(limited.Headers.Contains("Set-Cookie") && limited.Headers.GetValues("Set-Cookie").Any(c => c.StartsWith("km_console")));
        }
        // One budget per address: the API refuses the admin key from there as well.
        using (var api = app.CreateClient())
        {
            api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", KarteMarketoAppFactory.AdminKey);
            using var response = await api.GetAsync("/v1/projects/any/settings");
            Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        }

        // A minute later the right key signs in.
        app.Time.Advance(TimeSpan.FromSeconds(61));
        using var accepted = await SignInAsync(browser, KarteMarketoAppFactory.AdminKey);
        Assert.Equal(HttpStatusCode.Redirect, accepted.StatusCode);
        Assert.Equal("/admin/", accepted.Headers.Location?.OriginalString);
    }

    /// <summary>GET the form (antiforgery cookie and token), then POST it with <paramref name="adminKey"/>.</summary>
    private static async Task<HttpResponseMessage> SignInAsync(HttpClient browser, string adminKey)
    {
        var form = await browser.GetStringAsync("/admin/login");
        var token = AntiforgeryToken().Match(form);
        Assert.True(token.Success, "the login form carries an antiforgery token");
        return await browser.PostAsync("/admin/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["adminKey"] = adminKey,
            [token.Groups[1].Value] = WebUtility.HtmlDecode(token.Groups[2].Value),
        }));
    }

    /// <summary>The hidden field the form tag helper adds (its name is the console's antiforgery field name).</summary>
    [GeneratedRegex("<input name=\"(__[^\"]+)\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex AntiforgeryToken();
}
