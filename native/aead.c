/*
 * A minimal N-API binding over OpenSSL's EVP AES-256-GCM with one reusable context per traffic key
 * (issue 17). Node's createCipheriv builds a new cipher object per record (~4 µs for 200 bytes, of
 * which the cipher is ~0.1 µs); here the key schedule is set once and each record only re-inits the
 * nonce. No cryptographic primitive is written here: everything is OpenSSL, the one Node links
 * (its symbols are resolved from the node binary at load time, so nothing else is linked).
 *
 * JS API (src/protocol/aead-native.ts wraps it):
 *   create(key: Buffer(32), encrypt: boolean) -> External context
 *   seal(ctx, nonce(12), aad, out, offset, contentType, ...parts) -> bytes written (ct ‖ tag)
 *   sealFrames(ctx, iv(12), seq, out, offset, contentType, ...bodies)
 *                -> bytes written: one whole frame per body (4-byte BE length header ‖ ct ‖ tag), back to
 *                   back, nonce = iv XOR seq, seq+1, …; the header of each frame is its AAD
 *                   (src/protocol/record-common.ts). One call for all the records a session writes
 *                   in one event-loop turn: the per-call N-API cost is paid once, not per record.
 *   open(ctx, nonce(12), aad, payload(ct ‖ tag), out) -> boolean; plaintext into out (zeroed on failure)
 *   free(ctx)   cleanses and frees the key schedule now (also done by the GC finalizer)
 */
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define TAG_SIZE 16
#define NONCE_SIZE 12
#define MAX_PARTS 8
/* Bodies per sealFrames call (its argv lives on the stack); callers split longer batches. */
#define MAX_FRAMES 64
#define FRAME_HEADER 4

typedef struct {
  EVP_CIPHER_CTX *ctx;
  int encrypt;
} aead_t;

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  aead_t *a = (aead_t *)data;
  if (a->ctx) EVP_CIPHER_CTX_free(a->ctx);
  free(a);
}

static napi_value throw_msg(napi_env env, const char *msg) {
  napi_throw_error(env, "ERR_AEAD", msg);
  return NULL;
}

static int get_buf(napi_env env, napi_value v, unsigned char **data, size_t *len) {
  bool is;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) return 0;
  return napi_get_buffer_info(env, v, (void **)data, len) == napi_ok;
}

static aead_t *get_ctx(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  aead_t *a = (aead_t *)p;
  return a && a->ctx ? a : NULL;
}

static napi_value js_create(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  unsigned char *key;
  size_t keylen;
  bool encrypt = false;
  if (argc < 2 || !get_buf(env, argv[0], &key, &keylen) || keylen != 32) return throw_msg(env, "create(key: 32-byte Buffer, encrypt)");
  napi_get_value_bool(env, argv[1], &encrypt);
  aead_t *a = (aead_t *)calloc(1, sizeof(aead_t));
  if (!a) return throw_msg(env, "out of memory");
  a->encrypt = encrypt;
  a->ctx = EVP_CIPHER_CTX_new();
  int ok = a->ctx != NULL;
  if (ok) ok = encrypt ? EVP_EncryptInit_ex(a->ctx, EVP_aes_256_gcm(), NULL, key, NULL) : EVP_DecryptInit_ex(a->ctx, EVP_aes_256_gcm(), NULL, key, NULL);
  if (!ok) {
    finalize(env, a, NULL);
    return throw_msg(env, "EVP init failed");
  }
  napi_value ext;
  napi_create_external(env, a, finalize, NULL, &ext);
  return ext;
}

static napi_value js_free(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  if (argc == 1 && napi_get_value_external(env, argv[0], &p) == napi_ok && p) {
    aead_t *a = (aead_t *)p;
    if (a->ctx) EVP_CIPHER_CTX_free(a->ctx); /* EVP_CIPHER_CTX_free cleanses the key schedule */
    a->ctx = NULL;
  }
  return NULL;
}

