using KarteMarketo.MarketoSandbox;
using Microsoft.Extensions.Time.Testing;

namespace KarteMarketo.FunctionalTests.Marketo;

/// <summary>The sandbox enforces Marketo's limits over real HTTP, on its own (fake) clock.</summary>
public sealed class SandboxLimitTests
{
    private const string Usage = "/v1/stats/usage.json";

    private static async Task<string> CallAsync(HttpClient http, SandboxServer sandbox, string token) =>
        (await http.RestAsync(sandbox, HttpMethod.Get, Usage, token)).ErrorCode() ?? "success";

    [Fact]
    public async Task The_101st_call_within_20_seconds_gets_606_and_the_window_slides()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
        await using var sandbox = await SandboxServer.StartAsync(timeProvider: time);
        using var http = new HttpClient();
        var token = await http.TokenAsync(sandbox);

        for (var i = 0; i < 50; i++)
        {
            Assert.Equal("success", await CallAsync(http, sandbox, token));
        }
        time.Advance(TimeSpan.FromSeconds(10));
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal("success", await CallAsync(http, sandbox, token));
        }
        time.Advance(TimeSpan.FromSeconds(9.999));
        Assert.Equal("606", await CallAsync(http, sandbox, token));

        // 20 s after the first 50, they leave the window: 50 more fit, the 51st does not.
        time.Advance(TimeSpan.FromMilliseconds(1));
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal("success", await CallAsync(http, sandbox, token));
        }
        Assert.Equal("606", await CallAsync(http, sandbox, token));

        Assert.Equal(100, sandbox.Counters.MaxCallsInWindow);
        Assert.Equal(2, sandbox.Counters.Breaches.Count);
        Assert.All(sandbox.Counters.Breaches, b => Assert.Equal(SandboxLimit.RateLimit, b.Limit));
    }

    [Fact]
    public async Task The_11th_concurrent_call_gets_615()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
        await using var sandbox = await SandboxServer.StartAsync(timeProvider: time);
        using var http = new HttpClient();
        var token = await http.TokenAsync(sandbox);
        sandbox.State.InjectFault(SandboxFault.Delay(TimeSpan.FromSeconds(2), count: 10));

        var held = Enumerable.Range(0, 10).Select(_ => CallAsync(http, sandbox, token)).ToArray();
        await sandbox.Counters.WaitForInFlightAsync(10).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("615", await CallAsync(http, sandbox, token));

        time.Advance(TimeSpan.FromSeconds(2));
        Assert.All(await Task.WhenAll(held), code => Assert.Equal("success", code));
        Assert.Equal("success", await CallAsync(http, sandbox, token));
        Assert.Equal(10, sandbox.Counters.MaxInFlight);
        Assert.Equal(SandboxLimit.Concurrency, Assert.Single(sandbox.Counters.Breaches).Limit);
    }

    [Theory]
    // January: Central Standard Time, UTC-6, so the day ends at 06:00 UTC.
    [InlineData("2027-01-15T05:59:59Z", "2027-01-15T06:00:00Z", "2027-01-15T05:30:00Z")]
    // July: Central Daylight Time, UTC-5, so the day ends at 05:00 UTC.
    [InlineData("2026-07-15T04:59:59Z", "2026-07-15T05:00:00Z", "2026-07-15T04:30:00Z")]
    public async Task The_daily_quota_trips_at_the_quota_and_resets_at_Central_midnight(string lastSecond, string midnight, string start)
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse(start, System.Globalization.CultureInfo.InvariantCulture));
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { DailyQuota = 5 }, time);
        using var http = new HttpClient();
        var token = await http.TokenAsync(sandbox);

        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("success", await CallAsync(http, sandbox, token));
        }
        Assert.Equal("607", await CallAsync(http, sandbox, token));
        Assert.Equal(5, sandbox.State.UsedToday);

        time.SetUtcNow(DateTimeOffset.Parse(lastSecond, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("607", await CallAsync(http, sandbox, token));
        Assert.Equal(DateTimeOffset.Parse(midnight, System.Globalization.CultureInfo.InvariantCulture), sandbox.State.NextQuotaReset);

        time.SetUtcNow(DateTimeOffset.Parse(midnight, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("success", await CallAsync(http, sandbox, token));
        Assert.Equal(1, sandbox.State.UsedToday);
        Assert.Equal(2, sandbox.Counters.Breaches.Count(b => b.Limit == SandboxLimit.DailyQuota));
    }

    [Fact]
    public async Task Calls_Marketo_does_not_count_are_not_counted()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { DailyQuota = 2, RateLimitCalls = 2 });
        using var http = new HttpClient();
        var token = await http.TokenAsync(sandbox);

        Assert.Equal("601", await CallAsync(http, sandbox, "not-a-token"));
        sandbox.State.InjectFault(SandboxFault.Error("604", count: 1));
        sandbox.State.InjectFault(SandboxFault.Error("608", count: 1));
        Assert.Equal("604", await CallAsync(http, sandbox, token));
        Assert.Equal("608", await CallAsync(http, sandbox, token));
        Assert.Equal(0, sandbox.State.UsedToday);

        Assert.Equal("success", await CallAsync(http, sandbox, token));
        Assert.Equal("success", await CallAsync(http, sandbox, token));
        Assert.Equal(2, sandbox.State.UsedToday);
        Assert.Equal(2, sandbox.Counters.CountedCalls);
        Assert.Empty(sandbox.Counters.Breaches);
    }

    [Fact]
    public async Task Other_integrations_usage_counts_toward_the_quota()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { DailyQuota = 10 });
        sandbox.State.SetUsedToday(9);
        using var http = new HttpClient();
        var token = await http.TokenAsync(sandbox);

        var usage = await http.RestAsync(sandbox, HttpMethod.Get, Usage, token);
        Assert.Equal(10, usage["result"]![0]!["total"]!.GetValue<int>());
        Assert.Equal("607", await CallAsync(http, sandbox, token));
    }
}
