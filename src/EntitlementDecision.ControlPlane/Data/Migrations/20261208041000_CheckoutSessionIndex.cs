using EntitlementDecision.ControlPlane.Data;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace EntitlementDecision.ControlPlane.Data.Migrations
{
    /// <summary>
    /// The success page finds a checkout session's stored <c>checkout.session.completed</c> by the session id inside the payload:
    /// a partial expression index (EF Core cannot model one, so the model is unchanged).
    /// </summary>
    [DbContext(typeof(EntitlementsDbContext))]
    [Migration("20261208041000_CheckoutSessionIndex")]
    public partial class CheckoutSessionIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                CREATE INDEX ix_stripe_events_checkout_session ON stripe_events ((payload->'data'->'object'->>'id'), received_at DESC)
                WHERE type = 'checkout.session.completed';
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP INDEX IF EXISTS ix_stripe_events_checkout_session;");
        }
    }
}
