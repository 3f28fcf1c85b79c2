using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace EntitlementDecision.ControlPlane.Data.Migrations
{
    /// <inheritdoc />
    public partial class TenantRegion : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<List<string>>(
                name: "allowed_regions",
                table: "tenants",
                type: "text[]",
                nullable: false,
                defaultValueSql: "ARRAY['local']::text[]");

            migrationBuilder.AddColumn<string>(
                name: "region",
                table: "tenants",
                type: "character varying(32)",
                maxLength: 32,
                nullable: false,
                defaultValue: "local");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "allowed_regions",
                table: "tenants");

            migrationBuilder.DropColumn(
                name: "region",
                table: "tenants");
        }
    }
}
