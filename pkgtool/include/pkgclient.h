/* pkgclient.h - the bsdelta device client: brings an install directory to the newest release
 * of an app from a store (docs/DEVICE.md). Apps embed it; the transport (HTTP or anything else)
 * is a callback the app provides. Portable C11 + POSIX files (no Linux-only calls).
 *
 * Guarantees: the index is checked (signature with a trusted key, expiry, replay) before it is
 * used; a patch is fed to the streaming patcher as it arrives (no copy of the patch is kept);
 * every download is checked against the SHA-256 and size the index lists; the new version is
 * unpacked and verified beside the running one and becomes current with one atomic rename of
 * the state file. Any failure leaves the current install as it was.
 *
 * Errors are pkg_error values (pkgtool.h) with a detail message on the pkg_ctx (pkg_detail).
 * A pkg_ctx is used by one thread at a time; two processes on one install directory are
 * serialized by a lock file (the second fails with PKG_E_INSTALL). */
#ifndef PKGCLIENT_H
#define PKGCLIENT_H

#include "pkgtool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Transport ----
 * fetch delivers the bytes of the store file `path` (relative to the store root, e.g.
 * "demo/index.json") from byte `offset` to its end, in order, through sink (which returns 0 to
 * go on, non-zero to stop the transfer). A transport whose server ignores the range must skip
 * the first offset bytes itself. Returns one of PKC_FETCH_*; on failure it writes a short
 * reason into err. The client resumes a failed transfer from the bytes already delivered. */
typedef int (*pkc_sink_fn)(void *opaque, const void *data, size_t len);
enum {
    PKC_FETCH_OK = 0,        /* every byte up to the end was delivered */
    PKC_FETCH_NOT_FOUND = 1, /* the file does not exist (HTTP 404/410) */
    PKC_FETCH_FAILED = 2,    /* network or server failure, connection cut: worth a retry */
    PKC_FETCH_STOPPED = 3    /* the sink returned non-zero */
};
typedef struct pkc_transport {
    int (*fetch)(void *self, const char *path, uint64_t offset, pkc_sink_fn sink, void *sink_opaque,
                 char *err, size_t errlen);
    void *self;
} pkc_transport;

/* A transport reading a store directory on a local file system; root must outlive it. */
PKG_API void pkc_transport_dir(pkc_transport *t, const char *root);

/* ---- Update ---- */
typedef struct pkc_update_opts {
    const char *install_dir; /* D: created if missing */
    const char *app;
    const char *native;      /* the native shell's version; NULL = "0" */
    const char *trust_key;   /* Ed25519 public key (PEM file) the index must be signed with;
                              * NULL = the index is used unverified */
    int want_full;           /* take the full bundle even when a patch exists */
    int retries;             /* resumptions per file in one run; < 0 = default 5 */
    unsigned retry_delay_ms; /* pause before a retry, times the attempt number; 0 = 200 */
    int64_t now;             /* seconds since 1970 for the expiry check; 0 = the clock */
    pkc_transport transport;
    /* Progress: one call per step; text is a short line; may be NULL. */
    void (*progress)(void *opaque, const char *text);
    void *progress_opaque;
} pkc_update_opts;

PKG_API void pkc_update_opts_init(pkc_update_opts *o);

enum {
    PKC_UPDATED = 0,       /* a new version was installed (pending until confirmed) */
    PKC_UP_TO_DATE = 1,    /* the install holds the newest release this shell can run */
    PKC_NATIVE_UPDATE = 2, /* the newest release needs a newer native shell; nothing newer
                            * that this shell runs exists */
    PKC_REJECTED = 3       /* the newest release was rolled back on this device before */
};
enum { PKC_METHOD_NONE = 0, PKC_METHOD_PATCH = 1, PKC_METHOD_FULL = 2 };

typedef struct pkc_update_result {
    int result;               /* PKC_UPDATED ... */
    int method;               /* how the new version came (PKC_UPDATED) */
    int native_update;        /* the newest release needs a newer native shell (also when an
                               * older runnable release was installed) */
    int mandatory;            /* a skipped or reached release is mandatory */
    int signature_checked;    /* the index was verified with trust_key */
    char from_id[65], from_label[64]; /* "" when nothing was installed */
    char to_id[65], to_label[64];     /* the release installed (or the newest one) */
    char newest_label[64];
    char message[512];        /* the target release's message for the user */
    char fallback[256];       /* why a patch was not used ("" when it was, or none listed) */
    uint64_t index_version;
    uint64_t download_size;   /* bytes of the file the route needed */
    uint64_t bytes_fetched;   /* bytes received in this run, all files */
    unsigned resumes;         /* transfers resumed from an offset */
} pkc_update_result;

/* Updates install_dir to the newest release it may run (see docs/DEVICE.md). */
PKG_API pkg_error pkc_update(pkg_ctx *ctx, const pkc_update_opts *o, pkc_update_result *res);

/* Installs a local canonical bundle (e.g. the one shipped inside the app) as the current,
 * confirmed version of app (NULL: the app already installed in install_dir). Its id is its
 * SHA-256; its manifest is checked while unpacking. */
PKG_API pkg_error pkc_install_bundle(pkg_ctx *ctx, const char *install_dir, const char *app,
                                     const char *bundle_path);

/* To be called at every app start. A pending version started once before without being
 * confirmed is rolled back (and rejected) first. *run_dir receives the malloc'd path of the
 * directory to run (free with pkg_buffer_free); PKG_E_NOT_FOUND when nothing is installed.
 * *rolled_back (may be NULL) is set to 1 when a rollback happened. */
PKG_API pkg_error pkc_start(pkg_ctx *ctx, const char *install_dir, char **run_dir, int *rolled_back);

/* The running version is healthy: it stops being pending. */
PKG_API pkg_error pkc_confirm(pkg_ctx *ctx, const char *install_dir);

/* Makes the previous version current again and rejects the one it leaves (update will not
 * install it again). Without a previous version the install becomes empty. */
PKG_API pkg_error pkc_rollback(pkg_ctx *ctx, const char *install_dir);

/* The install's state as a JSON object (malloc'd; free with pkg_buffer_free). */
PKG_API pkg_error pkc_status(pkg_ctx *ctx, const char *install_dir, char **json);

#ifdef __cplusplus
}
#endif
#endif /* PKGCLIENT_H */
