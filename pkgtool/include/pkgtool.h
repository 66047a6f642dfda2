/* pkgtool.h - the bsdelta release library: canonical bundles, the patch store and its index,
 * and the update decision for a client. Build-machine side; uses bsdiff and bspatch through
 * their public headers. See docs/STORE.md.
 *
 * Threading: a pkg_ctx is used by one thread at a time. pkg_release starts worker threads for
 * the diffs (pkg_release_opts.threads) and joins them before it returns.
 * The library never prints, aborts or exits (progress goes through a callback); every failure
 * is a pkg_error plus a detail message kept on the context (pkg_detail). */
#ifndef PKGTOOL_H
#define PKGTOOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && (__GNUC__ >= 4)
#define PKG_API __attribute__((visibility("default")))
#else
#define PKG_API
#endif

/* Error codes. Values are pinned: they are part of the ABI and never renumbered. */
typedef enum pkg_error {
    PKG_OK = 0,
    PKG_E_MISUSE = 1,    /* invalid argument (a caller bug, or a bad option value) */
    PKG_E_NOMEM = 2,     /* an allocation failed */
    PKG_E_IO = 3,        /* a file could not be read or written (disk full, permissions ...) */
    PKG_E_INPUT = 4,     /* the input is missing, or not a directory or readable archive */
    PKG_E_UNSAFE = 5,    /* the input holds an unsafe entry (absolute path, .., link leaving the
                          * tree, duplicate path, device file ...) */
    PKG_E_EXISTS = 6,    /* the label or the content is already released */
    PKG_E_STORE = 7,     /* the store or its index is damaged or inconsistent */
    PKG_E_NOT_FOUND = 8, /* no such app or release in the store */
    PKG_E_DIFF = 9,      /* the diff engine failed */
    PKG_E_VERIFY = 10,   /* a patch did not reproduce its target when applied */
    /* device side (pkgclient.h) */
    PKG_E_NETWORK = 11,   /* a file could not be fetched from the store (after retries) */
    PKG_E_SIGNATURE = 12, /* the index is unsigned, or its signature does not verify */
    PKG_E_EXPIRED = 13,   /* the index is past its expiry time (or has none) */
    PKG_E_REPLAY = 14,    /* the index is older than one accepted before */
    PKG_E_INTEGRITY = 15, /* a downloaded patch or bundle does not match the index */
    PKG_E_INSTALL = 16    /* the install directory's state is damaged */
} pkg_error;

PKG_API const char *pkg_strerror(pkg_error err);

typedef struct pkg_ctx pkg_ctx;
PKG_API pkg_ctx *pkg_create(void);
PKG_API void pkg_free(pkg_ctx *ctx); /* NULL is accepted */
/* The detail message of the last error ("" when none); valid until the next call on ctx. */
PKG_API const char *pkg_detail(const pkg_ctx *ctx);

/* ---- Canonical bundles ----
 * A bundle is a zip archive whose entries are stored (not compressed), sorted by path
 * (bytewise), with a fixed time stamp (2000-01-01 00:00:00 UTC), owner 0, mode 0644 (0755 for
 * executables), no directory entries and no host metadata, preceded by the manifest entry
 * ".bsdelta/manifest.json" listing every file's path, size and SHA-256. The bundle id is the
 * SHA-256 of the bundle's bytes. Identical trees give byte-identical bundles on any machine. */

#define PKG_MANIFEST_PATH ".bsdelta/manifest.json"

typedef struct pkg_bundle_info {
    char id[65];          /* lower-case hex SHA-256 of the bundle */
    uint64_t size;        /* bundle bytes */
    uint64_t files;       /* entries, not counting the manifest */
    uint64_t content_bytes; /* sum of the files' sizes */
} pkg_bundle_info;

/* Packs input (a directory, or any archive libarchive reads: zip, tar, tar.gz ...) into a
 * canonical bundle in memory (*out, *out_len; free with pkg_buffer_free). An existing bundle's
 * manifest is dropped and rebuilt, so packing a bundle again gives the same bytes.
 * PKG_E_UNSAFE names the offending entry in pkg_detail. */
PKG_API pkg_error pkg_pack_memory(pkg_ctx *ctx, const char *input, unsigned char **out,
                                  size_t *out_len, pkg_bundle_info *info);

/* Packs input into the file out_path (written to a temporary file beside it, renamed only on
 * success). */
PKG_API pkg_error pkg_pack_file(pkg_ctx *ctx, const char *input, const char *out_path,
                                pkg_bundle_info *info);

PKG_API void pkg_buffer_free(void *p);

/* SHA-256 of a buffer as lower-case hex (65 bytes with NUL). */
PKG_API void pkg_sha256_hex(const void *data, size_t len, char out[65]);

/* Compares dotted numeric versions ("2", "1.10.3"): <0, 0, >0. Missing parts count as 0;
 * non-numeric parts compare as 0. */
PKG_API int pkg_version_cmp(const char *a, const char *b);

/* ---- The store (docs/STORE.md) ---- */

