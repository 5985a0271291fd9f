using System.Diagnostics;
using KarteMarketo.Benchmarks.StorageCeiling;
using Orleans.Configuration;
using Orleans.Runtime.Hosting;

// The raw write ceiling (issue 18): how many grain-state writes per second the server's storage provider (ADO.NET on
// Npgsql, System.Text.Json state) gets from the same PostgreSQL, measured in the same run as the server's new-user
// rate. Localhost clustering: only storage is measured. The schema is the server's (it migrates the database first).
var builder = WebApplication.CreateBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
var given = builder.Configuration.GetConnectionString("Postgres")
    ?? throw new InvalidOperationException("ConnectionStrings:Postgres is required");
// The server's run-time connection settings (the same source file): the ceiling is the same provider with the same
// settings, or the ratio would credit the server with a setting instead of its design.
var connectionString = KarteMarketo.Grains.Storage.PostgresRuntimeSettings.Apply(given);
builder.UseOrleans(silo =>
{
    silo.UseLocalhostClustering(
        builder.Configuration.GetValue("Orleans:SiloPort", 11111),
        builder.Configuration.GetValue("Orleans:GatewayPort", 30000),
        serviceId: builder.Configuration["Orleans:ServiceId"] ?? "storage-ceiling",
        clusterId: builder.Configuration["Orleans:ClusterId"] ?? "storage-ceiling");
    silo.AddAdoNetGrainStorage("grains", o =>
    {
        o.Invariant = "Npgsql";
        o.ConnectionString = connectionString;
    });
    silo.Services.AddSingleton(_ => Npgsql.NpgsqlDataSource.Create(connectionString));
    silo.Services.AddGrainStorage("grouped", (services, _) => new KarteMarketo.Grains.Storage.PostgresGroupedGrainStorage(
        services.GetRequiredService<Npgsql.NpgsqlDataSource>(), services.GetRequiredService<Orleans.Storage.IGrainStorageSerializer>(),
        builder.Configuration["Orleans:ServiceId"] ?? "storage-ceiling"));
    silo.UseSystemTextJsonGrainStorageSerializer();
    silo.Configure<GrainCollectionOptions>(o => o.CollectionAge = TimeSpan.FromMinutes(2));
});
var app = builder.Build();

app.MapGet("/ready", () => TypedResults.Ok());

// POST /run?mode=new|update[-grouped]&seconds=10&concurrency=32: `concurrency` workers, each calling the next grain as
// soon as its previous write returned. "new": every call activates a grain never written before (its activation reads
// the empty row) and writes it once, an INSERT, like a new user's key. "update": each worker rewrites one grain.
// "-grouped": the lead keys' storage instead of Orleans' ADO.NET provider.
app.MapPost("/run", async (IGrainFactory grains, string mode, double seconds, int concurrency, string run) =>
{
    var grouped = mode.EndsWith("-grouped", StringComparison.Ordinal);
    var isNew = mode.StartsWith("new", StringComparison.Ordinal);
    var clock = Stopwatch.StartNew();
    var duration = TimeSpan.FromSeconds(seconds);
    long writes = 0, errors = 0, next = 0;
    var latencies = new List<double>[concurrency];
    await Task.WhenAll(Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
    {
        var mine = latencies[worker] = [];
        while (clock.Elapsed < duration)
        {
            var i = Interlocked.Increment(ref next);
            var key = isNew ? $"{run}/new/{i}" : $"{run}/update/{worker}";
            var started = clock.Elapsed;
            try
            {
                var grain = grouped ? grains.GetGrain<IGroupedStorageCeilingGrain>(key) : grains.GetGrain<IStorageCeilingGrain>(key);
                await grain.WriteAsync($"user-{i}", $"user-{i}@ceiling.example");
                Interlocked.Increment(ref writes);
                mine.Add((clock.Elapsed - started).TotalMilliseconds);
            }
            catch (Exception)
            {
                Interlocked.Increment(ref errors);
            }
        }
    })));
    var elapsed = clock.Elapsed.TotalSeconds;
    var all = latencies.SelectMany(l => l).Order().ToArray();
    double P(double p) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(p / 100 * all.Length))];
    return TypedResults.Ok(new CeilingResult(mode, concurrency, Math.Round(elapsed, 2), writes, errors,
        Math.Round(writes / elapsed, 1), Math.Round(P(50), 2), Math.Round(P(99), 2)));
});
await app.RunAsync();

internal sealed record CeilingResult(string Mode, int Concurrency, double Seconds, long Writes, long Errors,
    double WritesPerSecond, double P50Ms, double P99Ms);
