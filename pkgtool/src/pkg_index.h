/* pkg_index.h - the in-memory model of a store's index.json and its (de)serialization. */
#ifndef PKG_INDEX_H
#define PKG_INDEX_H

#include "pkg_internal.h"

#define PKG_INDEX_SCHEMA 1

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
    pkg_rel *rel;     /* oldest first */
    size_t nrel;
} pkg_index;

void pkg_index_free(pkg_index *ix);

/* Loads dir/index.json. A missing file gives an empty index (PKG_OK, *exists = 0). */
pkg_error pkg_index_load(pkg_ctx *ctx, const char *appdir, const char *app, pkg_index *ix, int *exists);

/* Serializes deterministically (fixed key order, one release per block). */
char *pkg_index_json(const pkg_index *ix);

/* Writes appdir/index.json atomically. */
pkg_error pkg_index_save(pkg_ctx *ctx, const char *appdir, const pkg_index *ix);

/* File names inside the app directory; deterministic functions of the ids. */
void pkg_bundle_name(const char *id, char out[200]);
void pkg_patch_name(const char *from, const char *to, char out[200]);

/* Validation of names given on the command line. */
int pkg_valid_app(const char *app);
int pkg_valid_id(const char *id);

/* Index of the release with this id, or -1. */
long pkg_find_id(const pkg_index *ix, const char *id);

/* ISO-8601 UTC time stamp into out (21 bytes). */
void pkg_iso_time(int64_t t, char out[32]);

#endif
