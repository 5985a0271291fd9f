namespace KarteMarketo.Server.FrontDoor;

public static class FrontDoorSetup
{
    /// <summary>Problem details, request limits and auth.</summary>
    public static WebApplicationBuilder AddFrontDoor(this WebApplicationBuilder builder)
    {
        builder.Services.AddProblemDetails();
        return builder;
    }

    public static WebApplication UseKarteMarketoFrontDoor(this WebApplication app)
    {
        return app;
    }
}
