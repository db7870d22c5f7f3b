#!/usr/bin/env bash
# Installs the Debian packages the project needs, only when missing: PostGIS (with the
# PostgreSQL 15 server), the EGM96 geoid grid (proj-data), GDAL's command-line tools (the
# OGC API test reads us with ogrinfo), Chromium (the viewer's end-to-end tests) and
# docker-compose (checks docker-compose.yml; no engine runs), Mosquitto (the sensors' MQTT broker), pgaudit,
# pgBackRest, pg_auto_failover, nginx and iproute2 (operations: backups, HA, the front, the failover test's hosts). Needs root or passwordless sudo.
set -euo pipefail
need=()
ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 || need+=(postgresql-15-postgis-3)
command -v ogrinfo >/dev/null 2>&1 || need+=(gdal-bin)
[ -f /usr/share/proj/egm96_15.gtx ] || need+=(proj-data)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)  # Chinese labels: the viewer's screenshots, the 2D map's glyphs
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
[ -f /usr/lib/postgresql/15/lib/pgaudit.so ] || need+=(postgresql-15-pgaudit)  # database-level audit (`cim db up` preloads it)
[ -x /usr/sbin/mosquitto ] || need+=(mosquitto)  # the sensor feeds' MQTT broker (started by `cim sensors broker up`)
command -v pgbackrest >/dev/null 2>&1 || need+=(pgbackrest)  # backups and point-in-time recovery (`cim backup`)
command -v pg_autoctl >/dev/null 2>&1 || need+=(postgresql-15-auto-failover)  # `cim cluster up --ha`
command -v nginx >/dev/null 2>&1 || need+=(nginx)  # the front of the API processes (`cim ops nginx`)
command -v ip >/dev/null 2>&1 || need+=(iproute2)  # the failover test's hosts (network namespaces)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: need root to apt-get install ${need[*]}; run as root or install them yourself" >&2; exit 1; }
  SUDO="sudo -n"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
