using KarteMarketo.Grains.Storage;
using Npgsql;

namespace KarteMarketo.UnitTests.Storage;

/// <summary>What the serving host adds to the operator's PostgreSQL connection string, and what it leaves alone.</summary>
public sealed class RuntimeConnectionStringTests
{
    private const string Given = "Host=db;Port=5432;Database=km;Username=app;Password=secret;Maximum Pool Size=40";

    [Fact]
    public void Prepares_statements_and_skips_the_pool_reset_where_the_string_does_not_choose()
    {
        var runtime = new NpgsqlConnectionStringBuilder(new AppStorageOptions(Given).RuntimeConnectionString);

        Assert.Equal(PostgresRuntimeSettings.AutoPreparedStatements, runtime.MaxAutoPrepare);
        Assert.True(runtime.NoResetOnClose);
        // Everything the operator gave is kept.
        Assert.Equal("db", runtime.Host);
        Assert.Equal("km", runtime.Database);
        Assert.Equal("secret", runtime.Password);
        Assert.Equal(40, runtime.MaxPoolSize);
    }

    [Fact]
    public void An_explicit_choice_in_the_connection_string_wins()
    {
        var runtime = new NpgsqlConnectionStringBuilder(
            new AppStorageOptions(Given + ";Max Auto Prepare=0;No Reset On Close=false").RuntimeConnectionString);

        Assert.Equal(0, runtime.MaxAutoPrepare);
        Assert.False(runtime.NoResetOnClose);
    }

    [Fact]
    public void The_migrator_keeps_the_string_as_given_and_the_embedded_default_has_none()
    {
        Assert.Equal(Given, new AppStorageOptions(Given).PostgresConnectionString);
        Assert.Null(new AppStorageOptions(null).RuntimeConnectionString);
    }
}