static napi_value js_seal(napi_env env, napi_callback_info info) {
  size_t argc = 6 + MAX_PARTS;
  napi_value argv[6 + MAX_PARTS];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 6 || argc > 6 + MAX_PARTS) return throw_msg(env, "seal: bad arguments");
  aead_t *a = get_ctx(env, argv[0]);
  unsigned char *nonce, *aad, *out;
  size_t noncelen, aadlen, outlen;
  uint32_t offset, ctype;
  if (!a || !a->encrypt) return throw_msg(env, "seal: not a live sealing context");
  if (!get_buf(env, argv[1], &nonce, &noncelen) || noncelen != NONCE_SIZE) return throw_msg(env, "seal: nonce");
  if (!get_buf(env, argv[2], &aad, &aadlen)) return throw_msg(env, "seal: aad");
  if (!get_buf(env, argv[3], &out, &outlen)) return throw_msg(env, "seal: out");
  if (napi_get_value_uint32(env, argv[4], &offset) != napi_ok || napi_get_value_uint32(env, argv[5], &ctype) != napi_ok || ctype > 255) return throw_msg(env, "seal: offset/contentType");
  size_t total = 1;
  unsigned char *pdata[MAX_PARTS];
  size_t plen[MAX_PARTS];
  size_t nparts = argc - 6;
  for (size_t i = 0; i < nparts; i++) {
    if (!get_buf(env, argv[6 + i], &pdata[i], &plen[i])) return throw_msg(env, "seal: part");
    total += plen[i];
  }
  if (offset > outlen || outlen - offset < total + TAG_SIZE) return throw_msg(env, "seal: out too small");
  unsigned char *w = out + offset;
  unsigned char ct = (unsigned char)ctype;
  int n = 0, ok = 1;
  ok = ok && EVP_EncryptInit_ex(a->ctx, NULL, NULL, NULL, nonce);
  ok = ok && EVP_EncryptUpdate(a->ctx, NULL, &n, aad, (int)aadlen);
  ok = ok && EVP_EncryptUpdate(a->ctx, w, &n, &ct, 1);
  w += n;
  for (size_t i = 0; ok && i < nparts; i++) {
    if (plen[i] == 0) continue;
    ok = EVP_EncryptUpdate(a->ctx, w, &n, pdata[i], (int)plen[i]);
    w += n;
  }
  ok = ok && EVP_EncryptFinal_ex(a->ctx, w, &n);
  w += n;
  ok = ok && EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_GET_TAG, TAG_SIZE, w);
  if (!ok) return throw_msg(env, "seal: EVP failure");
  w += TAG_SIZE;
  napi_value res;
  napi_create_uint32(env, (uint32_t)(w - (out + offset)), &res);
  return res;
}

/* One record into w (ct ‖ tag): nonce and AAD are read during the call only. */
static int seal_one(EVP_CIPHER_CTX *ctx, const unsigned char *nonce, const unsigned char *aad, size_t aadlen, unsigned char ct,
                    const unsigned char *body, size_t bodylen, unsigned char *w) {
  int n = 0, ok = 1;
  ok = ok && EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce);
  ok = ok && EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aadlen);
  ok = ok && EVP_EncryptUpdate(ctx, w, &n, &ct, 1);
  w += n;
  if (ok && bodylen > 0) {
    ok = EVP_EncryptUpdate(ctx, w, &n, body, (int)bodylen);
    w += n;
  }
  ok = ok && EVP_EncryptFinal_ex(ctx, w, &n);
  w += n;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_SIZE, w);
  return ok;
}

