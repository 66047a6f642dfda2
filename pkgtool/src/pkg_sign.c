/* pkg_sign.c - Ed25519 keys and index signatures through OpenSSL libcrypto (docs/DEVICE.md).
 * A .sig file is the base64 of the 64-byte signature over the exact bytes of index.json, and a
 * newline, so that `openssl pkeyutl -verify -rawin` checks it without our tools. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64 /* files over 2 GiB and readdir on 32-bit targets */
#include "pkg_index.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SIG_BYTES 64

static const char *ssl_reason(void) {
    unsigned long e = ERR_get_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "not an Ed25519 key in PEM form";
}

/* Writes a new file (never replacing one) with the given mode through a PEM writer. */
static pkg_error write_new_pem(pkg_ctx *ctx, const char *path, mode_t mode, EVP_PKEY *key, int private_key) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        if (errno == EEXIST)
            return pkg_fail(ctx, PKG_E_EXISTS, "%s already exists; keygen never replaces a key (choose another --out)",
                            path);
        return pkg_fail(ctx, PKG_E_IO, "cannot create %s: %s", path, strerror(errno));
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(path);
        return pkg_fail(ctx, PKG_E_IO, "cannot write %s: %s", path, strerror(errno));
    }
    int ok = private_key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(f, key);
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        unlink(path);
        return pkg_fail(ctx, PKG_E_IO, "cannot write %s", path);
    }
    return PKG_OK;
}

pkg_error pkg_keygen(pkg_ctx *ctx, const char *prefix) {
    if (!ctx) return PKG_E_MISUSE;
    if (!prefix || !*prefix) return pkg_fail(ctx, PKG_E_MISUSE, "pkg_keygen: no output name");
    size_t n = strlen(prefix) + 5;
    char *keyp = malloc(n), *pubp = malloc(n);
    if (!keyp || !pubp) {
        free(keyp);
        free(pubp);
        return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    }
    snprintf(keyp, n, "%s.key", prefix);
    snprintf(pubp, n, "%s.pub", prefix);
    pkg_error e = PKG_OK;
    if (pkg_file_exists(pubp))
        e = pkg_fail(ctx, PKG_E_EXISTS, "%s already exists; keygen never replaces a key (choose another --out)", pubp);
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *kc = e ? NULL : EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    if (!e && (!kc || EVP_PKEY_keygen_init(kc) <= 0 || EVP_PKEY_keygen(kc, &key) <= 0))
        e = pkg_fail(ctx, PKG_E_NOMEM, "cannot generate an Ed25519 key: %s", ssl_reason());
    if (!e) e = write_new_pem(ctx, keyp, 0600, key, 1);
    if (!e) {
        e = write_new_pem(ctx, pubp, 0644, key, 0);
        if (e) unlink(keyp);
    }
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(kc);
    free(keyp);
    free(pubp);
    return e;
}

static pkg_error load_key(pkg_ctx *ctx, const char *path, int private_key, EVP_PKEY **out) {
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) return pkg_fail(ctx, PKG_E_INPUT, "cannot open the %s key %s: %s", private_key ? "private" : "public",
                            path, strerror(errno));
    EVP_PKEY *k = private_key ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : PEM_read_PUBKEY(f, NULL, NULL, NULL);
    fclose(f);
    if (!k || EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
        EVP_PKEY_free(k);
        return pkg_fail(ctx, PKG_E_INPUT, "%s is not an Ed25519 %s key in PEM form (%s)%s", path,
                        private_key ? "private" : "public", ssl_reason(),
                        private_key ? "; make one with 'pkgtool keygen'" : "");
    }
    *out = k;
    return PKG_OK;
}

pkg_error pkg_sign_data(pkg_ctx *ctx, const char *key_path, const void *data, size_t len, char **sig_text) {
    *sig_text = NULL;
    EVP_PKEY *k;
    pkg_error e = load_key(ctx, key_path, 1, &k);
    if (e) return e;
    unsigned char sig[SIG_BYTES];
    size_t slen = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, k) <= 0 ||
        EVP_DigestSign(md, sig, &slen, data, len) <= 0 || slen != SIG_BYTES)
        e = pkg_fail(ctx, PKG_E_INPUT, "cannot sign with %s: %s", key_path, ssl_reason());
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    if (e) return e;
    char *t = malloc(4 * ((SIG_BYTES + 2) / 3) + 2);
    if (!t) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    int n = EVP_EncodeBlock((unsigned char *)t, sig, SIG_BYTES);
    t[n] = '\n';
    t[n + 1] = 0;
    *sig_text = t;
    return PKG_OK;
}

