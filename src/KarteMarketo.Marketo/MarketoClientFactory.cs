using Microsoft.Extensions.Http;

namespace KarteMarketo.Marketo;

/// <summary>
/// Hands out a fresh <see cref="MarketoClient"/> over a fresh <see cref="HttpClient"/> from IHttpClientFactory for
/// every attempt (the factory rotates handlers only for clients it hands out anew). The gateway's way to the client;
/// registered by <see cref="MarketoServiceCollectionExtensions.AddMarketoClient"/>.
/// </summary>
public sealed class MarketoClientFactory(IHttpClientFactory httpClients, ITypedHttpClientFactory<MarketoClient> clients)
{
    /// <summary>A client for one attempt.</summary>
    public IMarketoClient Create() => clients.CreateClient(httpClients.CreateClient(MarketoServiceCollectionExtensions.HttpClientName));
}