typedef struct pkg_release_opts {
    const char *label;      /* required: unique per app, e.g. "1.4.0" */
    const char *min_native; /* minimum native shell version, default "0" */
    int mandatory;          /* clients must install it */
    const char *message;    /* shown to users, default "" */
    unsigned keep;          /* retained releases besides pinned ones, default 5 (0 = default) */
    int pin;                /* keep this release's bundle forever (e.g. the one shipped in the
                             * store binary) */
    unsigned threads;       /* parallel diffs, 0 = number of cores */
    double max_ratio;       /* keep a patch only if smaller than this fraction of the full
                             * bundle; 0 = default 0.7 */
    int zstd;               /* 1: compress patches with zstd (about 4% smaller, apply faster,
                             * diff 2-3x slower); 0: bzip2 (default) */
    int64_t created;        /* seconds since 1970; 0 = SOURCE_DATE_EPOCH if set, else now */
    unsigned expires_days;  /* the index expires this many days after `created` (0 = 90) */
    const char *sign_key;   /* Ed25519 private key (PEM): write APP/index.json.sig; NULL = no */
    /* Progress: one call per event; text is a short line; may be NULL. */
    void (*progress)(void *opaque, const char *text);
    void *progress_opaque;
} pkg_release_opts;

typedef struct pkg_patch_result {
    char from_label[64];
    char from_id[65];
    uint64_t patch_size;  /* 0 when not kept */
    uint64_t full_size;
    double seconds;       /* diff + verification */
    int kept;             /* 0: larger than max_ratio x full */
} pkg_patch_result;

typedef struct pkg_release_report {
    pkg_bundle_info bundle;
    size_t npatches;
    pkg_patch_result *patches; /* freed by pkg_release_report_free */
    uint64_t removed_files;
} pkg_release_report;

PKG_API void pkg_release_opts_init(pkg_release_opts *opt);
PKG_API void pkg_release_report_free(pkg_release_report *rep);

/* Adds a release of input to app in store: packs it, stores the bundle, builds and verifies a
 * patch from every retained release to it, writes the index last and atomically, then removes
 * files no retained release needs. Crash-safe: killed at any point, the store stays valid and
 * running the same release again completes it. */
PKG_API pkg_error pkg_release(pkg_ctx *ctx, const char *store, const char *app, const char *input,
                              const pkg_release_opts *opt, pkg_release_report *rep);

/* The update decision for a client holding bundle from_id (NULL or "" = unknown) on native
 * shell version native. want_full asks for the full bundle instead of a patch. *json receives
 * a NUL-terminated JSON object (free with pkg_buffer_free); see docs/STORE.md. */
PKG_API pkg_error pkg_check(pkg_ctx *ctx, const char *store, const char *app, const char *from_id,
                            const char *native, int want_full, char **json);

/* Verifies a store: every file's hash and size against the index, every patch re-applied, the
 * index consistent. Each problem is passed to report (may be NULL); returns the number of
 * problems in *problems. PKG_OK means the check ran (not that it found nothing). */
PKG_API pkg_error pkg_verify(pkg_ctx *ctx, const char *store,
                             void (*report)(void *opaque, const char *problem), void *opaque,
                             uint64_t *problems);

/* pkg_verify, and with trust_key (an Ed25519 public key PEM file; NULL = as pkg_verify) every
 * index must also carry a valid signature by that key (APP/index.json.sig). Both report an
 * index past its expiry (as of SOURCE_DATE_EPOCH if set, else the clock): clients refuse it. */
PKG_API pkg_error pkg_verify_signed(pkg_ctx *ctx, const char *store, const char *trust_key,
                                    void (*report)(void *opaque, const char *problem), void *opaque,
                                    uint64_t *problems);

/* ---- Signing (docs/DEVICE.md) ----
 * Ed25519 keys in PEM files; the signature of an index is APP/index.json.sig, the base64 of the
 * 64-byte signature over the exact bytes of index.json. */

/* Writes a new key pair: prefix.key (private, PKCS#8, mode 0600) and prefix.pub. Never
 * overwrites a file (PKG_E_EXISTS). */
PKG_API pkg_error pkg_keygen(pkg_ctx *ctx, const char *prefix);

/* Re-signs an app's index without a release: the version grows by one and the index expires
 * expires_days (0 = 90) days after now (0 = SOURCE_DATE_EPOCH if set, else the clock). */
PKG_API pkg_error pkg_sign(pkg_ctx *ctx, const char *store, const char *app, const char *key_path,
                           unsigned expires_days, int64_t now);

/* Checks sig_text (the contents of a .sig file) against data with the public key in pub_path:
 * PKG_OK, PKG_E_SIGNATURE (no or bad signature), PKG_E_INPUT (unreadable key). */
PKG_API pkg_error pkg_verify_signature(pkg_ctx *ctx, const char *pub_path, const void *data, size_t len,
                                       const void *sig_text, size_t sig_len);

/* A readable table of an app's releases and patches (free with pkg_buffer_free). */
PKG_API pkg_error pkg_list(pkg_ctx *ctx, const char *store, const char *app, char **text);

#ifdef __cplusplus
}
#endif
#endif /* PKGTOOL_H */
