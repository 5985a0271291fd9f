using KarteMarketo.Grains.Flows.MarketoActivities;
using KarteMarketo.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;

using KarteMarketo.Grains.Flows.CustomActivities;
using KarteMarketo.Grains.Flows.LeadUpserts;

namespace KarteMarketo.Grains.Outbox;

public static class OutboxServiceCollectionExtensions
{
    /// <summary>The outbox and webhook event stores (PostgreSQL or memory by mode), flow 2's service
    /// (<see cref="MarketoActivityFlow"/>), the dispatchers' options (section <c>Outbox</c>) and the scanner that
    /// resumes work after a restart.</summary>
    public static IServiceCollection AddOutboxes(this IServiceCollection services, AppStorageOptions storage)
    {
        services.AddOptions<OutboxOptions>().BindConfiguration("Outbox");
        if (storage.UsesPostgres)
        {
            services.AddSingleton<IOutboxStore, PostgresOutboxStore>();
            services.AddSingleton<IWebhookEventStore, PostgresWebhookEventStore>();
        }
        else
        {
            services.AddSingleton<IOutboxStore, InMemoryOutboxStore>();
            services.AddSingleton<IWebhookEventStore, InMemoryWebhookEventStore>();
        }
        services.AddSingleton<MarketoActivityFlow>();
        services.AddSingleton<OutboxWorkScanner>();
        services.AddSingleton<OutboxRetry>();
        services.AddSingleton<OutboxIntake>();
        services.AddHostedService(sp => sp.GetRequiredService<OutboxWorkScanner>());
        services.AddSingleton<Background.IDeadSiloTakeover>(sp => sp.GetRequiredService<OutboxWorkScanner>());
        return services;
    }
}
