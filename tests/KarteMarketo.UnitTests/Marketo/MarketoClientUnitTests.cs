using System.Net;
using System.Text.Json.Nodes;
using KarteMarketo.Marketo;
using Microsoft.Extensions.Time.Testing;

namespace KarteMarketo.UnitTests.Marketo;

public sealed class MarketoClientUnitTests
{
    [Theory]
    [InlineData("601", MarketoResultKind.AuthenticationFailed, false)]
    [InlineData("602", MarketoResultKind.AuthenticationFailed, false)]
    [InlineData("502", MarketoResultKind.Transient, true)]
    [InlineData("604", MarketoResultKind.Transient, false)]
    [InlineData("608", MarketoResultKind.Transient, false)]
    [InlineData("611", MarketoResultKind.Transient, false)]
    [InlineData("713", MarketoResultKind.Transient, true)]
    [InlineData("606", MarketoResultKind.RateLimited, true)]
    [InlineData("615", MarketoResultKind.ConcurrencyLimited, true)]
    [InlineData("607", MarketoResultKind.DailyQuotaExhausted, true)]
    [InlineData("603", MarketoResultKind.CallerError, true)]
    [InlineData("605", MarketoResultKind.CallerError, false)]
    [InlineData("609", MarketoResultKind.CallerError, true)]
    [InlineData("610", MarketoResultKind.CallerError, true)]
    [InlineData("612", MarketoResultKind.CallerError, true)]
    [InlineData("613", MarketoResultKind.CallerError, true)]
    [InlineData("614", MarketoResultKind.CallerError, true)]
    [InlineData("616", MarketoResultKind.CallerError, true)]
    [InlineData("701", MarketoResultKind.CallerError, true)]
    [InlineData("702", MarketoResultKind.CallerError, true)]
    [InlineData("704", MarketoResultKind.CallerError, true)]
    [InlineData("709", MarketoResultKind.CallerError, true)]
    [InlineData("1003", MarketoResultKind.CallerError, true)]
    [InlineData("1006", MarketoResultKind.CallerError, true)]
    public void Every_response_level_code_has_a_kind_and_a_counted_flag(string code, MarketoResultKind kind, bool counted)
    {
        Assert.Equal(kind, MarketoErrorCodes.Classify(code));
        Assert.Equal(counted, MarketoErrorCodes.IsCounted(code));
    }

    [Theory]
    [InlineData("604", MarketoResultKind.Transient)]
    [InlineData("606", MarketoResultKind.RateLimited)]
    [InlineData("615", MarketoResultKind.ConcurrencyLimited)]
    [InlineData("607", MarketoResultKind.DailyQuotaExhausted)]
    [InlineData("1006", MarketoResultKind.CallerError)]
    public async Task The_client_makes_one_attempt_whatever_the_code(string code, MarketoResultKind kind)
    {
        var handler = new StubMarketoHandler((_, _) => Task.FromResult(StubMarketoHandler.Json(
            $$"""{"requestId":"r","success":false,"errors":[{"code":{{code}},"message":"Field 'x' not found"}]}""")));
        var client = StubClients.Create(handler);

        var result = await client.GetDailyUsageAsync(StubClients.Connection);

        Assert.Equal(kind, result.Kind);
        Assert.Equal(code, result.Errors[0].Code);
        Assert.Equal(1, handler.Requests.Count(r => r.Uri.AbsolutePath.EndsWith("usage.json")));
        Assert.Equal(MarketoErrorCodes.IsCounted(code), result.CountedByMarketo);
    }

    [Theory]
    [InlineData("601")]
    [InlineData("602")]
    public async Task A_refused_token_is_renewed_and_the_call_made_once_more(string code)
    {
        var calls = 0;
        var handler = new StubMarketoHandler((_, _) => Task.FromResult(StubMarketoHandler.Json(Interlocked.Increment(ref calls) == 1
            ? $$"""{"requestId":"r","success":false,"errors":[{"code":"{{code}}","message":"Access token invalid"}]}"""
            : """{"requestId":"r2","success":true,"result":[{"date":"2026-11-28","total":3}]}""")));
        var client = StubClients.Create(handler);

        var result = await client.GetDailyUsageAsync(StubClients.Connection);

        Assert.True(result.IsSuccess);
        Assert.Equal(2, handler.Requests.Count(r => r.Uri.AbsolutePath.EndsWith("usage.json")));
        Assert.Equal(2, handler.Requests.Count(r => r.Uri.AbsolutePath.EndsWith("/oauth/token")));
    }

