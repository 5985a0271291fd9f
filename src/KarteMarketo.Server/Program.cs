using KarteMarketo.Server.Admin;
using KarteMarketo.Server.Apis;
using KarteMarketo.Server.Hosting;

var builder = WebApplication.CreateBuilder(args);

if (args.Contains("migrate"))
{
    return await DatabaseCommands.MigrateAsync(builder.Configuration);
}

builder.AddKarteMarketoHost();
builder.AddAdminConsole();

var app = builder.Build();

app.UseKarteMarketoFrontDoor();
app.UseAdminConsole();
app.MapOperationsApi();
app.MapSettingsApi();
app.MapEventsApi();
app.MapUsersApi();
app.MapSyncApi();
app.MapQuotaApi();
app.MapMarketoWebhooksApi();
app.MapUserEventsApi();
app.MapKarteWebhooksApi();
app.MapLeadsApi();
app.MapKarteWritesApi();
app.MapEmbeddedSandbox();
app.MapAdminConsole();

await app.RunAsync();
return 0;
