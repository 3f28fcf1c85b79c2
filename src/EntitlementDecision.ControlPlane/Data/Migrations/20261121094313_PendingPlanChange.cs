using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace EntitlementDecision.ControlPlane.Data.Migrations
{
    /// <inheritdoc />
    public partial class PendingPlanChange : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "pending_plan_effective_at",
                table: "entitlements",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "pending_plan_id",
                table: "entitlements",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_entitlements_pending_plan_due",
                table: "entitlements",
                column: "pending_plan_effective_at",
                filter: "pending_plan_id IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_entitlements_pending_plan_due",
                table: "entitlements");

            migrationBuilder.DropColumn(
                name: "pending_plan_effective_at",
                table: "entitlements");

            migrationBuilder.DropColumn(
                name: "pending_plan_id",
                table: "entitlements");
        }
    }
}
