/* pkg_index.h - the in-memory model of a store's index.json and its (de)serialization. */
#ifndef PKG_INDEX_H
#define PKG_INDEX_H

#include "pkg_internal.h"

#define PKG_INDEX_SCHEMA 1
#define PKG_DEFAULT_EXPIRES_DAYS 90

typedef struct pkg_patch_ref {
    char from[65];
    char file[200]; /* relative to the app directory */
    uint64_t size;
    char sha256[65];
} pkg_patch_ref;

typedef struct pkg_rel {
    char *label;
    char id[65];
    uint64_t size;
    char *min_native;
    int mandatory;
    char *message;
    int64_t created;
    int pinned;
    int retained;  /* the bundle file is kept (bundles/<id>.zip) */
    pkg_patch_ref *patches;
    size_t npatches;
} pkg_rel;

typedef struct pkg_index {
    char *app;
    uint64_t version; /* grows by one with every write */
    int64_t expires;  /* seconds since 1970; 0 = none (indexes written before expiry existed) */
    pkg_rel *rel;     /* oldest first */
    size_t nrel;
} pkg_index;

void pkg_index_free(pkg_index *ix);

/* Loads dir/index.json. A missing file gives an empty index (PKG_OK, *exists = 0). */
pkg_error pkg_index_load(pkg_ctx *ctx, const char *appdir, const char *app, pkg_index *ix, int *exists);

/* Parses an index from memory; `what` names it in messages (a path or URL). A damaged index is
 * PKG_E_STORE. */
pkg_error pkg_index_parse(pkg_ctx *ctx, const void *data, size_t len, const char *what, const char *app,
                          pkg_index *ix);

/* Serializes deterministically (fixed key order, one release per block). */
char *pkg_index_json(const pkg_index *ix);

/* Writes appdir/index.json atomically; with sign_key (a private key PEM file, may be NULL),
 * then appdir/index.json.sig. */
pkg_error pkg_index_save(pkg_ctx *ctx, const char *appdir, const pkg_index *ix, const char *sign_key);

/* Writes appdir/index.json.sig unless it already holds a valid signature of index.json by
 * key_path's key. */
pkg_error pkg_ensure_signed(pkg_ctx *ctx, const char *appdir, const char *key_path);

/* Signs data with the private key in key_path: *sig_text is the malloc'd .sig file contents
 * (base64 and a newline). */
pkg_error pkg_sign_data(pkg_ctx *ctx, const char *key_path, const void *data, size_t len, char **sig_text);

/* File names inside the app directory; deterministic functions of the ids. */
void pkg_bundle_name(const char *id, char out[200]);
void pkg_patch_name(const char *from, const char *to, char out[200]);

/* Validation of names given on the command line. */
int pkg_valid_app(const char *app);
int pkg_valid_id(const char *id);

/* Index of the release with this id, or -1. */
long pkg_find_id(const pkg_index *ix, const char *id);

/* The update decision (docs/STORE.md), shared by pkg_check and the device client. */
enum { PKG_ACT_NONE = 0, PKG_ACT_PATCH, PKG_ACT_FULL, PKG_ACT_NATIVE };
typedef struct pkg_decision {
    int action;                 /* PKG_ACT_* */
    long from;                  /* the client's release, -1 = unknown */
    long target;                /* the release to install, -1 = none (for NATIVE: no runnable
                                 * newer release) */
    int route;                  /* PKG_ACT_PATCH or PKG_ACT_FULL: how to reach target */
    const pkg_patch_ref *patch; /* route PATCH */
    const char *reason;         /* route FULL: why not a patch */
    long why_mandatory;         /* newest mandatory release from+1..target, -1 = none */
} pkg_decision;

/* Decides for a client holding from_id (NULL/"" = unknown) on native shell `native`.
 * patch_usable (may be NULL) can veto a patch the index lists (e.g. its file is missing). */
void pkg_decide(const pkg_index *ix, const char *from_id, const char *native, int want_full,
                int (*patch_usable)(void *opaque, const pkg_patch_ref *p), void *opaque, pkg_decision *d);

/* ISO-8601 UTC time stamp into out (21 bytes). */
void pkg_iso_time(int64_t t, char out[32]);

#endif
