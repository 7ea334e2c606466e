#!/bin/sh
# First start: clone the primary with pg_basebackup -R (which writes standby.signal and primary_conninfo).
# Later starts: just run. After a failover and failback the directory is rebuilt by `manage.py failback`.
set -eu
if [ ! -s "${PGDATA}/PG_VERSION" ]; then
  until pg_isready -h postgres -U "${POSTGRES_USER}"; do sleep 1; done
  pg_basebackup --pgdata "${PGDATA}" --write-recovery-conf --wal-method stream --checkpoint fast \
    --dbname "host=postgres user=${POSTGRES_USER} application_name=nofx_standby"
  chmod 0700 "${PGDATA}"
fi
exec postgres -c hot_standby=on
