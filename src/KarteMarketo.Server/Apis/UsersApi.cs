namespace KarteMarketo.Server.Apis;

public static class UsersApi
{
    /// <summary>Endpoints: user info, user events, segments.</summary>
    public static IEndpointRouteBuilder MapUsersApi(this IEndpointRouteBuilder app) => app;
}
