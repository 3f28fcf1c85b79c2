using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace EntitlementDecision.ControlPlane.Metering.Migrations
{
    /// <inheritdoc />
    public partial class SoftOverageEvents : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "overage",
                table: "usage_receipts",
                type: "bigint",
                nullable: false,
                defaultValue: 0L);

            migrationBuilder.AddColumn<long>(
                name: "overage_events",
                table: "usage_integrity_daily",
                type: "bigint",
                nullable: false,
                defaultValue: 0L);

            // Existing data: each accepted receipt takes its ledger row's overage, then the integrity rows count them, so days
            // recorded before this version report their overage events without a recompute.
            migrationBuilder.Sql("""
                UPDATE usage_receipts r SET overage = l.overage
                FROM usage_ledger l WHERE l.stream_id = r.stream_id AND r.outcome = 'accepted' AND l.overage > 0;
                UPDATE usage_integrity_daily d SET overage_events = c.n
                FROM (SELECT tenant_id, environment, usage_day, count(*) AS n FROM usage_receipts
                      WHERE outcome = 'accepted' AND overage > 0 GROUP BY 1, 2, 3) c
                WHERE d.tenant_id = c.tenant_id AND d.environment = c.environment AND d.day = c.usage_day;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "overage",
                table: "usage_receipts");

            migrationBuilder.DropColumn(
                name: "overage_events",
                table: "usage_integrity_daily");
        }
    }
}
