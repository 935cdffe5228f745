#!/usr/bin/env bash
# CI step for the Docker files, without a Docker engine: compose schema + rules, Dockerfile and
# .dockerignore rules, and the image's build stage and start command performed outside Docker.
# Usage: bash scripts/docker-check.sh [--static]   (exit 0 = every check passed; see scripts/docker-check.mjs)
set -euo pipefail
cd "$(dirname "$0")/.."
exec node scripts/docker-check.mjs "$@"
