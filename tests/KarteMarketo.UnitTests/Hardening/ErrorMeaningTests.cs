using KarteMarketo.Grains.Storage;
using KarteMarketo.Server.FrontDoor;
using Npgsql;
using Orleans.Serialization;
using Meaning = KarteMarketo.Server.FrontDoor.FrontDoorExceptionHandler.Meaning;

namespace KarteMarketo.UnitTests.Hardening;

/// <summary>Errors mean what they say (API.md): 503 only for a dependency that is down; a refused value is 400.</summary>
public sealed class ErrorMeaningTests
{
    private static PostgresException Pg(string sqlState) =>
        new("refused", "ERROR", "ERROR", sqlState);

    [Theory]
    [InlineData("08006", "Outage")]
    [InlineData("53300", "Outage")]
    [InlineData("57P01", "Outage")]
    [InlineData("22021", "RefusedValue")]
    [InlineData("22P05", "RefusedValue")]
    [InlineData("23505", "RefusedValue")]
    [InlineData("54000", "RefusedValue")]
    [InlineData("42601", "Unexpected")]
    public void A_postgres_error_is_classified_by_its_sqlstate_class(string sqlState, string meaning)
    {
        var expected = Enum.Parse<Meaning>(meaning);
        Assert.Equal(expected, FrontDoorExceptionHandler.Classify(Pg(sqlState)));
        Assert.Equal(expected, FrontDoorExceptionHandler.Classify(new InvalidOperationException("wrapped", Pg(sqlState))));
    }

    [Fact]
    public void A_refused_value_that_crossed_a_grain_call_is_still_400()
    {
        // What Orleans makes of a PostgresException thrown in a grain on another silo (the type is not serializable).
        var fallback = new UnavailableExceptionFallbackException("22021: invalid byte sequence for encoding \"UTF8\": 0x00", null!);
        var property = typeof(UnavailableExceptionFallbackException).GetProperty(nameof(UnavailableExceptionFallbackException.ExceptionType))!;
        if (property.SetMethod is { } setter) setter.Invoke(fallback, ["Npgsql.PostgresException"]);
        else typeof(UnavailableExceptionFallbackException).GetField("<ExceptionType>k__BackingField",
            System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.SetValue(fallback, "Npgsql.PostgresException");
        Assert.Equal(Meaning.RefusedValue, FrontDoorExceptionHandler.Classify(fallback));
    }

    [Fact]
    public void Connection_failures_and_store_outages_are_503()
    {
        Assert.Equal(Meaning.Outage, FrontDoorExceptionHandler.Classify(new NpgsqlException("connection refused")));
        Assert.Equal(Meaning.Outage, FrontDoorExceptionHandler.Classify(new StoreUnavailableException("down", new TimeoutException())));
        Assert.Equal(Meaning.Outage, FrontDoorExceptionHandler.Classify(new TimeoutException()));
    }

    [Fact]
    public void Anything_else_is_500() =>
        Assert.Equal(Meaning.Unexpected, FrontDoorExceptionHandler.Classify(new InvalidOperationException("bug")));
}
