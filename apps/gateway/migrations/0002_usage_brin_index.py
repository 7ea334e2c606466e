"""A BRIN index on usage records' time on PostgreSQL (see apps/gateway/usage.py for why).

Rows arrive in time order, so a block-range index of a few pages serves the roll-up's and the purge's
time-range scans over millions of rows. SQLite (development without services) has no BRIN: nothing to do.
"""

from django.db import migrations


def create_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS gateway_usagerecord_occurred_brin "
            "ON gateway_usagerecord USING brin (occurred_at) WITH (pages_per_range = 32)"
        )


def drop_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS gateway_usagerecord_occurred_brin")


class Migration(migrations.Migration):
    dependencies = [("gateway", "0001_initial")]

    operations = [migrations.RunPython(create_brin, drop_brin)]
