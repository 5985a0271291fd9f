# One image for everything in docker-compose.yml: the host (KarteMarketo.Server.dll, also the `migrate` verb) and the
# Marketo sandbox (KarteMarketo.MarketoSandbox.dll).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN dotnet publish src/KarteMarketo.Server/KarteMarketo.Server.csproj -c Release -o /app/server \
 && dotnet publish src/KarteMarketo.MarketoSandbox/KarteMarketo.MarketoSandbox.csproj -c Release -o /app/sandbox

FROM mcr.microsoft.com/dotnet/aspnet:10.0
WORKDIR /app/server
COPY --from=build /app /app
# The image's unprivileged user (APP_UID, 1654): nothing here needs root, and the HTTP port (8080) is unprivileged.
USER $APP_UID
CMD ["dotnet", "KarteMarketo.Server.dll"]
