using System.CommandLine;
using System.Text;
using EntitlementDecision.ControlPlane.Auth;
using EntitlementDecision.ControlPlane.Configuration;

namespace EntitlementDecision.ControlPlane.Cli;

/// <summary><c>mint-token</c>: prints a development token signed with ED_TOKEN_SIGNING_KEY (exit 2 when the key is missing or short).</summary>
internal static class MintTokenCommand
{
    public static Command Create()
    {
        var tenant = new Option<string>("--tenant") { Description = "The tenant id the token acts for (operators: any, e.g. platform).", Required = true };
        var role = new Option<string>("--role") { Description = "The role.", Required = true };
        role.AcceptOnlyFromAmong([.. Roles.All.Order(StringComparer.Ordinal)]);
        var ttl = new Option<int>("--ttl-minutes") { Description = "Lifetime in minutes, >= 1.", DefaultValueFactory = _ => 60 };
        ttl.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1)
            {
                r.AddError("--ttl-minutes must be at least 1.");
            }
        });
        var subject = new Option<string>("--subject") { Description = "The token's sub (shown in the audit trail).", DefaultValueFactory = _ => "dev" };
        var command = new Command("mint-token", "Print a development bearer token signed with ED_TOKEN_SIGNING_KEY.") { tenant, role, ttl, subject };
        command.SetAction(parse => Run(parse.GetValue(tenant)!, parse.GetValue(role)!, parse.GetValue(ttl), parse.GetValue(subject)!));
        return command;
    }

    private static int Run(string tenant, string role, int ttlMinutes, string subject)
    {
        var key = Environment.GetEnvironmentVariable(ControlPlaneOptions.SigningKeyVariable);
        if (string.IsNullOrEmpty(key) || Encoding.UTF8.GetByteCount(key) < 32)
        {
            Console.Error.WriteLine($"{ControlPlaneOptions.SigningKeyVariable} is required (at least 32 bytes).");
            return 2;
        }

        Console.WriteLine(new BearerTokens(key, TimeProvider.System).Mint(subject, tenant, role, TimeSpan.FromMinutes(ttlMinutes)));
        return 0;
    }
}
