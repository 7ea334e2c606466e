"""On PostgreSQL, the audit table refuses UPDATE, DELETE and TRUNCATE for everyone, owner included.

(Grants that keep the application role from even trying come with the database-roles script.) Other
databases rely on the hash chain alone: `verify_audit_chain` still catches any edit.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION security_auditevent_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'security_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER security_auditevent_no_update_delete
    BEFORE UPDATE OR DELETE ON security_auditevent
    FOR EACH ROW EXECUTE FUNCTION security_auditevent_refuse_change();

CREATE TRIGGER security_auditevent_no_truncate
    BEFORE TRUNCATE ON security_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION security_auditevent_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS security_auditevent_no_truncate ON security_auditevent;
DROP TRIGGER IF EXISTS security_auditevent_no_update_delete ON security_auditevent;
DROP FUNCTION IF EXISTS security_auditevent_refuse_change();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("security", "0001_initial")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
