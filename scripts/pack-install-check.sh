#!/usr/bin/env bash
# CI step "run what was built": packs the project exactly as `npm publish` would, installs the
# tarball into an empty directory without dev dependencies (no tsx, no TypeScript), and drives the
# installed `securechat` from there: --version, ca init, serve + chat round trip, status.
# Usage: bash scripts/pack-install-check.sh   (exit 0 = the package works; prints what it checked)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/securechat-pack-XXXXXX")
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then kill -TERM "$server_pid"; wait "$server_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { printf 'pack-install-check: FAIL: %s\n' "$*" >&2; [[ -f "$work/app/serve.log" ]] && tail -20 "$work/app/serve.log" >&2; exit 1; }

step "npm pack (runs prepack: a clean build of dist/)"
tarball=$(npm pack --silent --pack-destination "$work" | tail -1)
[[ -f "$work/$tarball" ]] || fail "npm pack produced no tarball"
listing=$(tar -tzf "$work/$tarball")
grep -q '^package/dist/cli/index.js$' <<<"$listing" || fail "dist/cli/index.js is not in the package"
grep -q '^package/bin/securechat.js$' <<<"$listing" || fail "bin/securechat.js is not in the package"
# The web client's built assets (issue 16): prepack runs `npm run build:web`.
grep -q '^package/web-dist/index.html$' <<<"$listing" || fail "web-dist/index.html (the built web client) is not in the package"
grep -Eq '^package/web-dist/assets/.*\.js$' <<<"$listing" || fail "web-dist/assets/*.js is not in the package"
if grep -Eq '^package/(src|test|certs|data|logs)/|\.pem$|\.p12$|\.db$' <<<"$listing"; then fail "the package holds sources, tests, keys or data"; fi
echo "$tarball: $(wc -l <<<"$listing") files"

step "npm install --omit=dev into an empty directory"
mkdir -p "$work/app"
cd "$work/app"
printf '{ "name": "pack-install-check", "version": "1.0.0", "private": true }\n' > package.json
npm install --omit=dev --no-audit --no-fund --prefer-offline --loglevel=error "$work/$tarball" >/dev/null
sc=./node_modules/.bin/securechat
[[ -x "$sc" ]] || fail "no securechat bin after install"
[[ ! -e node_modules/tsx && ! -e node_modules/typescript && ! -e node_modules/esbuild ]] || fail "dev dependencies (tsx/typescript/esbuild) were installed"

step "securechat --version"
want=$(node -p "require('$root/package.json').version")
got=$("$sc" --version)
[[ "$got" == "$want" ]] || fail "--version printed '$got', package.json says '$want'"
echo "$got"

step "securechat ca init"
init_flags=(--dir ca-check)
# Encrypted CA keys by default (issue 13): say explicitly that this throwaway CA has none.
if "$sc" ca init --help | grep -q -- '--no-passphrase'; then init_flags+=(--no-passphrase); fi
"$sc" ca init "${init_flags[@]}" >/dev/null || fail "ca init"
[[ -f ca-check/root_ca.pem ]] || fail "ca init wrote no root_ca.pem"
echo "root_ca.pem written"

step "securechat serve + chat round trip"
"$sc" serve --port 0 --admin-port 0 --certs certs --db sqlite:data/chat.db --log-file off >serve.log 2>&1 &
server_pid=$!
port="" admin=""
for _ in $(seq 1 240); do
  port=$(grep -o 'listening on 127\.0\.0\.1:[0-9]*' serve.log | head -1 | grep -o '[0-9]*$' || true)
  admin=$(grep -o 'admin listening on http://127\.0\.0\.1:[0-9]*' serve.log | grep -o '[0-9]*$' || true)
  [[ -n "$port" && -n "$admin" ]] && break
  kill -0 "$server_pid" 2>/dev/null || fail "serve exited"
  sleep 0.25
done
[[ -n "$port" && -n "$admin" ]] || fail "serve did not log its addresses"
out=$(printf '/who\n' | SECURECHAT_PASSWORD='pack check password' "$sc" chat --port "$port" --server-name localhost --certs certs --user alice --register --json) || fail "chat failed: $out"
grep -q '"event":"ready"' <<<"$out" || fail "chat did not log in: $out"
grep -q '"command":"/who","ok":true' <<<"$out" || fail "/who failed: $out"
grep -q '"alice"' <<<"$out" || fail "/who does not list alice: $out"
echo "chat: logged in, /who lists alice"

step "securechat status"
"$sc" status --admin-port "$admin" || fail "status"

step "shutdown"
kill -TERM "$server_pid"
wait "$server_pid" || fail "serve exited non-zero on SIGTERM"
server_pid=""
grep -q 'SIGTERM received' serve.log || fail "no graceful shutdown line"
if grep -q 'tsx' serve.log; then fail "the installed server mentions tsx"; fi
printf '\npack-install-check: ok (%s installed with --omit=dev)\n' "$tarball"
