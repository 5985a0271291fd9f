using KarteMarketo.Contracts.Projects;
using KarteMarketo.Contracts.Quota;
using KarteMarketo.Grains.Marketo;
using KarteMarketo.Marketo;

namespace KarteMarketo.UnitTests.Quota;

public sealed class MarketoGatewayMappingTests
{
    [Theory]
    [InlineData(MarketoResultKind.Success, true, MarketoCallOutcome.Counted)]
    [InlineData(MarketoResultKind.CallerError, true, MarketoCallOutcome.Counted)]
    [InlineData(MarketoResultKind.Transient, true, MarketoCallOutcome.Counted)]
    [InlineData(MarketoResultKind.Transient, false, MarketoCallOutcome.NotCounted)]
    [InlineData(MarketoResultKind.AuthenticationFailed, false, MarketoCallOutcome.NotCounted)]
    [InlineData(MarketoResultKind.RateLimited, true, MarketoCallOutcome.RateLimited)]
    [InlineData(MarketoResultKind.ConcurrencyLimited, true, MarketoCallOutcome.ConcurrencyLimited)]
    [InlineData(MarketoResultKind.DailyQuotaExhausted, true, MarketoCallOutcome.DailyQuotaExhausted)]
    public void A_result_maps_to_what_it_means_for_the_budget(MarketoResultKind kind, bool counted, MarketoCallOutcome expected)
    {
        var result = new MarketoResult<int>(kind, 0, [], "req") { CountedByMarketo = counted };
        Assert.Equal(expected, MarketoGateway.OutcomeOf(result));
    }

    [Fact]
    public void The_connection_is_built_from_the_projects_Marketo_settings()
    {
        var marketo = new MarketoSettings("id", "secret", "https://123-ABC-456.mktorest.com/rest",
            "https://123-ABC-456.mktorest.com/identity", null, [], [], "America/Chicago");
        var connection = MarketoGateway.ConnectionOf(marketo);
        Assert.Equal("id", connection.ClientId);
        Assert.Equal("secret", connection.ClientSecret);
        Assert.Equal(new Uri("https://123-ABC-456.mktorest.com/rest"), connection.RestEndpoint);
        Assert.Equal(new Uri("https://123-ABC-456.mktorest.com/identity"), connection.IdentityEndpoint);
        Assert.Equal("123-ABC-456", marketo.InstanceId);
    }
}
