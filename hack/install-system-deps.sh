#!/usr/bin/env bash
# Installs the Debian packages the tests use as real components (nginx and HAProxy as
# reverse proxies, Prometheus and promtool, Chromium as the browser that referees what an
# attacker's page can do), only when they are missing. Services are not started by the
# install: the tests start their own instances on loopback.
set -euo pipefail
declare -A wanted=([nginx]=/usr/sbin/nginx [prometheus]=/usr/bin/prometheus [promtool]=/usr/bin/promtool
  [chromium]=/usr/bin/chromium [haproxy]=/usr/sbin/haproxy)
declare -A package=([nginx]=nginx [prometheus]=prometheus [promtool]=prometheus [chromium]=chromium
  [haproxy]=haproxy)
missing=()
for tool in "${!wanted[@]}"; do
  [ -x "${wanted[$tool]}" ] || missing+=("${package[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: need root to install: ${missing[*]} (sudo apt-get install ${missing[*]})" >&2
  exit 2
fi
echo "[install-system-deps] installing ${missing[*]} from Debian's packages..." >&2
# policy-rc.d 101 stops the packages' maintainer scripts from starting system services.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