static napi_value js_seal_frames(napi_env env, napi_callback_info info) {
  size_t argc = 6 + MAX_FRAMES;
  napi_value argv[6 + MAX_FRAMES];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 7 || argc > 6 + MAX_FRAMES) return throw_msg(env, "sealFrames: bad arguments");
  aead_t *a = get_ctx(env, argv[0]);
  unsigned char *iv, *out;
  size_t ivlen, outlen;
  double seqd;
  uint32_t offset, ctype;
  if (!a || !a->encrypt) return throw_msg(env, "sealFrames: not a live sealing context");
  if (!get_buf(env, argv[1], &iv, &ivlen) || ivlen != NONCE_SIZE) return throw_msg(env, "sealFrames: iv");
  /* seq < 2^53 (record-common.ts MAX_RECORDS_PER_KEY is 2^48), exact as a double. */
  if (napi_get_value_double(env, argv[2], &seqd) != napi_ok || !(seqd >= 0) || seqd > 9007199254740991.0) return throw_msg(env, "sealFrames: seq");
  if (!get_buf(env, argv[3], &out, &outlen)) return throw_msg(env, "sealFrames: out");
  if (napi_get_value_uint32(env, argv[4], &offset) != napi_ok || napi_get_value_uint32(env, argv[5], &ctype) != napi_ok || ctype > 255) return throw_msg(env, "sealFrames: offset/contentType");
  size_t nframes = argc - 6;
  unsigned char *bdata[MAX_FRAMES];
  size_t blen[MAX_FRAMES];
  size_t total = 0;
  for (size_t i = 0; i < nframes; i++) {
    if (!get_buf(env, argv[6 + i], &bdata[i], &blen[i]) || blen[i] > 0xffffffffu - 1 - TAG_SIZE) return throw_msg(env, "sealFrames: body");
    total += FRAME_HEADER + 1 + blen[i] + TAG_SIZE;
  }
  if (offset > outlen || outlen - offset < total) return throw_msg(env, "sealFrames: out too small");
  uint64_t seq = (uint64_t)seqd;
  unsigned char nonce[NONCE_SIZE];
  unsigned char *w = out + offset;
  for (size_t i = 0; i < nframes; i++, seq++) {
    uint32_t len = (uint32_t)(1 + blen[i] + TAG_SIZE);
    w[0] = (unsigned char)(len >> 24);
    w[1] = (unsigned char)(len >> 16);
    w[2] = (unsigned char)(len >> 8);
    w[3] = (unsigned char)len;
    memcpy(nonce, iv, NONCE_SIZE);
    for (int b = 0; b < 8; b++) nonce[4 + b] ^= (unsigned char)(seq >> (56 - 8 * b));
    if (!seal_one(a->ctx, nonce, w, FRAME_HEADER, (unsigned char)ctype, bdata[i], blen[i], w + FRAME_HEADER)) {
      OPENSSL_cleanse(nonce, sizeof nonce);
      return throw_msg(env, "sealFrames: EVP failure");
    }
    w += FRAME_HEADER + len;
  }
  OPENSSL_cleanse(nonce, sizeof nonce);
  napi_value res;
  napi_create_uint32(env, (uint32_t)(w - (out + offset)), &res);
  return res;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 5) return throw_msg(env, "open: bad arguments");
  aead_t *a = get_ctx(env, argv[0]);
  unsigned char *nonce, *aad, *payload, *out;
  size_t noncelen, aadlen, len, outlen;
  if (!a || a->encrypt) return throw_msg(env, "open: not a live opening context");
  if (!get_buf(env, argv[1], &nonce, &noncelen) || noncelen != NONCE_SIZE) return throw_msg(env, "open: nonce");
  if (!get_buf(env, argv[2], &aad, &aadlen)) return throw_msg(env, "open: aad");
  if (!get_buf(env, argv[3], &payload, &len) || len < TAG_SIZE) return throw_msg(env, "open: payload");
  size_t ctlen = len - TAG_SIZE;
  if (!get_buf(env, argv[4], &out, &outlen) || outlen < ctlen) return throw_msg(env, "open: out");
  unsigned char tag[TAG_SIZE];
  unsigned char last[TAG_SIZE];
  memcpy(tag, payload + ctlen, TAG_SIZE);
  int n = 0, ok = 1;
  ok = ok && EVP_DecryptInit_ex(a->ctx, NULL, NULL, NULL, nonce);
  ok = ok && EVP_DecryptUpdate(a->ctx, NULL, &n, aad, (int)aadlen);
  ok = ok && (ctlen == 0 || EVP_DecryptUpdate(a->ctx, out, &n, payload, (int)ctlen));
  ok = ok && EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_GCM_SET_TAG, TAG_SIZE, tag);
  /* GCM's final writes nothing; `last` only keeps the call's output pointer valid. */
  ok = ok && EVP_DecryptFinal_ex(a->ctx, last, &n) > 0;
  if (!ok) memset(out, 0, ctlen); /* no unauthenticated plaintext left behind */
  napi_value res;
  napi_get_boolean(env, ok ? true : false, &res);
  return res;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"create", NULL, js_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"seal", NULL, js_seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealFrames", NULL, js_seal_frames, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"free", NULL, js_free, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
