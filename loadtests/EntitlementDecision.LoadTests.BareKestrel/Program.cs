// The ceilings for loadtests/run.sh, both on cleartext HTTP/2 (prior knowledge, like the sidecar).
//   BareKestrel <port> [hex of the response frame]: Kestrel answering every request with the same bytes the sidecar sends for a
//     granted CheckEntitlement (one 5-byte-framed message, grpc-status 0 in the trailers), without routing, parsing or the gRPC layer.
//   BareKestrel <port> grpc: Grpc.AspNetCore serving entitlements.v1.EntitlementDecisionService with a constant answer (the same
//     message), so the sidecar's decision can be told apart from the framework's own cost.
using EntitlementDecision.Contracts.V1;
using Grpc.Core;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

var port = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5281;
var grpc = args.Length > 1 && args[1] == "grpc";
var frame = args.Length > 1 && !grpc ? Convert.FromHexString(args[1]) : Convert.FromHexString("0000000010" + "0801100118808080808001220370726f"); // allowed, GRANTED, a 6-byte version, plan "pro"

// Configuration read once, as the hosts do (no recursive watcher on the content root).
var builder = WebApplication.CreateSlimBuilder([.. args, "--hostBuilder:reloadConfigOnChange=false"]);
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    kestrel.Listen(System.Net.IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2);
});
builder.Logging.ClearProviders();
if (grpc)
{
    builder.Services.AddGrpc();
    builder.Services.AddSingleton<ConstantDecisionService>();
}

var app = builder.Build();
if (grpc)
{
    app.MapGrpcService<ConstantDecisionService>();
}
else
{
    app.Run(context =>
    {
        var response = context.Response;
        response.ContentType = "application/grpc";
        var writer = response.BodyWriter;
        frame.AsSpan().CopyTo(writer.GetSpan(frame.Length));
        writer.Advance(frame.Length);
        context.Features.Get<IHttpResponseTrailersFeature>()!.Trailers["grpc-status"] = "0";
        return Task.CompletedTask;
    });
}

Console.WriteLine(grpc ? $"bare-kestrel: Grpc.AspNetCore constant answer, h2c on 127.0.0.1:{port}" : $"bare-kestrel: h2c on 127.0.0.1:{port}, {frame.Length}-byte constant response");
app.Run();

/// <summary>CheckEntitlement answered with one prebuilt response, whatever the request.</summary>
internal sealed class ConstantDecisionService : EntitlementDecisionService.EntitlementDecisionServiceBase
{
    private static readonly Task<CheckEntitlementResponse> Answer = Task.FromResult(
        CheckEntitlementResponse.Parser.ParseFrom(Convert.FromHexString("0801100118808080808001220370726f")));

    public override Task<CheckEntitlementResponse> CheckEntitlement(CheckEntitlementRequest request, ServerCallContext context) => Answer;
}
