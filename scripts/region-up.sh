#!/usr/bin/env bash
# Bring up one more region of the demo on this machine: its own database, web server, Celery worker and beat.
#
#   scripts/region-up.sh eu-west                 # SQLite under var/regions/eu-west/, port 8001, demo data
#   scripts/region-up.sh eu-central --port 8002 --database-url postgres://postgres@127.0.0.1:5432/nofx_eu_central
#   scripts/region-up.sh eu-west --no-seed --no-workers --site-url http://127.0.0.1:8101
#
# It runs in the foreground (Ctrl-C stops the whole region). `make run` serves us-east on port 8000; the two
# replicate the directory to each other, redirect each other's organizations and share the replication secret
# kept under var/secrets/. The demo ports are us-east 8000, eu-west 8001, eu-central 8002, ap-southeast 8003,
# ca-central 8004.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

[ $# -ge 1 ] || usage 2
region="$1"; shift
case "$region" in -h|--help) usage 0 ;; esac
[[ "$region" =~ ^[a-z]{2}(-[a-z0-9]+)+$ ]] || { echo "A region code looks like eu-west, not '$region'." >&2; exit 2; }

declare -A demo_ports=([us-east]=8000 [eu-west]=8001 [eu-central]=8002 [ap-southeast]=8003 [ca-central]=8004)
port="${demo_ports[$region]:-}"
database_url=""
site_url=""
seed=1
workers=1
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --database-url) database_url="$2"; shift 2 ;;
    --site-url) site_url="$2"; shift 2 ;;
    --no-seed) seed=0; shift ;;
    --no-workers) workers=0; shift ;;
    -h|--help) usage 0 ;;
    *) echo "Unknown option $1" >&2; usage 2 ;;
  esac
done
[ -n "$port" ] || { echo "No demo port for $region: give --port." >&2; exit 2; }

python="${PYTHON:-.venv/bin/python}"
home="var/regions/$region"
mkdir -p "$home/celery/queue" "$home/celery/processed" "$home/celery/results" "$home/celery/control"

export NOFX_REGION="$region"
export SITE_URL="${site_url:-http://127.0.0.1:$port}"
export DATABASE_URL="${database_url:-sqlite:///$PWD/$home/nofx.sqlite3}"
export NOFX_CELERY_DIR="$PWD/$home/celery"
export NOFX_BACKUP_DIR="$PWD/$home/backups"
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-nofx.settings.local}"
# One Redis database per region if Redis is used at all; by default the region runs without services.
export REDIS_URL="${REGION_REDIS_URL:-}"

echo "Region $region: $SITE_URL, database $DATABASE_URL"
"$python" manage.py migrate --no-input -v 0
if [ "$seed" = 1 ]; then
  "$python" manage.py seed_demo --credentials-file "$home/demo-credentials.txt"
fi

procfile="$home/Procfile"
{
  echo "web: $python manage.py runserver 127.0.0.1:$port --noreload"
  if [ "$workers" = 1 ]; then
    echo "worker: $python -m celery -A nofx worker --pool=solo --loglevel=INFO --hostname=$region@%h"
    echo "beat: $python -m celery -A nofx beat --loglevel=INFO -s $home/celerybeat-schedule -S django_celery_beat.schedulers:DatabaseScheduler"
  fi
} > "$procfile"
exec "$python" -m honcho start -f "$procfile"
