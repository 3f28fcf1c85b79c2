// The ceiling for loadtests/run.sh: Kestrel on cleartext HTTP/2 (prior knowledge, like the sidecar), answering every request
// with the same bytes the sidecar sends for a granted CheckEntitlement (one 5-byte-framed message, grpc-status 0 in the
// trailers), without routing, parsing or the gRPC layer. Usage: BareKestrel <port> [hex of the response frame].
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

var port = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5281;
var frame = args.Length > 1 ? Convert.FromHexString(args[1]) : Convert.FromHexString("0000000010" + "0801100118808080808001220370726f"); // allowed, GRANTED, a 6-byte version, plan "pro"

var builder = WebApplication.CreateSlimBuilder(args);
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.AddServerHeader = false;
    kestrel.Listen(System.Net.IPAddress.Loopback, port, listen => listen.Protocols = HttpProtocols.Http2);
});
builder.Logging.ClearProviders();
var app = builder.Build();
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
Console.WriteLine($"bare-kestrel: h2c on 127.0.0.1:{port}, {frame.Length}-byte constant response");
app.Run();
