namespace KarteMarketo.MarketoSandbox;

/// <summary>Runs the sandbox alone: <c>dotnet run --project src/KarteMarketo.MarketoSandbox</c>.</summary>
public static class SandboxProgram
{
    public static async Task Main(string[] args)
    {
        var app = WebApplication.CreateBuilder(args).Build();
        await app.RunAsync();
    }
}
