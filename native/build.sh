#!/bin/sh
# Builds native/build/securechat_aead.node (src/protocol/aead.ts loads it when present).
# Needs a C compiler and Node's headers (with OpenSSL's, which Node ships in include/node/openssl);
# no node-gyp and no download: the N-API and OpenSSL symbols come from the running node binary.
# Without them it says so and exits 0: the server then uses Node's createCipheriv (slower, correct).
set -u
cd "$(dirname "$0")"
CC="${CC:-cc}"
INC="${NODE_INCLUDE_DIR:-$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")/include/node}"
if ! command -v "$CC" >/dev/null 2>&1 || [ ! -f "$INC/node_api.h" ] || [ ! -f "$INC/openssl/evp.h" ]; then
  echo "native AEAD not built (need $CC and $INC/node_api.h + openssl/evp.h); using Node's crypto" >&2
  exit 0
fi
mkdir -p build
if "$CC" -O2 -Wall -Wextra -shared -fPIC -DNODE_GYP_MODULE_NAME=securechat_aead -I"$INC" -o build/securechat_aead.node.tmp aead.c; then
  mv build/securechat_aead.node.tmp build/securechat_aead.node
  echo "built native/build/securechat_aead.node" >&2
else
  rm -f build/securechat_aead.node.tmp
  echo "native AEAD build failed; using Node's crypto" >&2
fi
exit 0
