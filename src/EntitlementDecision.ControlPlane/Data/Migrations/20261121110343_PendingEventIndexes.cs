using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace EntitlementDecision.ControlPlane.Data.Migrations
{
    /// <inheritdoc />
    public partial class PendingEventIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "ix_stripe_events_pending_created",
                table: "stripe_events",
                columns: new[] { "stripe_created", "event_id" },
                filter: "status = 'pending'");

            migrationBuilder.CreateIndex(
                name: "ix_stripe_events_pending_tenant",
                table: "stripe_events",
                columns: new[] { "tenant_id", "environment", "stripe_created", "event_id" },
                filter: "status = 'pending'");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_stripe_events_pending_created",
                table: "stripe_events");

            migrationBuilder.DropIndex(
                name: "ix_stripe_events_pending_tenant",
                table: "stripe_events");
        }
    }
}
