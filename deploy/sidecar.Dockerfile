# syntax=docker/dockerfile:1
# The decision sidecar: gRPC (h2c) on 127.0.0.1:50051 inside the pod, /livez /readyz /metrics on 51051. Build: docker build -f deploy/sidecar.Dockerfile .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet publish -c Release -o /app -p:UseAppHost=false src/EntitlementDecision.Sidecar/EntitlementDecision.Sidecar.csproj

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS final
WORKDIR /app
COPY --from=build /app .
# The decision-log spool: owned by the app user so a fresh named volume (compose) inherits a writable directory.
RUN mkdir -p /var/log/entitlement-decisions && chown "$APP_UID" /var/log/entitlement-decisions
ENV ED_SIDECAR_URL=http://127.0.0.1:50051 \
    ED_SIDECAR_ADMIN_URL=http://0.0.0.0:51051
EXPOSE 50051 51051
USER $APP_UID
ENTRYPOINT ["dotnet", "EntitlementDecision.Sidecar.dll"]
