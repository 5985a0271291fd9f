using System.Net;
using System.Text.Json.Nodes;
using KarteMarketo.Marketo;
using KarteMarketo.MarketoSandbox;
using Microsoft.Extensions.Time.Testing;

namespace KarteMarketo.FunctionalTests.Marketo;

/// <summary>The Marketo client against the sandbox over real HTTP.</summary>
public sealed class MarketoClientTests
{
    private const string Cookie = "id:AAA-BBB-CCC&token:_mch-example.com-1418418733122-51548";

    private static Task<MarketoResult<LeadPage>> LookupEmailsAsync(MarketoTestClient test, params string[] emails) =>
        test.Client.GetLeadsByFilterAsync(test.Connection, "email", emails, null, null);

    [Fact]
    public async Task Token_is_reused_while_valid_and_renewed_shortly_before_it_expires()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
        await using var sandbox = await SandboxServer.StartAsync(timeProvider: time);
        sandbox.State.SeedLead("a@example.com");
        using var test = new MarketoTestClient(sandbox, time);

        Assert.True((await LookupEmailsAsync(test, "a@example.com")).IsSuccess);
        Assert.True((await LookupEmailsAsync(test, "a@example.com")).IsSuccess);
        Assert.Equal(1, sandbox.Counters.CallsTo(SandboxEndpointNames.Identity));

        // 3599 s announced, renewed 60 s early: at +3540 s the client asks again and Marketo returns the same token with
        // 59 s left, which the client keeps using until it runs out.
        time.Advance(TimeSpan.FromSeconds(3540));
        Assert.True((await LookupEmailsAsync(test, "a@example.com")).IsSuccess);
        Assert.Equal(2, sandbox.Counters.CallsTo(SandboxEndpointNames.Identity));
        Assert.True((await LookupEmailsAsync(test, "a@example.com")).IsSuccess);
        Assert.Equal(2, sandbox.Counters.CallsTo(SandboxEndpointNames.Identity));

