# syntax=docker/dockerfile:1
# The sample product API (asks the sidecar at 127.0.0.1:50051 in its pod). Build: docker build -f deploy/sample.Dockerfile .
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,id=nuget,target=/root/.nuget/packages \
    dotnet publish -c Release -o /app -p:UseAppHost=false samples/EntitlementDecision.Samples.ProductApi/EntitlementDecision.Samples.ProductApi.csproj

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS final
WORKDIR /app
COPY --from=build /app .
ENV ED_SAMPLE_URL=http://0.0.0.0:5290 \
    ED_SIDECAR_URL=http://127.0.0.1:50051
EXPOSE 5290
USER $APP_UID
ENTRYPOINT ["dotnet", "EntitlementDecision.Samples.ProductApi.dll"]
