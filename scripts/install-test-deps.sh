#!/usr/bin/env bash
# Installs, idempotently, what the integration tests need. Nothing here is required by the
# pure-core tests; each step is skipped when already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "test dependencies: nothing to install yet"
