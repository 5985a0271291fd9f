using KarteMarketo.Grains.Storage;
using KarteMarketo.Grains.Telemetry;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using OpenTelemetry.Metrics;
using Orleans;
using Orleans.Runtime;

namespace KarteMarketo.Server.Hosting;

/// <summary>Operations plumbing: health checks, OpenTelemetry metrics (Prometheus), OpenAPI, the admin key,
/// the embedded start-up banner and demo project.</summary>
public static class TelemetrySetup
{
    /// <summary>Health-check tag of the checks that make up <c>/health/ready</c>.</summary>
    public const string ReadyTag = "ready";

    public static WebApplicationBuilder AddOperations(this WebApplicationBuilder builder, AppStorageOptions storage)
    {
        builder.Services.AddSingleton(AdminKeyProvider.Create(builder.Configuration, builder.Environment));

        var health = builder.Services.AddHealthChecks()
            .AddCheck<SiloActiveHealthCheck>("silo", tags: [ReadyTag]);
        if (storage.UsesPostgres)
            health.AddCheck<PostgresHealthCheck>("postgres", tags: [ReadyTag]);

        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            // "System.Runtime": the runtime's built-in meter (dotnet.gc.*, dotnet.process.memory.working_set, ...).
            .AddMeter(KarteMarketoMetrics.OrleansMeterName, KarteMarketoMetrics.MeterName, "System.Runtime")
            .AddAspNetCoreInstrumentation()
            .AddPrometheusExporter());

        builder.Services.AddOpenApi();

        if (!storage.UsesPostgres)
            builder.Services.AddHostedService<DemoProjectSeeder>();
        return builder;
    }
}

/// <summary>Ready when this host's silo is Active in the cluster membership.</summary>
internal sealed class SiloActiveHealthCheck(IClusterMembershipService membership, ILocalSiloDetails localSilo) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(localSilo.SiloAddress);
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy("silo active")
            : HealthCheckResult.Unhealthy($"silo {status}"));
    }
}

/// <summary>Ready when PostgreSQL answers a trivial query within the check's time.</summary>
internal sealed class PostgresHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            await using var command = dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(timeout.Token);
            return HealthCheckResult.Healthy("postgres reachable");
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            // Only the kind of failure: the message could name hosts and users.
            return HealthCheckResult.Unhealthy($"postgres unreachable ({ex.GetType().Name})");
        }
    }
}
