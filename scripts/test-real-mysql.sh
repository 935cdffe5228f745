#!/usr/bin/env bash
# The storage contract suite (and test/integration/storage-*) against a real MySQL 8.4/9.x server,
# not only MariaDB: Oracle's MySQL differs in ways that matter here (information_schema statistics
# are cached for a day, innodb_autoinc_lock_mode defaults to 2, caching_sha2_password).
#
#   bash scripts/test-real-mysql.sh        # MySQL from Debian's packages on port 3307, via ../shared/tools/mysql-server.sh
#   SECURECHAT_TEST_REAL_MYSQL_URL=mysql://root:pw@host:3306/test bash scripts/test-real-mysql.sh   # a server you run
#
# When no server can be had (the download or the start fails), it says so loudly and exits 0, so
# an opt-in CI hook never fails for want of a server; a server that runs and fails a test fails it.
set -uo pipefail
cd "$(dirname "$0")/.."

skip() {
  printf '\n!!!!! SKIPPING the storage suite on real MySQL: %s\n\n' "$1" >&2
  exit 0
}

url=${SECURECHAT_TEST_REAL_MYSQL_URL:-}
if [[ -z $url ]]; then
  tool=${SECURECHAT_MYSQL_TOOL:-}
  # shared/ sits beside the checkout (CI, /work/main), two levels up (a worktree under wt/), or at /work/shared (a clone elsewhere).
  if [[ -z $tool ]]; then for t in ../shared/tools/mysql-server.sh ../../shared/tools/mysql-server.sh /work/shared/tools/mysql-server.sh; do [[ -f $t ]] && tool=$t && break; done; fi
  tool=${tool:-../shared/tools/mysql-server.sh}
  [[ -f $tool ]] || skip "$tool not found (set SECURECHAT_TEST_REAL_MYSQL_URL to use your own server)"
  out=$(bash "$tool" start "${SECURECHAT_MYSQL_PORT:-3307}" 2>&1) || skip "could not fetch or start MySQL: $(tail -3 <<<"$out")"
  url=$(grep -E '^mysql://' <<<"$out" | tail -1)
  [[ -n $url ]] || skip "mysql-server.sh printed no URL: $(tail -3 <<<"$out")"
fi
version=$(node -e "import('mysql2/promise').then(async (m) => { const c = await m.default.createConnection(process.argv[1]); const [r] = await c.query('SELECT VERSION() AS v'); console.log(r[0].v); await c.end(); }).catch((e) => { console.error(e.message); process.exit(1); })" "$url") \
  || skip "MySQL at ${url#*@} is not reachable"
echo "storage suite on MySQL $version"
SECURECHAT_TEST_MYSQL_URL=$url SECURECHAT_TEST_REQUIRE_MYSQL=1 \
  node --import tsx --test --test-concurrency=1 test/contract/mysql.test.ts test/integration/storage-*.test.ts
