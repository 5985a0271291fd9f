using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KarteMarketo.IntegrationTests.Infrastructure;

namespace KarteMarketo.IntegrationTests.FrontDoor;

/// <summary>
/// Keys are checked against each host's own cached copy of the project, with no grain call per request; a change made
/// through one host must still reach the other within seconds: a new project's keys, rotated keys, and the end of
/// the old ones. Two host processes on one PostgreSQL database, real time.
/// </summary>
public sealed class CrossHostKeyTests(CrossHostKeyTests.Hosts hosts) : IClassFixture<CrossHostKeyTests.Hosts>
{
    /// <summary>The cache keeps a copy up to 3 s; allow generously for a busy machine.</summary>
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Keys_made_or_rotated_through_one_host_work_and_stop_working_on_the_other_within_seconds()
    {
        var (a, b) = (hosts.A, hosts.B);
        // b has already looked for the project (and cached "no such project").
        using (var admin = b.CreateAdminClient())
            Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/v1/projects/cross-keys/settings")).StatusCode);

        var created = await ProjectSettingsClient.PutAsync(a, "cross-keys", Settings());
        var firstKey = (string)created["apiKey"]!;
        var firstAccepted = await TimeUntilAsync(b, firstKey, accepted: true);

        using (var rotateClient = a.CreateAdminClient())
        using (var rotate = await rotateClient.PostAsync("/v1/projects/cross-keys/keys/rotate", null))
        {
            Assert.Equal(HttpStatusCode.OK, rotate.StatusCode);
            var newKey = (string)JsonNode.Parse(await rotate.Content.ReadAsStringAsync())!["apiKey"]!;
            // The new key is checked against a fresh copy when the cached one does not know it.
            var newAccepted = await TimeUntilAsync(b, newKey, accepted: true);
            var oldRefused = await TimeUntilAsync(b, firstKey, accepted: false);
            Assert.True(newAccepted < TimeSpan.FromSeconds(5), $"new key accepted on the other host after {newAccepted}");
            Assert.True(oldRefused < TimeSpan.FromSeconds(10), $"old key refused on the other host after {oldRefused}");
        }
        Assert.True(firstAccepted < TimeSpan.FromSeconds(5), $"first key accepted on the other host after {firstAccepted}");
    }