pkg_error pkg_verify_signature(pkg_ctx *ctx, const char *pub_path, const void *data, size_t len,
                               const void *sig_text, size_t sig_len) {
    if (!ctx) return PKG_E_MISUSE;
    if (!pub_path || (!data && len) || (!sig_text && sig_len))
        return pkg_fail(ctx, PKG_E_MISUSE, "pkg_verify_signature: NULL argument");
    /* base64 of 64 bytes is 88 characters; allow one trailing newline (and a CR) */
    char b64[89];
    const char *s = sig_text;
    size_t n = sig_len;
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    if (n != 88) return pkg_fail(ctx, PKG_E_SIGNATURE, "the signature file is not a base64 Ed25519 signature");
    memcpy(b64, s, 88);
    b64[88] = 0;
    unsigned char raw[66];
    /* EVP_DecodeBlock counts the two '=' of padding as bytes: 64 + 2 */
    if (EVP_DecodeBlock(raw, (const unsigned char *)b64, 88) != 66 || b64[86] != '=' || b64[87] != '=')
        return pkg_fail(ctx, PKG_E_SIGNATURE, "the signature file is not a base64 Ed25519 signature");
    EVP_PKEY *k;
    pkg_error e = load_key(ctx, pub_path, 0, &k);
    if (e) return e;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) > 0 &&
             EVP_DigestVerify(md, raw, SIG_BYTES, data, len) == 1;
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    if (!ok)
        return pkg_fail(ctx, PKG_E_SIGNATURE,
                        "the index signature does not verify with %s (index altered, or signed with another key)",
                        pub_path);
    return PKG_OK;
}

pkg_error pkg_ensure_signed(pkg_ctx *ctx, const char *appdir, const char *key_path) {
    char *path = pkg_join(appdir, "index.json"), *sigpath = pkg_join(appdir, "index.json.sig");
    unsigned char *data = NULL, *old = NULL;
    size_t len = 0, olen = 0;
    char *sig = NULL;
    pkg_error e = (!path || !sigpath) ? pkg_fail(ctx, PKG_E_NOMEM, "out of memory") : PKG_OK;
    if (!e) e = pkg_read_file(ctx, path, &data, &len);
    if (!e) e = pkg_sign_data(ctx, key_path, data, len, &sig);
    /* Ed25519 signatures are deterministic: the same key and index give the same bytes */
    if (!e && !(pkg_file_exists(sigpath) && pkg_read_file(ctx, sigpath, &old, &olen) == PKG_OK &&
                olen == strlen(sig) && !memcmp(old, sig, olen)))
        e = pkg_write_file_atomic(ctx, sigpath, sig, strlen(sig));
    free(old);
    free(sig);
    free(data);
    free(path);
    free(sigpath);
    return e;
}

pkg_error pkg_sign(pkg_ctx *ctx, const char *store, const char *app, const char *key_path, unsigned expires_days,
                   int64_t now) {
    if (!ctx) return PKG_E_MISUSE;
    if (!store || !key_path) return pkg_fail(ctx, PKG_E_MISUSE, "pkg_sign: NULL argument");
    if (!pkg_valid_app(app)) return pkg_fail(ctx, PKG_E_MISUSE, "invalid app name '%s'", app ? app : "");
    if (!expires_days) expires_days = PKG_DEFAULT_EXPIRES_DAYS;
    if (!now) {
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        now = (sde && *sde) ? strtoll(sde, NULL, 10) : (int64_t)time(NULL);
    }
    char *appdir = pkg_join(store, app);
    if (!appdir) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    pkg_index ix;
    int exists;
    pkg_error e = pkg_index_load(ctx, appdir, app, &ix, &exists);
    if (e) {
        free(appdir);
        return e;
    }
    if (!exists) {
        e = pkg_fail(ctx, PKG_E_NOT_FOUND, "the store %s has no index for app %s", store, app);
    } else {
        ix.version++;
        ix.expires = now + (int64_t)expires_days * 86400;
        e = pkg_index_save(ctx, appdir, &ix, key_path);
    }
    pkg_index_free(&ix);
    free(appdir);
    return e;
}
