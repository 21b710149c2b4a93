#!/usr/bin/env bash
# Create ./venv with the pinned requirements, and .venv-checkov with Checkov, on a fresh
# Debian machine or a laptop.
#   scripts/bootstrap.sh <python> <venv dir> [<checkov venv dir>]
# Installs the OS packages it needs with apt-get when run as root (CI); elsewhere it
# says which ones are missing.
set -euo pipefail

python=${1:?usage: bootstrap.sh <python> <venv dir> [<checkov venv dir>]}
venv=${2:?usage: bootstrap.sh <python> <venv dir> [<checkov venv dir>]}
here=$(cd "$(dirname "$0")/.." && pwd)
checkov_venv=${3:-$here/.venv-checkov}

# OS packages the tests use. Checked one by one: a present package costs nothing.
# Real servers for the data-layer tests: PostgreSQL 15 (initdb, pg_ctl, pg_dump, pg_restore)
# redis-server 7 and haproxy (the Redis proxies); CI must run those tests, not skip them.
# For every script and workflow `run:` block, shellcheck; jq and curl that the delivery scripts
# call; prometheus (promtool, and a real server for every alert and dashboard query and the
# canary check), prometheus-alertmanager (amtool, and a real server for inhibition) and
# prometheus-redis-exporter (the real Redis metric names); libnss-wrapper, through which
# restore-verify.sh gives initdb a user name when the backup tests run the scripts as the pods'
# uid, which has no passwd entry (the postgres image ships it too).
apt_packages=(
  postgresql redis-server haproxy libnss-wrapper shellcheck jq curl
  prometheus prometheus-alertmanager prometheus-redis-exporter
)

# As root, or with passwordless sudo (GitHub's hosted runners); elsewhere name what is missing.
need_apt() {
  local as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      as_root=(sudo -n)
    else
      as_root=(none)
    fi
  fi
  if [ "${as_root[0]:-}" = none ] || ! command -v apt-get >/dev/null; then
    echo "bootstrap: missing OS packages: $*; install them (e.g. sudo apt-get install $*) and retry" >&2
    exit 1
  fi
  if [ -z "${apt_updated:-}" ]; then
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "bootstrap: $python is not Python 3.11 or newer" >&2
  exit 1
fi

# Debian splits venv/ensurepip out of the interpreter package.
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  need_apt "python${version}-venv"
fi

missing=()
for package in "${apt_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  need_apt "${missing[@]}"
fi

# The two virtualenvs are independent: install them side by side (about a minute less on two CPUs).
install_program_and_tests() {
  if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$here/requirements-dev.txt" -c "$here/constraints.txt"
}

# Checkov (the cross-check, `make checkov`) gets a virtualenv of its own: it pins an old
# `packaging` that breaks pulumi. Installed only when its pin or lock changed since the last
# install (the stamp holds their hash), so a rerun with nothing changed costs nothing.
install_checkov() {
  if [ ! -x "$checkov_venv/bin/python" ]; then
    "$python" -m venv "$checkov_venv"
  fi
  local checkov_lock
  checkov_lock=$(cat "$here/requirements-checkov.txt" "$here/constraints-checkov.txt" | sha256sum | cut -d' ' -f1)
  if [ ! -x "$checkov_venv/bin/checkov" ] || [ "$(cat "$checkov_venv/.installed" 2>/dev/null)" != "$checkov_lock" ]; then
    "$checkov_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      -r "$here/requirements-checkov.txt" -c "$here/constraints-checkov.txt"
    echo "$checkov_lock" >"$checkov_venv/.installed"
  fi
}

install_checkov &
checkov_install=$!
install_program_and_tests
if ! wait "$checkov_install"; then
  echo "bootstrap: installing Checkov into $checkov_venv failed (see pip's output above)" >&2
  exit 1
fi