    [Fact]
    public async Task A_console_session_and_form_token_from_one_host_are_accepted_by_the_other()
    {
        var (a, b) = (hosts.A, hosts.B);
        await ProjectSettingsClient.PutAsync(a, "cross-console", Settings());
        var cookies = new Dictionary<string, string>(StringComparer.Ordinal);

        // Signed in on A through the login form (with its antiforgery token).
        using (var login = await SendAsync(a, HttpMethod.Get, "/admin/login", cookies))
        {
            Assert.Equal(HttpStatusCode.OK, login.StatusCode);
            var token = FormToken(await login.Content.ReadAsStringAsync());
            using var signIn = await SendAsync(a, HttpMethod.Post, "/admin/login", cookies, new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["adminKey"] = a.Options.AdminKey, ["returnUrl"] = "/admin/", ["__km_af"] = token,
            }));
            Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        }
        Assert.True(cookies.ContainsKey("km_console"), "no session cookie after signing in on A");

        // B reads the session A issued (the Data Protection key ring is in PostgreSQL, shared by both hosts).
        using var page = await SendAsync(b, HttpMethod.Get, "/admin/projects/cross-console", cookies);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var form = await page.Content.ReadAsStringAsync();
        Assert.Contains("id=\"settings-form\"", form);

        // A page's form token issued by B is accepted by A, and the save goes through there.
        var stored = (await ProjectSettingsClient.GetAsync(a, "cross-console"))["marketo"]!;
        var fields = new Dictionary<string, string>
        {
            ["__km_af"] = FormToken(form), ["marketo.clientId"] = "cross-client", ["marketo.endpoint"] = (string)stored["endpoint"]!,
            ["marketo.identity"] = (string)stored["identity"]!, ["periodicSync.intervalMinutes"] = "60",
            ["realtimeSync.resyncWindowSeconds"] = "86400", ["realtimeSync.batchDelayMilliseconds"] = "1000", ["quota.dailyLimit"] = "1234",
            ["quota.reservePercent"] = "10", ["quota.callsPer20Seconds"] = "100", ["quota.maxConcurrentCalls"] = "10",
            ["karte.endpoint"] = "https://api.karte.io", ["karte.requestsPerSecond"] = "20",
        };
        using var save = await SendAsync(a, HttpMethod.Post, "/admin/projects/cross-console", cookies, new FormUrlEncodedContent(fields));
        Assert.True(save.StatusCode == HttpStatusCode.OK, $"{(int)save.StatusCode} {await save.Content.ReadAsStringAsync()}");
        Assert.Equal(1234, (int)(await ProjectSettingsClient.GetAsync(b, "cross-console"))["quota"]!["dailyLimit"]!);

        // A cookie that was not issued by the cluster is no session on either host.
        var forged = new Dictionary<string, string>(cookies) { ["km_console"] = "CfDJ8" + new string('A', 200) };
        using var refused = await SendAsync(b, HttpMethod.Get, "/admin/", forged);
        Assert.Equal(HttpStatusCode.Redirect, refused.StatusCode);
        Assert.Contains("/admin/login", refused.Headers.Location!.ToString());
    }

    /// <summary>One request without redirects, carrying and collecting cookies by hand (the two hosts differ only by
    /// port, and a browser would send the same cookies to both).</summary>
    private static async Task<HttpResponseMessage> SendAsync(HostProcess host, HttpMethod method, string path,
        Dictionary<string, string> cookies, HttpContent? content = null)
    {
        using var client = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = host.BaseAddress };
        using var request = new HttpRequestMessage(method, path) { Content = content };
        if (cookies.Count > 0) request.Headers.Add("Cookie", string.Join("; ", cookies.Select(c => $"{c.Key}={c.Value}")));
        var response = await client.SendAsync(request);
        if (response.Headers.TryGetValues("Set-Cookie", out var set))
            foreach (var header in set)
            {
                var pair = header.Split(';')[0];
                var eq = pair.IndexOf('=');
                cookies[pair[..eq]] = pair[(eq + 1)..];
            }
        return response;
    }

    private static string FormToken(string html)
    {
        var match = System.Text.RegularExpressions.Regex.Match(html, "name=\"__km_af\" type=\"hidden\" value=\"([^\"]+)\"");
        if (!match.Success) match = System.Text.RegularExpressions.Regex.Match(html, "type=\"hidden\" name=\"__km_af\" value=\"([^\"]+)\"");
        Assert.True(match.Success, "no antiforgery token in the page");
        return match.Groups[1].Value;
    }

    private static JsonObject Settings()
    {
        var settings = ProjectSettingsClient.Settings("cross-client", ProjectSettingsClient.ClosedLocalPort());
        // Auth only: nothing should try to reach Marketo.
        settings["realtimeSync"] = new JsonObject { ["enabled"] = false };
        settings["periodicSync"] = new JsonObject { ["enabled"] = false };
        return settings;
    }

    /// <summary>How long until an event posted to <paramref name="host"/> with <paramref name="key"/> is accepted
    /// (202) or refused (401); fails after <see cref="Within"/>.</summary>
    private static async Task<TimeSpan> TimeUntilAsync(HostProcess host, string key, bool accepted)
    {
        var watch = Stopwatch.StartNew();
        using var client = host.CreateClient(key);
        using var poll = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        while (true)
        {
            using var content = new StringContent("""{"userId":"u-cross","event":"view"}""", Encoding.UTF8, "application/json");
            using var response = await client.PostAsync("/v1/projects/cross-keys/events", content);
            var status = response.StatusCode;
            if (accepted ? status == HttpStatusCode.Accepted : status == HttpStatusCode.Unauthorized) return watch.Elapsed;
            Assert.True(status is HttpStatusCode.Accepted or HttpStatusCode.Unauthorized,
                $"unexpected {(int)status}: {await response.Content.ReadAsStringAsync()}");
            Assert.True(watch.Elapsed < Within, $"key still {(accepted ? "refused" : "accepted")} after {watch.Elapsed}");
            await poll.WaitForNextTickAsync();
        }
    }

    /// <summary>Two hosts on one fresh database; the Marketo client does not retry, so saving settings that point at a
    /// closed port answers at once.</summary>
    public sealed class Hosts : IAsyncLifetime
    {
        public TestDatabase Database { get; private set; } = null!;
        public HostProcess A { get; private set; } = null!;
        public HostProcess B { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Database = await TestPostgres.CreateDatabaseAsync();
            var options = new HostOptions
            {
                PostgresConnectionString = Database.ConnectionString,
                Settings = new Dictionary<string, string?>
                {
                    ["Marketo__AllowInsecureEndpoints"] = "true",
                    ["Marketo__Client__MaxRetries"] = "0",
                },
            };
            A = await HostProcess.StartAsync(options);
            B = await HostProcess.StartAsync(options);
        }

        public async Task DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
            await Database.DisposeAsync();
        }
    }
}
