using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace EntitlementDecision.ControlPlane.Metering.Migrations
{
    /// <summary>
    /// The whole metering schema in one step: the earlier history (and its backfill of overage counts) was squashed before
    /// anything was deployed. Generated from the model; nothing hand-written is needed.
    /// </summary>
    public partial class Baseline : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "ledger_heads",
                columns: table => new
                {
                    tenant_id = table.Column<string>(type: "text", nullable: false),
                    environment = table.Column<string>(type: "text", nullable: false),
                    last_seq = table.Column<long>(type: "bigint", nullable: false),
                    last_hash = table.Column<string>(type: "text", nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_ledger_heads", x => new { x.tenant_id, x.environment });
                });

            migrationBuilder.CreateTable(
                name: "usage_daily",
                columns: table => new
                {
                    tenant_id = table.Column<string>(type: "text", nullable: false),
                    environment = table.Column<string>(type: "text", nullable: false),
                    feature = table.Column<string>(type: "text", nullable: false),
                    day = table.Column<DateOnly>(type: "date", nullable: false),
                    quantity = table.Column<long>(type: "bigint", nullable: false),
                    events = table.Column<long>(type: "bigint", nullable: false),
                    overage = table.Column<long>(type: "bigint", nullable: false),
                    computed_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_daily", x => new { x.tenant_id, x.environment, x.feature, x.day });
                });

            migrationBuilder.CreateTable(
                name: "usage_integrity_daily",
                columns: table => new
                {
                    tenant_id = table.Column<string>(type: "text", nullable: false),
                    environment = table.Column<string>(type: "text", nullable: false),
                    day = table.Column<DateOnly>(type: "date", nullable: false),
                    received = table.Column<long>(type: "bigint", nullable: false),
                    accepted = table.Column<long>(type: "bigint", nullable: false),
                    duplicate = table.Column<long>(type: "bigint", nullable: false),
                    late = table.Column<long>(type: "bigint", nullable: false),
                    too_late = table.Column<long>(type: "bigint", nullable: false),
                    limit_exceeded = table.Column<long>(type: "bigint", nullable: false),
                    rejected_undeclared = table.Column<long>(type: "bigint", nullable: false),
                    undeclared = table.Column<long>(type: "bigint", nullable: false),
                    invalid = table.Column<long>(type: "bigint", nullable: false),
                    overage_events = table.Column<long>(type: "bigint", nullable: false),
                    computed_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_integrity_daily", x => new { x.tenant_id, x.environment, x.day });
                });

            migrationBuilder.CreateTable(
                name: "usage_ledger",
                columns: table => new
                {
                    tenant_id = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    environment = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    seq = table.Column<long>(type: "bigint", nullable: false),
                    event_id = table.Column<string>(type: "text", nullable: false),
                    feature = table.Column<string>(type: "text", nullable: false),
                    quantity = table.Column<long>(type: "bigint", nullable: false),
                    unit = table.Column<string>(type: "text", nullable: false),
                    service = table.Column<string>(type: "text", nullable: false),
                    occurred_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    received_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    window_key = table.Column<string>(type: "text", nullable: false),
                    limit_value = table.Column<long>(type: "bigint", nullable: false),
                    limit_mode = table.Column<string>(type: "text", nullable: false),
                    used_after = table.Column<long>(type: "bigint", nullable: false),
                    overage = table.Column<long>(type: "bigint", nullable: false),
                    undeclared = table.Column<bool>(type: "boolean", nullable: false),
                    request_id = table.Column<string>(type: "text", nullable: false),
                    trace_id = table.Column<string>(type: "text", nullable: false),
                    source_digest = table.Column<string>(type: "text", nullable: false),
                    origin = table.Column<string>(type: "text", nullable: false),
                    lateness = table.Column<string>(type: "text", nullable: false),
                    usage_day = table.Column<DateOnly>(type: "date", nullable: false),
                    stream_id = table.Column<string>(type: "text", nullable: false),
                    prev_hash = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    hash = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    recorded_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_ledger", x => new { x.tenant_id, x.environment, x.seq });
                });

            migrationBuilder.CreateTable(
                name: "usage_receipts",
                columns: table => new
                {
                    stream_id = table.Column<string>(type: "text", nullable: false),
                    tenant_id = table.Column<string>(type: "text", nullable: false),
                    environment = table.Column<string>(type: "text", nullable: false),
                    event_id = table.Column<string>(type: "text", nullable: false),
                    feature = table.Column<string>(type: "text", nullable: false),
                    quantity = table.Column<long>(type: "bigint", nullable: false),
                    outcome = table.Column<string>(type: "text", nullable: false),
                    reason = table.Column<string>(type: "text", nullable: true),
                    undeclared = table.Column<bool>(type: "boolean", nullable: false),
                    overage = table.Column<long>(type: "bigint", nullable: false),
                    lateness = table.Column<string>(type: "text", nullable: false),
                    usage_day = table.Column<DateOnly>(type: "date", nullable: false),
                    received_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    raw = table.Column<string>(type: "jsonb", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_receipts", x => x.stream_id);
                });

            migrationBuilder.CreateTable(
                name: "usage_rollup_queue",
                columns: table => new
                {
                    tenant_id = table.Column<string>(type: "text", nullable: false),
                    environment = table.Column<string>(type: "text", nullable: false),
                    day = table.Column<DateOnly>(type: "date", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_usage_rollup_queue", x => new { x.tenant_id, x.environment, x.day });
                });

            migrationBuilder.CreateIndex(
                name: "ix_usage_ledger_received_at",
                table: "usage_ledger",
                column: "received_at");

            migrationBuilder.CreateIndex(
                name: "ix_usage_ledger_tenant_id_environment_event_id",
                table: "usage_ledger",
                columns: new[] { "tenant_id", "environment", "event_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_usage_ledger_tenant_id_environment_usage_day",
                table: "usage_ledger",
                columns: new[] { "tenant_id", "environment", "usage_day" });

            migrationBuilder.CreateIndex(
                name: "ix_usage_receipts_tenant_id_environment_usage_day",
                table: "usage_receipts",
                columns: new[] { "tenant_id", "environment", "usage_day" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "ledger_heads");

            migrationBuilder.DropTable(
                name: "usage_daily");

            migrationBuilder.DropTable(
                name: "usage_integrity_daily");

            migrationBuilder.DropTable(
                name: "usage_ledger");

            migrationBuilder.DropTable(
                name: "usage_receipts");

            migrationBuilder.DropTable(
                name: "usage_rollup_queue");
        }
    }
}
