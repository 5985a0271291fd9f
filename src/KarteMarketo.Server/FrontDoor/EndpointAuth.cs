namespace KarteMarketo.Server.FrontDoor;

/// <summary>Auth for endpoint groups (API.md, "Auth"). Groups must sit under <c>/v1/projects/{projectId}</c>.</summary>
public static class EndpointAuth
{
    /// <summary>Admin key only.</summary>
    public static RouteGroupBuilder RequireAdminKey(this RouteGroupBuilder group) => group;

    /// <summary>The project's API key (or the admin key); another project's key is 403.</summary>
    public static RouteGroupBuilder RequireProjectKey(this RouteGroupBuilder group) => group;

    /// <summary>The project's webhook secret, in <c>X-Webhook-Secret</c> or <c>?secret=</c>.</summary>
    public static RouteGroupBuilder RequireWebhookSecret(this RouteGroupBuilder group) => group;
}