    [Fact]
    public async Task Responses_are_read_leniently()
    {
        var handler = new StubMarketoHandler((request, _) => Task.FromResult(StubMarketoHandler.Json(request.Uri.AbsolutePath switch
        {
            // No errors/warnings keys at all, warnings as strings, explicit nulls, ids as strings.
            var p when p.EndsWith("/v1/leads.json") && request.Body.Contains("action") =>
                """{"requestId":"r1","success":true,"warnings":["plain text warning"],"result":[{"id":"7","status":"updated"},{"status":"skipped","reason":{"code":1007,"message":"Multiple lead match lookup criteria"}},{"id":null,"status":"skipped","reasons":[{"code":"1003","message":"Invalid value for field 'x' and value 'y'"}]}]}""",
            var p when p.EndsWith("/v1/leads.json") =>
                """{"requestId":"r2","success":true,"result":[{"id":1,"email":"a@example.com","firstName":null}],"nextPageToken":"NEXT","moreResult":true}""",
            var p when p.EndsWith("describe.json") =>
                """{"success":true,"result":[{"id":1,"displayName":"Email","dataType":"email","rest":{"name":"email","readOnly":false}},{"id":2,"displayName":"SOAP only","dataType":"string"},{"id":3,"dataType":"datetime","rest":{"name":"updatedAt","readOnly":true}}]}""",
            var p when p.EndsWith("usage.json") =>
                """{"success":true,"result":[{"date":"2015-10-17T00:00:00Z","total":"1120","users":[]}],"errors":null,"warnings":[{"code":1,"message":"m"}]}""",
            _ => """{"success":true,"result":[{"id":5,"marketoGUID":5,"status":"added"},{"status":"skipped","errors":[{"code":1004,"message":"Lead not found"}]}]}""",
        })));
        var client = StubClients.Create(handler);
        var connection = StubClients.Connection;

        var sync = await client.SyncLeadsAsync(connection, "createOrUpdate", "email", [new JsonObject { ["email"] = "a@example.com" }]);
        var lookup = await client.GetLeadsByFilterAsync(connection, "email", ["a@example.com"], ["email", "firstName"], null);
        var fields = await client.DescribeLeadFieldsAsync(connection);
        var usage = await client.GetDailyUsageAsync(connection);
        var activities = await client.AddCustomActivitiesAsync(connection, [new CustomActivity(1, DateTimeOffset.UnixEpoch, 1, "x", [])]);

        Assert.Equal((7L, "updated"), (sync.Value![0].Id!.Value, sync.Value[0].Status));
        Assert.Equal("1007", sync.Value[1].Reasons[0].Code);
        Assert.Equal("x", sync.Value[2].Reasons[0].FieldName);
        Assert.Equal("NEXT", lookup.Value!.NextPageToken);
        Assert.True(lookup.Value.Leads[0].ContainsKey("firstName"));
        Assert.Null(lookup.Value.Leads[0]["firstName"]);
        Assert.Equal(["email", "updatedAt"], fields.Value!.Select(f => f.RestName));
        Assert.True(fields.Value![1].ReadOnly);
        Assert.Equal((new DateOnly(2015, 10, 17), 1120), (usage.Value!.Date, usage.Value.Total));
        Assert.Equal(("5", "added"), (activities.Value![0].MarketoGuid, activities.Value[0].Status));
        Assert.Equal("1004", activities.Value[1].Errors[0].Code);
    }

    [Fact]
    public async Task Oversized_or_empty_batches_are_refused_without_a_call()
    {
        var handler = new StubMarketoHandler();
        var client = StubClients.Create(handler);

        var lookup = await client.GetLeadsByFilterAsync(StubClients.Connection, "email", Enumerable.Range(0, 301).Select(i => $"{i}@e.com").ToList(), null, null);
        var sync = await client.SyncLeadsAsync(StubClients.Connection, "createOrUpdate", "email", []);

        Assert.Equal(MarketoResultKind.CallerError, lookup.Kind);
        Assert.False(lookup.CountedByMarketo);
        Assert.Equal(MarketoResultKind.CallerError, sync.Kind);
        Assert.Empty(handler.Requests);
    }

    [Fact]
    public async Task Tokens_are_cached_per_client_id()
    {
        var handler = new StubMarketoHandler();
        var client = StubClients.Create(handler);
        var second = StubClients.Connection with { ClientId = "client-2" };

        await client.GetDailyUsageAsync(StubClients.Connection);
        await client.GetDailyUsageAsync(StubClients.Connection);
        await client.GetDailyUsageAsync(second);

        Assert.Equal(2, handler.Requests.Count(r => r.Uri.AbsolutePath.EndsWith("/oauth/token")));
        Assert.Equal(["client-1", "client-2"], handler.Requests.Where(r => r.Uri.AbsolutePath.EndsWith("/oauth/token"))
            .Select(r => System.Web.HttpUtility.ParseQueryString(r.Uri.Query)["client_id"]));
    }

    [Fact]
    public async Task The_per_endpoint_time_out_runs_on_the_injected_clock()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new StubMarketoHandler(async (_, ct) =>
        {
            arrived.TrySetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, ct); // Marketo never answers.
            throw new InvalidOperationException("unreachable");
        });
        var client = StubClients.Create(handler, time);

        var call = client.GetLeadsByFilterAsync(StubClients.Connection, "email", ["a@example.com"], null, null);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(30));
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.False(call.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(1)); // 60 s: Get Leads' time-out.
        var result = await call.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(MarketoResultKind.Transient, result.Kind);
        Assert.Equal("timeout", result.Errors[0].Code);
        Assert.True(result.CountedByMarketo);
        Assert.Single(handler.Requests, r => r.Uri.AbsolutePath.EndsWith("/v1/leads.json"));
    }
}
