#!/usr/bin/env bash
# System packages the test suite drives for real: Debian's Chromium (browser tests) and the
# PostgreSQL server (SQL connector tests start their own throwaway cluster), and npm (the single
# sign-on tests install a real OpenID Connect server, oauth2-mock-server, on first use).
# Installs only what is missing; needs root (as on the CI and developer machines).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install_test_deps: missing ${need[*]}; run as root or install them with apt-get" >&2
    exit 1
  fi
  echo "install_test_deps: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