        time.Advance(TimeSpan.FromSeconds(59));
        Assert.True((await LookupEmailsAsync(test, "a@example.com")).IsSuccess);
        Assert.Equal(3, sandbox.Counters.CallsTo(SandboxEndpointNames.Identity));
        Assert.Equal(0, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, "602"));
        Assert.Equal(0, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, "601"));
        Assert.Equal(5, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, SandboxCallCodes.Success));
    }

    [Theory]
    [InlineData("602")]
    [InlineData("601")]
    public async Task A_refused_token_is_renewed_and_the_call_repeated_exactly_once(string code)
    {
        await using var sandbox = await SandboxServer.StartAsync();
        sandbox.State.SeedLead("a@example.com");
        using var test = new MarketoTestClient(sandbox);
        Assert.True((await LookupEmailsAsync(test, "a@example.com")).IsSuccess);

        if (code == "602")
        {
            sandbox.State.ExpireAllTokens();
        }
        else
        {
            sandbox.State.InvalidateAllTokens();
        }
        var result = await LookupEmailsAsync(test, "a@example.com");

        Assert.True(result.IsSuccess);
        Assert.Single(result.Value!.Leads);
        Assert.Equal(1, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, code));
        Assert.Equal(2, sandbox.Counters.CallsTo(SandboxEndpointNames.Identity, SandboxCallCodes.Success));
    }

    [Fact]
    public async Task A_token_that_keeps_being_refused_gives_AuthenticationFailed_after_one_renewal()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        using var test = new MarketoTestClient(sandbox);
        sandbox.State.InjectFault(SandboxFault.Error("601", count: 5));

        var result = await LookupEmailsAsync(test, "a@example.com");

        Assert.Equal(MarketoResultKind.AuthenticationFailed, result.Kind);
        Assert.False(result.CountedByMarketo);
        Assert.Equal(2, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, "601"));
    }

    [Fact]
    public async Task Wrong_credentials_give_AuthenticationFailed_without_a_REST_call()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        using var test = new MarketoTestClient(sandbox, clientSecret: "wrong");

        var lookup = await LookupEmailsAsync(test, "a@example.com");
        var check = await test.Client.CheckCredentialsAsync(test.Connection);

        Assert.Equal(MarketoResultKind.AuthenticationFailed, lookup.Kind);
        Assert.False(lookup.CountedByMarketo);
        Assert.Equal("Bad client credentials", lookup.Errors[0].Message);
        Assert.Equal(MarketoResultKind.AuthenticationFailed, check.Kind);
        Assert.Equal(0, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads));
        using var good = new MarketoTestClient(sandbox);
        Assert.True((await good.Client.CheckCredentialsAsync(good.Connection)).IsSuccess);
    }

    [Fact]
    public async Task Three_hundred_long_emails_go_in_one_call_without_a_414()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        var emails = Enumerable.Range(0, 300).Select(i => $"someone.with.a.long.address.{i:D3}@example-company.com").ToArray();
        foreach (var email in emails.Where((_, i) => i % 3 == 0))
        {
            sandbox.State.SeedLead(email.ToUpperInvariant());
        }
        using var test = new MarketoTestClient(sandbox);

        var result = await LookupEmailsAsync(test, emails);

        Assert.True(result.IsSuccess, string.Join(",", result.Errors));
        Assert.Equal(100, result.Value!.Leads.Count);
        Assert.Equal(1, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads));
        Assert.Equal(300, sandbox.Counters.LookupValues);

        // The same values in a GET query string would not fit: the sandbox enforces Marketo's 8 KB URI limit.
        using var http = new HttpClient();
        var token = await http.TokenAsync(sandbox);
        using var get = new HttpRequestMessage(HttpMethod.Get, sandbox.RestEndpoint + "/v1/leads.json?filterType=email&filterValues=" +
            Uri.EscapeDataString(string.Join(',', emails)));
        get.Headers.Authorization = new("Bearer", token);
        Assert.Equal(HttpStatusCode.RequestUriTooLong, (await http.SendAsync(get)).StatusCode);
    }

    [Fact]
    public async Task A_lead_is_found_by_its_full_mkto_trk_cookie_and_a_new_cookie_can_be_associated()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        var known = sandbox.State.SeedLeadWithCookie("a@example.com", Cookie);
        var other = sandbox.State.SeedLead("b@example.com");
        using var test = new MarketoTestClient(sandbox);

        var found = await test.Client.GetLeadsByFilterAsync(test.Connection, "cookies", [Cookie], ["email", "cookies"], null);
        Assert.True(found.IsSuccess, string.Join(",", found.Errors));
        var lead = Assert.Single(found.Value!.Leads);
        Assert.Equal(known, lead["id"]!.GetValue<long>());
        Assert.Equal("_mch-example.com-1418418733122-51548", lead["cookies"]!.GetValue<string>());

        const string newCookie = "id:AAA-BBB-CCC&token:_mch-example.com-1500000000000-12345";
        var associated = await test.Client.AssociateLeadAsync(test.Connection, other, newCookie);
        Assert.True(associated.IsSuccess, string.Join(",", associated.Errors));
        Assert.Equal(newCookie, Assert.Single(sandbox.Counters.Associations).Cookie);
        Assert.Contains(newCookie, sandbox.State.GetLead(other)!.Cookies);

        var unknownLead = await test.Client.AssociateLeadAsync(test.Connection, 999_999, newCookie);
        Assert.Equal(MarketoResultKind.CallerError, unknownLead.Kind);
        Assert.Equal("1004", unknownLead.Errors[0].Code);
        var badCookie = await test.Client.AssociateLeadAsync(test.Connection, other, "id:AAA-BBB-CCC");
        Assert.Equal("1012", badCookie.Errors[0].Code);
    }

    [Fact]
    public async Task Rate_limit_606_from_the_sandbox_comes_back_typed_and_is_not_retried()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { RateLimitCalls = 3 });
        using var test = new MarketoTestClient(sandbox);
        for (var i = 0; i < 3; i++)
        {
            Assert.True((await LookupEmailsAsync(test, "a@example.com")).IsSuccess);
        }

        var result = await LookupEmailsAsync(test, "a@example.com");

        Assert.Equal(MarketoResultKind.RateLimited, result.Kind);
        Assert.Equal("606", result.Errors[0].Code);
        Assert.True(result.CountedByMarketo);
        Assert.Equal(1, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, "606"));
        Assert.Equal(SandboxLimit.RateLimit, Assert.Single(sandbox.Counters.Breaches).Limit);
    }

    [Fact]
    public async Task Concurrency_limit_615_from_the_sandbox_comes_back_typed_and_is_not_retried()
    {
        var sandboxTime = new FakeTimeProvider(new DateTimeOffset(2026, 11, 28, 12, 0, 0, TimeSpan.Zero));
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { MaxConcurrentCalls = 2 }, sandboxTime);
        sandbox.State.SeedLead("a@example.com");
        using var test = new MarketoTestClient(sandbox);
        Assert.True((await test.Client.CheckCredentialsAsync(test.Connection)).IsSuccess);
        // Two calls held in flight by latency on the sandbox's fake clock.
        sandbox.State.InjectFault(SandboxFault.Delay(TimeSpan.FromSeconds(5), count: 2));
        var held = new[] { LookupEmailsAsync(test, "a@example.com"), LookupEmailsAsync(test, "a@example.com") };
        await sandbox.Counters.WaitForInFlightAsync(2).WaitAsync(TimeSpan.FromSeconds(30));

        var third = await LookupEmailsAsync(test, "a@example.com");

        Assert.Equal(MarketoResultKind.ConcurrencyLimited, third.Kind);
        Assert.Equal("615", third.Errors[0].Code);
        Assert.Equal(1, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, "615"));
        sandboxTime.Advance(TimeSpan.FromSeconds(5));
        foreach (var call in await Task.WhenAll(held))
        {
            Assert.True(call.IsSuccess);
        }
        Assert.Equal(2, sandbox.Counters.MaxInFlight);
    }

    [Fact]
    public async Task Daily_quota_607_stops_the_call()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { DailyQuota = 2 });
        using var test = new MarketoTestClient(sandbox);
        Assert.True((await LookupEmailsAsync(test, "a@example.com")).IsSuccess);
        Assert.True((await test.Client.GetDailyUsageAsync(test.Connection)).IsSuccess);

        var result = await LookupEmailsAsync(test, "a@example.com");

        Assert.Equal(MarketoResultKind.DailyQuotaExhausted, result.Kind);
        Assert.Equal(1, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, "607"));
        Assert.Equal(SandboxLimit.DailyQuota, Assert.Single(sandbox.Counters.Breaches).Limit);
    }

    [Fact]
    public async Task Unknown_field_is_reported_as_1006_with_the_field_name()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        sandbox.State.SeedLead("a@example.com");
        using var test = new MarketoTestClient(sandbox);

        var unknown = await test.Client.GetLeadsByFilterAsync(test.Connection, "email", ["a@example.com"], ["email", "karteScore"], null);
        sandbox.State.FailField("firstName");
        var failing = await test.Client.GetLeadsByFilterAsync(test.Connection, "email", ["a@example.com"], ["firstName"], null);

        Assert.Equal(MarketoResultKind.CallerError, unknown.Kind);
        Assert.Equal("1006", unknown.Errors[0].Code);
        Assert.Equal("karteScore", unknown.Errors[0].FieldName);
        Assert.Equal("firstName", failing.Errors[0].FieldName);
        Assert.Equal(2, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, "1006"));
    }

    [Fact]
    public async Task Transient_faults_are_retried_and_then_succeed()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        sandbox.State.SeedLead("a@example.com");
        // Four faults, four retries (the gateway's loop): the fifth attempt succeeds. The time-out is real time: long
        // enough for a busy machine.
        using var test = new MarketoTestClient(sandbox, configure: o => o.LookupTimeout = TimeSpan.FromSeconds(2), retries: r => r.MaxRetries = 4);
        sandbox.State.InjectFault(SandboxFault.Http(502, count: 1));
        sandbox.State.InjectFault(SandboxFault.Error("604", count: 1));
        sandbox.State.InjectFault(SandboxFault.Error("713", count: 1));
        sandbox.State.InjectFault(SandboxFault.Timeout(count: 1));

        var call = await test.CallWithRetriesAsync((client, connection, ct) => client.GetLeadsByFilterAsync(connection, "email", ["a@example.com"], null, null, ct));

        Assert.True(call.Outcome is MarketoOutcome.Completed, string.Join(",", call.Errors));
        Assert.Equal(5, call.Attempts);
        Assert.Single(call.Value!.Leads);
        var calls = sandbox.Counters.CallsByEndpointAndCode[SandboxEndpointNames.GetLeads];
        Assert.Equal(1, calls[SandboxCallCodes.Http(502)]);
        Assert.Equal(1, calls["604"]);
        Assert.Equal(1, calls["713"]);
        Assert.Equal(1, calls[SandboxCallCodes.Success]);
    }

    [Fact]
    public async Task The_client_itself_makes_exactly_one_attempt()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        using var test = new MarketoTestClient(sandbox);
        sandbox.State.InjectFault(SandboxFault.Error("608", count: 10));

        var result = await LookupEmailsAsync(test, "a@example.com");

        Assert.Equal(MarketoResultKind.Transient, result.Kind);
        Assert.False(result.CountedByMarketo);
        Assert.Equal(1, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, "608"));
    }

    [Fact]
    public async Task Transient_faults_that_last_end_as_RetryAfter_after_the_retries()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        using var test = new MarketoTestClient(sandbox, retries: r => r.MaxRetries = 2);
        sandbox.State.InjectFault(SandboxFault.Error("608", count: 10));

        var call = await test.CallWithRetriesAsync((client, connection, ct) => client.GetLeadsByFilterAsync(connection, "email", ["a@example.com"], null, null, ct));

        Assert.Equal("608", Assert.IsType<MarketoOutcome.RetryAfter>(call.Outcome).Error.Code);
        Assert.Equal(MarketoResultKind.Transient, call.Result!.Kind);
        Assert.False(call.Result.CountedByMarketo);
        Assert.Equal(3, call.Attempts);
        Assert.Equal(3, sandbox.Counters.CallsTo(SandboxEndpointNames.GetLeads, "608"));
    }

    [Fact]
    public async Task Connection_refused_is_Transient_and_not_counted()
    {
        var sandbox = await SandboxServer.StartAsync();
        using var test = new MarketoTestClient(sandbox, retries: r => r.MaxRetries = 1);
        await sandbox.DisposeAsync();

        var result = await LookupEmailsAsync(test, "a@example.com");
        var call = await test.CallWithRetriesAsync((client, connection, ct) => client.GetLeadsByFilterAsync(connection, "email", ["a@example.com"], null, null, ct));

        Assert.Equal(MarketoResultKind.Transient, result.Kind);
        Assert.False(result.CountedByMarketo);
        Assert.IsType<MarketoOutcome.RetryAfter>(call.Outcome);
        Assert.Equal(2, call.Attempts);
    }

    [Fact]
    public async Task Sync_leads_returns_per_record_results_in_input_order()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        sandbox.State.AddCustomField("karteVisits", "integer");
        var existing = sandbox.State.SeedLead("old@example.com", ("firstName", "Old"));
        using var test = new MarketoTestClient(sandbox);

        var result = await test.Client.SyncLeadsAsync(test.Connection, "createOrUpdate", "email",
        [
            new JsonObject { ["email"] = "new@example.com", ["firstName"] = "New", ["karteVisits"] = 3 },
            new JsonObject { ["email"] = "OLD@example.com", ["lastName"] = "Timer" },
            new JsonObject { ["email"] = "bad@example.com", ["karteVisits"] = "14.1" },
        ]);

        Assert.True(result.IsSuccess, string.Join(",", result.Errors));
        var records = result.Value!;
        Assert.Equal("created", records[0].Status);
        Assert.NotNull(records[0].Id);
        Assert.Equal(("updated", existing), (records[1].Status, records[1].Id!.Value));
        Assert.Equal("skipped", records[2].Status);
        Assert.Null(records[2].Id);
        Assert.Equal("1003", records[2].Reasons[0].Code);
        Assert.Equal("karteVisits", records[2].Reasons[0].FieldName);
        Assert.Equal("Timer", sandbox.State.GetLead(existing)!["lastName"]);
        Assert.Equal("3", sandbox.State.GetLead(records[0].Id!.Value)!["karteVisits"]);
        Assert.Equal(3, sandbox.Counters.LeadsSynced.Count);

        var createOnly = await test.Client.SyncLeadsAsync(test.Connection, "createOnly", "email", [new JsonObject { ["email"] = "old@example.com" }]);
        Assert.Equal("1005", createOnly.Value![0].Reasons[0].Code);
        var updateOnly = await test.Client.SyncLeadsAsync(test.Connection, "updateOnly", "email", [new JsonObject { ["email"] = "nobody@example.com" }]);
        Assert.Equal("1004", updateOnly.Value![0].Reasons[0].Code);
    }

    [Fact]
    public async Task Custom_activities_return_per_record_results_and_are_stored()
    {
        await using var sandbox = await SandboxServer.StartAsync();
        var type = sandbox.State.AddActivityType("karteEvent", "KARTE event", "eventName", "campaign", "value");
        var lead = sandbox.State.SeedLead("a@example.com");
        using var test = new MarketoTestClient(sandbox);
        var at = new DateTimeOffset(2026, 11, 28, 21, 0, 0, TimeSpan.FromHours(9));

        var result = await test.Client.AddCustomActivitiesAsync(test.Connection,
        [
            new CustomActivity(lead, at, type, "purchase", [new("campaign", "winter"), new("value", 1200)]),
            new CustomActivity(424242, at, type, "purchase", []),
            new CustomActivity(lead, at, 1, "purchase", []),
        ]);

        Assert.True(result.IsSuccess, string.Join(",", result.Errors));
        Assert.Equal("added", result.Value![0].Status);
        Assert.NotNull(result.Value[0].MarketoGuid);
        Assert.Equal(("skipped", "1004"), (result.Value[1].Status, result.Value[1].Errors[0].Code));
        Assert.Equal("skipped", result.Value[2].Status);
        Assert.NotEmpty(result.Value[2].Errors);
        var stored = Assert.Single(sandbox.Counters.ActivitiesAdded);
        Assert.Equal((lead, type, "purchase"), (stored.LeadId, stored.ActivityTypeId, stored.PrimaryAttributeValue));
        Assert.Equal("winter", stored.Attributes["campaign"]!.GetValue<string>());
        Assert.Equal(at, stored.ActivityDate);
    }

    [Fact]
    public async Task Describe_lists_standard_and_custom_fields_and_usage_reports_todays_calls()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions
        {
            CustomFields = [new SandboxFieldDefinition("karteUserId", "string", length: 255)],
        });
        using var test = new MarketoTestClient(sandbox);

        var fields = await test.Client.DescribeLeadFieldsAsync(test.Connection);
        var usage = await test.Client.GetDailyUsageAsync(test.Connection);

        Assert.True(fields.IsSuccess);
        Assert.Contains(fields.Value!, f => f is { RestName: "email", DataType: "email", ReadOnly: false });
        Assert.Contains(fields.Value!, f => f is { RestName: "updatedAt", ReadOnly: true });
        Assert.Contains(fields.Value!, f => f.RestName == "karteUserId");
        Assert.True(usage.IsSuccess);
        Assert.Equal(2, usage.Value!.Total);
        Assert.Equal(sandbox.State.QuotaDayOf(DateTimeOffset.UtcNow), usage.Value.Date);
    }
}
