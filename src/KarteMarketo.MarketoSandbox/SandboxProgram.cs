namespace KarteMarketo.MarketoSandbox;

/// <summary>
/// Runs the sandbox alone: <c>dotnet run --project src/KarteMarketo.MarketoSandbox -- --urls http://127.0.0.1:5080</c>.
/// Settings come from the <c>Sandbox</c> section (command line, environment <c>Sandbox__DailyQuota=…</c>), e.g.
/// <c>--Sandbox:DailyQuota=1000 --Sandbox:TokenLifetimeSeconds=120 --Sandbox:CustomFields:0:Name=karteUserId</c>.
/// </summary>
public static class SandboxProgram
{
    public static async Task Main(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        // ASP.NET's request logging writes full URLs, and identity URLs carry client secrets in the query string.
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Warning);
        builder.Services.Configure<SandboxOptions>(builder.Configuration.GetSection("Sandbox"));
        builder.Services.Configure<Karte.KarteStandInOptions>(builder.Configuration.GetSection("Sandbox:Karte"));
        builder.Services.AddMarketoSandbox();
        var app = builder.Build();
        app.MapMarketoSandbox();
        // KARTE's write API stand-in: karte.endpoint = http://host:port/karte.
        Karte.KarteStandInEndpoints.MapKarteStandIn(app, "/karte");
        app.Logger.LogInformation("Marketo sandbox: REST base {Rest}, identity {Identity}, client id {ClientId}; KARTE stand-in {Karte}",
            "/rest", "/identity", app.Services.GetRequiredService<SandboxState>().Options.ClientId, "/karte");
        await app.RunAsync();
    }
}
