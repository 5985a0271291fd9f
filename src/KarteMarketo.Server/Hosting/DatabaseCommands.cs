namespace KarteMarketo.Server.Hosting;

public static class DatabaseCommands
{
    /// <summary>The <c>migrate</c> verb: applies pending <c>db/</c> migrations and exits.</summary>
    public static Task<int> MigrateAsync(IConfiguration configuration)
    {
        _ = configuration;
        return Task.FromResult(1);
    }
}
