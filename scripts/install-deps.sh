#!/usr/bin/env bash
# Installs the Debian packages dine needs to build, test, run and benchmark.
# Idempotent: packages already present are skipped; works as root or through sudo.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ccache
  libboost1.81-dev libcli11-dev libpq-dev libhiredis-dev nlohmann-json3-dev
  libfmt-dev libgtest-dev libssl-dev
  postgresql postgresql-contrib redis-server nginx-light wrk
  curl procps iproute2
  chromium python3-jsonschema
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-deps: missing packages (${missing[*]}) and neither root nor sudo available." >&2
  echo "install-deps: fix: run as root, or install them with: apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Debian starts the packaged servers on install; dine runs its own instances
# on its own ports, so the system-wide ones are stopped when we started them.
for svc in postgresql redis-server nginx; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    "${SUDO[@]}" systemctl stop "$svc" || true
  fi
done
echo "install-deps: done"
