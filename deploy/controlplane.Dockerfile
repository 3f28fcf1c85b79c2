# syntax=docker/dockerfile:1
# The control plane (API, webhooks, admin console; `migrate` applies the migrations). Build: docker build -f deploy/controlplane.Dockerfile .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet publish -c Release -o /app -p:UseAppHost=false src/EntitlementDecision.ControlPlane/EntitlementDecision.ControlPlane.csproj

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS final
WORKDIR /app
COPY --from=build /app .
COPY --from=build /src/catalog/plans.json catalog/plans.json
ENV ED_CONTROLPLANE_URL=http://0.0.0.0:8080 \
    ED_CATALOG_PATH=/app/catalog/plans.json
EXPOSE 8080
USER $APP_UID
ENTRYPOINT ["dotnet", "EntitlementDecision.ControlPlane.dll"]
