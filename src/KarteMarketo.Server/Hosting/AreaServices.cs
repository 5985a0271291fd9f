using KarteMarketo.Grains.Background;
using KarteMarketo.Grains.Flows.LeadSync;
using KarteMarketo.Grains.Outbox;
using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;
using KarteMarketo.Grains.Storage;
using KarteMarketo.Grains.Flows.KarteWriteBack;

namespace KarteMarketo.Server.Hosting;

public static class AreaServices
{
    /// <summary>Each flow registers its services here (client, settings, lead sync, outboxes, sandbox).</summary>
    public static WebApplicationBuilder AddAreaServices(this WebApplicationBuilder builder, AppStorageOptions storage)
    {
        _ = storage;
        builder.AddOperations(storage); // foundation: health, metrics, OpenAPI, admin key, embedded banner
        builder.Services.AddProjectSettings(); // front door: project grain directory, settings validation, credential check
        builder.AddMarketoArea(storage); // Marketo: REST client; sandbox in the embedded default
        builder.Services.AddMarketoGateway(); // quota: permit → Marketo call → release, the only path from grains to Marketo
        builder.Services.AddLeadSync(storage); // lead sync: user store, lookup batching, periodic sync
        builder.Services.AddOutboxes(storage); // webhooks/outbox: event and outbox stores, dispatch scan
        // KARTE write-back: the write client (behind the outbound guard), its queue in the shared outbox, the dispatcher's options.
        builder.Services.AddKarteWriteBack(builder.Configuration, storage);
        builder.Services.AddDataRetention(storage); // bounds: webhook events and delivered outbox rows past Retention:Days are deleted
        builder.Services.AddSiloTakeover(); // failover: a silo declared dead has its pending lookups and outbox claims taken over
        return builder;
    }
}
