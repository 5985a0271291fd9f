using System.Net;
using KarteMarketo.Marketo;

namespace KarteMarketo.UnitTests.Marketo;

/// <summary>The one classifier: every Marketo code the client knows, and every transport failure, to its outcome.</summary>
public sealed class MarketoOutcomeClassifierTests
{
    [Theory]
    // Transient: the same call may work later (the gateway retries these, each under a permit of its own).
    [InlineData("502", "RetryAfter", null)]
    [InlineData("604", "RetryAfter", null)]
    [InlineData("608", "RetryAfter", null)]
    [InlineData("611", "RetryAfter", null)]
    [InlineData("713", "RetryAfter", null)]
    // Throttled by Marketo: deferred, with Marketo's reason.
    [InlineData("606", "Deferred", DeferReason.MarketoRateLimited)]
    [InlineData("615", "Deferred", DeferReason.MarketoConcurrencyLimited)]
    [InlineData("607", "Deferred", DeferReason.MarketoDailyQuota)]
    // The token still refused after a fresh one: the credentials are wrong.
    [InlineData("601", "FailedCredentials", null)]
    [InlineData("602", "FailedCredentials", null)]
    // The request is wrong.
    [InlineData("603", "Failed", null)]
    [InlineData("605", "Failed", null)]
    [InlineData("609", "Failed", null)]
    [InlineData("610", "Failed", null)]
    [InlineData("612", "Failed", null)]
    [InlineData("613", "Failed", null)]
    [InlineData("614", "Failed", null)]
    [InlineData("616", "Failed", null)]
    [InlineData("701", "Failed", null)]
    [InlineData("702", "Failed", null)]
    [InlineData("704", "Failed", null)]
    [InlineData("709", "Failed", null)]
    [InlineData("1003", "Failed", null)]
    [InlineData("1006", "Failed", null)]
    [InlineData("1012", "Failed", null)]
    public void Every_response_level_code_has_its_outcome(string code, string expected, DeferReason? reason)
    {
        var result = new MarketoResult<int>(MarketoErrorCodes.Classify(code), 0, [new MarketoError(code, "m")], "r");

        var outcome = MarketoOutcomes.Classify(result);

        AssertOutcome(expected, reason, code, outcome);
    }

    [Fact]
    public void Success_is_completed()
    {
        Assert.Same(MarketoOutcome.Completed.Instance, MarketoOutcomes.Classify(MarketoResult<int>.Ok(1, "r")));
    }

    [Theory]
    [InlineData("HTTP 503", "RetryAfter", "503")]
    [InlineData("HTTP 500", "RetryAfter", "500")]
    [InlineData("connection refused", "RetryAfter", "connection")]
    [InlineData("not JSON", "RetryAfter", "unreadable")]
    [InlineData("HTTP 414", "Failed", "414")]
    [InlineData("HTTP 404", "Failed", "404")]
    public async Task Every_transport_failure_has_its_outcome(string failure, string expected, string code)
    {
        var client = StubClients.Create(new StubMarketoHandler((_, _) => failure switch
        {
            "HTTP 503" => Task.FromResult(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable)),
            "HTTP 500" => Task.FromResult(new HttpResponseMessage(HttpStatusCode.InternalServerError)),
            "connection refused" => throw new HttpRequestException("Connection refused"),
            "not JSON" => Task.FromResult(StubMarketoHandler.Json("<html>gateway</html>")),
            "HTTP 414" => Task.FromResult(new HttpResponseMessage(HttpStatusCode.RequestUriTooLong)),
            _ => Task.FromResult(new HttpResponseMessage(HttpStatusCode.NotFound)),
        }));

        var result = await client.GetDailyUsageAsync(StubClients.Connection);

        AssertOutcome(expected, null, code, MarketoOutcomes.Classify(result));
    }

    [Fact]
    public async Task A_time_out_is_transient()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var client = StubClients.Create(new StubMarketoHandler(async (_, ct) =>
        {
            arrived.TrySetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            throw new InvalidOperationException("unreachable");
        }), time);

        var call = client.GetDailyUsageAsync(StubClients.Connection);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(30));
        time.Advance(TimeSpan.FromSeconds(30));

        AssertOutcome("RetryAfter", null, "timeout", MarketoOutcomes.Classify(await call.WaitAsync(TimeSpan.FromSeconds(30))));
    }

    [Theory]
    [InlineData(HttpStatusCode.Unauthorized, "FailedCredentials", "401")]
    [InlineData(HttpStatusCode.InternalServerError, "RetryAfter", "500")]
    public async Task An_identity_failure_has_its_outcome(HttpStatusCode status, string expected, string code)
    {
        var client = StubClients.Create(new IdentityFailingHandler(status));

        var result = await client.GetDailyUsageAsync(StubClients.Connection);

        AssertOutcome(expected, null, code, MarketoOutcomes.Classify(result));
    }

    [Fact]
    public void Only_our_quotas_short_refusals_are_short_waits()
    {
        Assert.Equal([DeferReason.RateWindow, DeferReason.Concurrency, DeferReason.BackingOff],
            Enum.GetValues<DeferReason>().Where(r => r.IsShortWait()));
        Assert.Equal([DeferReason.DailyBudget, DeferReason.RateWindow, DeferReason.Concurrency, DeferReason.QuotaExhausted, DeferReason.BackingOff],
            Enum.GetValues<DeferReason>().Where(r => r.IsOurQuota()));
    }

    private static void AssertOutcome(string expected, DeferReason? reason, string code, MarketoOutcome outcome)
    {
        switch (expected)
        {
            case "RetryAfter":
                Assert.Equal(code, Assert.IsType<MarketoOutcome.RetryAfter>(outcome).Error.Code);
                break;
            case "Deferred":
                var deferred = Assert.IsType<MarketoOutcome.Deferred>(outcome);
                Assert.Equal(reason, deferred.Reason);
                Assert.Equal(code, deferred.Error.Code);
                break;
            case "FailedCredentials":
                var refused = Assert.IsType<MarketoOutcome.Failed>(outcome);
                Assert.True(refused.CredentialsRefused);
                Assert.Equal(code, refused.Code);
                break;
            default:
                var failed = Assert.IsType<MarketoOutcome.Failed>(outcome);
                Assert.False(failed.CredentialsRefused);
                Assert.Equal(code, failed.Code);
                break;
        }
    }

    private sealed class IdentityFailingHandler(HttpStatusCode status) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(StubMarketoHandler.Json("""{"error":"invalid_client","error_description":"Bad client credentials"}""", status));
    }
}
