"""The catalog's full-text index. PostgreSQL only: on SQLite search falls back to simple matching."""

from django.db import migrations


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS mkt_ext_search_gin ON marketplace_extensions USING gin (search_vector)"
        )
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS mkt_ext_listed_quality ON marketplace_extensions (quality_score DESC) "
            "WHERE latest_version_id IS NOT NULL AND NOT is_delisted"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS mkt_ext_search_gin")
        schema_editor.execute("DROP INDEX IF EXISTS mkt_ext_listed_quality")


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index)]
