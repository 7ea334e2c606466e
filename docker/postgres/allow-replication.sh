#!/bin/sh
# Lets the standby container stream from the primary (password-authenticated, backend network only).
set -eu
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "${PGDATA}/pg_hba.conf"
