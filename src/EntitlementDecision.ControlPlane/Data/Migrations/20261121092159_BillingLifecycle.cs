using System;
using Microsoft.EntityFrameworkCore.Migrations;
using Npgsql.EntityFrameworkCore.PostgreSQL.Metadata;

#nullable disable

namespace EntitlementDecision.ControlPlane.Data.Migrations
{
    /// <inheritdoc />
    public partial class BillingLifecycle : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterColumn<string>(
                name: "outcome",
                table: "stripe_events",
                type: "text",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "text");

            migrationBuilder.AddColumn<int>(
                name: "attempts",
                table: "stripe_events",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<int>(
                name: "deliveries",
                table: "stripe_events",
                type: "integer",
                nullable: false,
                defaultValue: 1); // events stored before this migration: delivered once as far as we know

            migrationBuilder.AddColumn<string>(
                name: "last_error",
                table: "stripe_events",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "next_attempt_at",
                table: "stripe_events",
                type: "timestamp with time zone",
                nullable: false,
                defaultValue: new DateTimeOffset(new DateTime(1, 1, 1, 0, 0, 0, 0, DateTimeKind.Unspecified), new TimeSpan(0, 0, 0, 0, 0)));

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "processed_at",
                table: "stripe_events",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "status",
                table: "stripe_events",
                type: "character varying(16)",
                maxLength: 16,
                nullable: false,
                defaultValue: "processed"); // events stored before this migration were processed synchronously

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "current_period_start",
                table: "entitlements",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<int>(
                name: "dunning_attempts",
                table: "entitlements",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "dunning_started_at",
                table: "entitlements",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "last_invoice_event_created",
                table: "entitlements",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "reconciliation_runs",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    trigger = table.Column<string>(type: "text", nullable: false),
                    tenant_id = table.Column<string>(type: "text", nullable: true),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    started_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    finished_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    @checked = table.Column<int>(name: "checked", type: "integer", nullable: false),
                    mismatch_count = table.Column<int>(type: "integer", nullable: false),
                    repaired = table.Column<int>(type: "integer", nullable: false),
                    drift_counts = table.Column<string>(type: "jsonb", nullable: false),
                    error = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_reconciliation_runs", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "reconciliation_mismatches",
                columns: table => new
                {
                    id = table.Column<long>(type: "bigint", nullable: false)
                        .Annotation("Npgsql:ValueGenerationStrategy", NpgsqlValueGenerationStrategy.IdentityByDefaultColumn),
                    run_id = table.Column<long>(type: "bigint", nullable: false),
                    tenant_id = table.Column<string>(type: "text", nullable: false),
                    environment = table.Column<string>(type: "text", nullable: false),
                    subscription_id = table.Column<string>(type: "text", nullable: true),
                    field = table.Column<string>(type: "text", nullable: false),
                    our_value = table.Column<string>(type: "text", nullable: true),
                    stripe_value = table.Column<string>(type: "text", nullable: true),
                    action = table.Column<string>(type: "text", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_reconciliation_mismatches", x => x.id);
                    table.ForeignKey(
                        name: "fk_reconciliation_mismatches_reconciliation_runs_run_id",
                        column: x => x.run_id,
                        principalTable: "reconciliation_runs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_stripe_events_pending",
                table: "stripe_events",
                columns: new[] { "next_attempt_at", "stripe_created" },
                filter: "status = 'pending'");

            migrationBuilder.CreateIndex(
                name: "ix_stripe_events_status",
                table: "stripe_events",
                column: "status");

            migrationBuilder.CreateIndex(
                name: "ix_reconciliation_mismatches_run_id",
                table: "reconciliation_mismatches",
                column: "run_id");

            migrationBuilder.CreateIndex(
                name: "ix_reconciliation_runs_started_at",
                table: "reconciliation_runs",
                column: "started_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "reconciliation_mismatches");

            migrationBuilder.DropTable(
                name: "reconciliation_runs");

            migrationBuilder.DropIndex(
                name: "ix_stripe_events_pending",
                table: "stripe_events");

            migrationBuilder.DropIndex(
                name: "ix_stripe_events_status",
                table: "stripe_events");

            migrationBuilder.DropColumn(
                name: "attempts",
                table: "stripe_events");

            migrationBuilder.DropColumn(
                name: "deliveries",
                table: "stripe_events");

            migrationBuilder.DropColumn(
                name: "last_error",
                table: "stripe_events");

            migrationBuilder.DropColumn(
                name: "next_attempt_at",
                table: "stripe_events");

            migrationBuilder.DropColumn(
                name: "processed_at",
                table: "stripe_events");

            migrationBuilder.DropColumn(
                name: "status",
                table: "stripe_events");

            migrationBuilder.DropColumn(
                name: "current_period_start",
                table: "entitlements");

            migrationBuilder.DropColumn(
                name: "dunning_attempts",
                table: "entitlements");

            migrationBuilder.DropColumn(
                name: "dunning_started_at",
                table: "entitlements");

            migrationBuilder.DropColumn(
                name: "last_invoice_event_created",
                table: "entitlements");

            migrationBuilder.AlterColumn<string>(
                name: "outcome",
                table: "stripe_events",
                type: "text",
                nullable: false,
                defaultValue: "",
                oldClrType: typeof(string),
                oldType: "text",
                oldNullable: true);
        }
    }
}
