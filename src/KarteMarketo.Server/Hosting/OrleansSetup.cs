using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using KarteMarketo.Grains.Storage;
using Npgsql;
using Orleans.Configuration;
using Orleans.Runtime.Hosting;
using Orleans.Storage;
using Orleans.Dashboard;

namespace KarteMarketo.Server.Hosting;

public static class OrleansSetup
{
    /// <summary>The ADO.NET invariant for PostgreSQL. Case-sensitive: "npgsql" is refused.</summary>
    private const string NpgsqlInvariant = "Npgsql";

    /// <summary>The co-hosted silo: localhost clustering and memory storage in the embedded default;
    /// ADO.NET clustering, storage and reminders on PostgreSQL otherwise.</summary>
    public static WebApplicationBuilder AddOrleansSilo(this WebApplicationBuilder builder, AppStorageOptions storage)
    {
        var configuration = builder.Configuration;
        var siloPort = configuration.GetValue("Orleans:SiloPort", 11111);
        // The front door is co-hosted and needs no gateway: closed (0) unless Orleans:GatewayPort is set.
        var gatewayPort = configuration.GetValue("Orleans:GatewayPort", 0);
        var listenOnAny = configuration.GetValue("Orleans:ListenOnAnyAddress", false);
        var clusterId = configuration["Orleans:ClusterId"] ?? "kartemarketo";
        var serviceId = configuration["Orleans:ServiceId"] ?? "kartemarketo";
        var isDevelopment = builder.Environment.IsDevelopment();
        // Read now, not when the silo starts: a missing or bad certificate stops the host before anything listens.
        var tls = SiloTls.Load(configuration, TimeProvider.System);

        if (storage.UsesPostgres && configuration.GetValue("Database:MigrateOnStart", true))
        {
            // Registered before UseOrleans, and it works in StartingAsync: the schema exists before the silo starts.
            builder.Services.AddHostedService<DatabaseMigrationService>();
        }

        builder.Services.Configure<FrontDoor.ClusterRetryOptions>(configuration.GetSection("FrontDoor:ClusterRetry"));
        builder.UseOrleans(silo =>
        {
            if (storage.UsesPostgres)
            {
                var connectionString = storage.RuntimeConnectionString!;
                var advertisedIp = ParseAdvertisedIp(configuration["Orleans:AdvertisedIP"]) ?? FirstNonLoopbackIPv4() ?? IPAddress.Loopback;
                silo.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = clusterId;
                    o.ServiceId = serviceId;
                });
                // Listen on the advertised address only; on every interface only when asked (containers, where the
                // advertised address is not the one bound). Nothing on these ports authenticates a peer unless
                // Orleans:Tls is set (below), so without it they must not face the internet.
                silo.ConfigureEndpoints(advertisedIp, siloPort, gatewayPort, listenOnAnyHostAddress: listenOnAny);
                if (gatewayPort == 0) silo.Configure<EndpointOptions>(o => o.GatewayListeningEndpoint = null);
                silo.UseAdoNetClustering(o =>
                {
                    o.Invariant = NpgsqlInvariant;
                    o.ConnectionString = connectionString;
                });
                silo.AddAdoNetGrainStorage(StorageNames.Grains, o =>
                {
                    o.Invariant = NpgsqlInvariant;
                    o.ConnectionString = connectionString;
                });
                silo.Services.AddGrainStorage(StorageNames.LeadKeys, (services, _) => new PostgresGroupedGrainStorage(
                    services.GetRequiredService<NpgsqlDataSource>(), services.GetRequiredService<IGrainStorageSerializer>(), serviceId));
                silo.AddAdoNetGrainStorageAsDefault(o =>
                {
                    o.Invariant = NpgsqlInvariant;
                    o.ConnectionString = connectionString;
                });
                silo.UseAdoNetReminderService(o =>
                {
                    o.Invariant = NpgsqlInvariant;
                    o.ConnectionString = connectionString;
                });
            }
            else
            {
                silo.UseLocalhostClustering(siloPort, gatewayPort, serviceId: serviceId, clusterId: clusterId);
                // Loopback only, gateway included, whatever the defaults of UseLocalhostClustering are.
                silo.Configure<EndpointOptions>(o =>
                {
                    o.AdvertisedIPAddress = IPAddress.Loopback;
                    o.SiloListeningEndpoint = new IPEndPoint(IPAddress.Loopback, siloPort);
                    o.GatewayListeningEndpoint = gatewayPort > 0 ? new IPEndPoint(IPAddress.Loopback, gatewayPort) : null;
                });
                silo.AddMemoryGrainStorageAsDefault();
                silo.AddMemoryGrainStorage(StorageNames.Grains);
                silo.AddMemoryGrainStorage(StorageNames.LeadKeys);
                silo.UseInMemoryReminderService();
            }

            // Mutual TLS between silos (Orleans:Tls:*): without it, anything that reaches the silo port can join.
            if (tls is not null) silo.UseMutualTls(tls);

            // Plain JSON state, not Newtonsoft with assembly-qualified $type names that break on any rename.
            silo.UseSystemTextJsonGrainStorageSerializer();

            silo.Configure<ClusterMembershipOptions>(o =>
            {
                // Declare a killed host dead within seconds rather than the default tens of seconds: the probe timeout
                // starts at 2 s and adapts between 1 s and 8 s to measured round trips (stretched while this silo is
                // starved, so a loaded machine does not declare false deaths); suspected after 3 missed probes, dead on
                // 2 votes. Measured: a SIGKILLed host is declared dead 4-7 s after the kill on a loaded 2-core machine,
                // a host paused for 2 s is not (HostFailoverTests). Overridable from Orleans:Membership (any
                // ClusterMembershipOptions property).
                o.ProbeTimeout = TimeSpan.FromSeconds(2);
                o.NumMissedProbesLimit = 3;
                o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(10);
                o.TableRefreshTimeout = TimeSpan.FromSeconds(10);
                configuration.GetSection("Orleans:Membership").Bind(o);
            });
            // ReminderOptions (e.g. MinimumReminderPeriod) from Orleans:Reminders; Orleans' defaults otherwise.
            silo.Configure<ReminderOptions>(configuration.GetSection("Orleans:Reminders"));
            // GrainCollectionOptions (e.g. CollectionAge, CollectionQuantum) from Orleans:GrainCollection; Orleans' defaults
            // otherwise. The benchmark shortens the age to measure memory after idle activations are collected.
            silo.Configure<GrainCollectionOptions>(configuration.GetSection("Orleans:GrainCollection"));

            // Front-door grain calls whose target silo is unreachable are tried again until the request's deadline
            // (FrontDoor:ClusterRetry), so a live host does not refuse requests while the cluster declares a dead one dead.
            silo.AddOutgoingGrainCallFilter<FrontDoor.ClusterCallRetry>();

            silo.AddDashboard(o =>
            {
                // The trace page streams live logs: development only.
                o.HideTrace = !isDevelopment;
            });
        });
        return builder;
    }

    private static IPAddress? ParseAdvertisedIp(string? value) =>
        string.IsNullOrWhiteSpace(value) ? null
        : IPAddress.TryParse(value, out var ip) ? ip
        : throw new InvalidOperationException($"Orleans:AdvertisedIP '{value}' is not an IP address.");

    /// <summary>The first IPv4 address of an up, non-loopback interface: the address other hosts can reach.</summary>
    private static IPAddress? FirstNonLoopbackIPv4() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
}
