"""The data-movement trail is immutable: PostgreSQL refuses UPDATE on it.

DELETE stays possible (an organization's data is removed with it); changing an entry never is.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION sync_datamovement_refuse_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'sync_datamovement is immutable: entries are never changed';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER sync_datamovement_no_update
    BEFORE UPDATE ON sync_datamovement
    FOR EACH ROW EXECUTE FUNCTION sync_datamovement_refuse_update();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS sync_datamovement_no_update ON sync_datamovement;
DROP FUNCTION IF EXISTS sync_datamovement_refuse_update();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("sync", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
