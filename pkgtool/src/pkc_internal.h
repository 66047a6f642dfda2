/* pkc_internal.h - internals of the device client (pkgclient.h): the install directory's state
 * and layout, and the helpers the update steps share. */
#ifndef PKC_INTERNAL_H
#define PKC_INTERNAL_H

#include "pkg_index.h"
#include "pkgclient.h"

#define PKC_STATE_SCHEMA 1

typedef struct pkc_version {
    int set;
    char id[65];
    char label[64];
} pkc_version;

typedef struct pkc_state {
    char app[128];
    uint64_t index_version; /* highest index version accepted */
    pkc_version current, previous;
    int pending;            /* current not confirmed yet */
    unsigned started;       /* starts of the pending version */
    char (*rejected)[65];
    size_t nrejected;
} pkc_state;

/* An open install directory: its path, the lock, and the state read from it. */
typedef struct pkc_dir {
    char *root;
    int lock_fd;
    pkc_state st;
    int exists; /* state.json was there */
} pkc_dir;

/* Opens install_dir, takes its lock, reads state.json and makes D/current match it. app (may
 * be NULL) must match the installed app. Flags: PKC_OPEN_CREATE makes the directory and its
 * layout; PKC_OPEN_RESET treats a damaged state as no install (for a reinstall over it). */
enum { PKC_OPEN_CREATE = 1, PKC_OPEN_RESET = 2 };
pkg_error pkc_dir_open(pkg_ctx *ctx, pkc_dir *d, const char *install_dir, const char *app, int flags);
void pkc_dir_close(pkc_dir *d);
/* Writes state.json atomically (the commit point of every change), then D/current. */
pkg_error pkc_state_commit(pkg_ctx *ctx, pkc_dir *d);
/* The two halves of pkc_state_commit. */
pkg_error pkc_state_write(pkg_ctx *ctx, pkc_dir *d);
pkg_error pkc_link_current(pkg_ctx *ctx, pkc_dir *d);
/* Removes versions other than current and previous, and (keep_tmp = NULL) everything in tmp/;
 * keep_tmp names one file in tmp/ to keep. */
void pkc_cleanup(pkc_dir *d, const char *keep_tmp);
int pkc_is_rejected(const pkc_state *st, const char *id);
pkg_error pkc_reject(pkg_ctx *ctx, pkc_state *st, const char *id);

/* malloc'd path under the install dir: root/a, root/a/b ... (b may be NULL) */
char *pkc_path(const pkc_dir *d, const char *a, const char *b);

/* Unpacks the canonical bundle at zip_path into dest (created; must not exist), checking every
 * entry against the bundle's manifest and refusing unsafe paths. Files are synced. */
pkg_error pkc_unpack(pkg_ctx *ctx, const char *zip_path, const char *dest);

/* Removes a file or a directory tree; missing is fine. 0 on success. */
int pkc_remove_tree(const char *path);

/* Flushes a directory's entries (after renames into it); errors are ignored. */
void pkc_sync_dir(const char *path);

/* Streaming SHA-256 (OpenSSL EVP). */
typedef struct pkc_sha256 pkc_sha256;
pkc_sha256 *pkc_sha256_new(void);
void pkc_sha256_update(pkc_sha256 *h, const void *p, size_t n);
void pkc_sha256_hex(pkc_sha256 *h, char out[65]); /* finishes and frees h */
/* SHA-256 of a whole file; 0 on success. */
int pkc_sha256_file(const char *path, char out[65], uint64_t *size);

/* I/O error detail: "disk full" for ENOSPC/EFBIG, else strerror. */
pkg_error pkc_io_fail(pkg_ctx *ctx, int err, const char *what, const char *path);

#endif
