using Microsoft.Extensions.Hosting;
using System.Globalization;
using EntitlementDecision.Grpc.InteropHost;

var port = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 0;
await using var app = await InteropServer.StartAsync(port);
Console.WriteLine($"listening on {InteropServer.GetPort(app)}");
await app.WaitForShutdownAsync();
