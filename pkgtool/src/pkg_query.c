/* pkg_query.c - read-only views of a store: the update decision for a client (pkg_check), the
 * full consistency check (pkg_verify) and the release table (pkg_list). */
#define _POSIX_C_SOURCE 200809L
#include "pkg_index.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---------------------------------------------------------------- check */

static void json_release(pkg_buf *b, const pkg_rel *r) {
    pkg_buf_str(b, "{\"label\": ");
    pkg_buf_json_str(b, r->label);
    pkg_buf_printf(b, ", \"id\": \"%s\", \"min_native\": ", r->id);
    pkg_buf_json_str(b, r->min_native);
    pkg_buf_str(b, "}");
}

/* The route part of a decision (patch or full) as JSON fields. */
static void json_route(pkg_buf *b, const pkg_index *ix, const pkg_decision *d) {
    const pkg_rel *r = &ix->rel[d->target];
    if (d->route == PKG_ACT_PATCH) {
        const pkg_patch_ref *p = d->patch;
        pkg_buf_printf(b, "\"action\": \"patch\", \"url\": \"%s/%s\", \"size\": %llu, \"sha256\": \"%s\", ",
                       ix->app, p->file, (unsigned long long)p->size, p->sha256);
    } else {
        char name[200];
        pkg_bundle_name(r->id, name);
        pkg_buf_printf(b, "\"action\": \"full\", \"url\": \"%s/%s\", \"size\": %llu, \"sha256\": \"%s\", "
                          "\"reason\": \"%s\", ",
                       ix->app, name, (unsigned long long)r->size, r->id, d->reason);
    }
    pkg_buf_printf(b, "\"mandatory\": %s, \"message\": ", d->why_mandatory >= 0 ? "true" : "false");
    pkg_buf_json_str(b, r->message);
    pkg_buf_str(b, ", \"to\": ");
    json_release(b, r);
    /* why the answer is mandatory: the release that made it so, with its message for the user */
    pkg_buf_str(b, ", \"mandatory_release\": ");
    if (d->why_mandatory < 0) {
        pkg_buf_str(b, "null");
    } else {
        const pkg_rel *m = &ix->rel[d->why_mandatory];
        pkg_buf_str(b, "{\"label\": ");
        pkg_buf_json_str(b, m->label);
        pkg_buf_str(b, ", \"message\": ");
        pkg_buf_json_str(b, m->message);
        pkg_buf_str(b, "}");
    }
}

/* The store side vetoes a patch whose file is missing. */
static int patch_file_present(void *appdir, const pkg_patch_ref *p) {
    char *path = pkg_join(appdir, p->file);
    int ok = path && pkg_file_exists(path);
    free(path);
    return ok;
}

pkg_error pkg_check(pkg_ctx *ctx, const char *store, const char *app, const char *from_id,
                    const char *native, int want_full, char **json) {
    if (!ctx) return PKG_E_MISUSE;
    if (!store || !json) return pkg_fail(ctx, PKG_E_MISUSE, "pkg_check: NULL argument");
    *json = NULL;
    if (!pkg_valid_app(app)) return pkg_fail(ctx, PKG_E_MISUSE, "invalid app name '%s'", app ? app : "");
    char *appdir = pkg_join(store, app);
    if (!appdir) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    pkg_index ix;
    int exists;
    pkg_error e = pkg_index_load(ctx, appdir, app, &ix, &exists);
    if (!e && (!exists || ix.nrel == 0)) {
        e = pkg_fail(ctx, PKG_E_NOT_FOUND, "the store %s has no releases of app %s", store, app);
        pkg_index_free(&ix);
    }
    if (e) {
        free(appdir);
        return e;
    }
    pkg_decision d;
    pkg_decide(&ix, from_id, native, want_full, patch_file_present, appdir, &d);
    pkg_buf b = {0};
    pkg_buf_str(&b, "{");
    pkg_buf_printf(&b, "\"app\": \"%s\", \"index_version\": %llu, \"from\": ", ix.app,
                   (unsigned long long)ix.version);
    if (d.from >= 0) json_release(&b, &ix.rel[d.from]);
    else pkg_buf_str(&b, "null");
    pkg_buf_str(&b, ", ");
    if (d.action == PKG_ACT_NATIVE) {
        pkg_buf_str(&b, "\"action\": \"native_update\", \"store_update\": true, \"newest\": ");
        json_release(&b, &ix.rel[ix.nrel - 1]);
        pkg_buf_str(&b, ", \"runnable\": ");
        if (d.target < 0) {
            pkg_buf_str(&b, "null");
        } else {
            pkg_buf_str(&b, "{");
            json_route(&b, &ix, &d);
            pkg_buf_str(&b, "}");
        }
    } else if (d.action == PKG_ACT_NONE) {
        pkg_buf_str(&b, "\"action\": \"none\"");
    } else {
        json_route(&b, &ix, &d);
    }
    pkg_buf_str(&b, "}\n");
    pkg_index_free(&ix);
    free(appdir);
    if (b.oom) {
        free(b.data);
        return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    }
    *json = b.data;
    return PKG_OK;
}

/* ---------------------------------------------------------------- verify */

typedef struct vstate {
    void (*report)(void *, const char *);
    void *opaque;
    uint64_t problems;
    const char *trust_key;
    int64_t now;
} vstate;

static void problem(vstate *v, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void problem(vstate *v, const char *fmt, ...) {
    char line[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    v->problems++;
    if (v->report) v->report(v->opaque, line);
}

/* Reads a store file; NULL (reported) when missing. *matches tells whether its size and
 * SHA-256 are the ones the index records; got receives its SHA-256. A mismatch is not reported
 * here: the caller tells a damaged file from a wrong index entry. */
static unsigned char *read_store_file(pkg_ctx *ctx, vstate *v, const char *appdir, const char *app,
                                      const char *rel, uint64_t size, const char *sha, size_t *len,
                                      int *matches, char got[65]) {
    char *path = pkg_join(appdir, rel);
    unsigned char *data = NULL;
    *matches = 0;
    if (!path || pkg_read_file(ctx, path, &data, len) != PKG_OK) {
        problem(v, "%s/%s: missing or unreadable", app, rel);
        free(path);
        return NULL;
    }
    free(path);
    pkg_sha256_hex(data, *len, got);
    *matches = *len == size && !strcmp(got, sha);
    return data;
}

static void changed(vstate *v, const char *app, const char *rel, size_t len, const char *got, uint64_t size,
                    const char *sha) {
    problem(v, "%s/%s: content changed (size %zu, SHA-256 %.16s...; the index says %llu, %.16s...)", app, rel,
            len, got, (unsigned long long)size, sha);
}

/* The index's detached signature by the trusted key. */
static void verify_signature(pkg_ctx *ctx, vstate *v, const char *appdir, const char *app) {
    char *ip = pkg_join(appdir, "index.json"), *sp = pkg_join(appdir, "index.json.sig");
    unsigned char *data = NULL, *sig = NULL;
    size_t len = 0, slen = 0;
    if (!ip || !sp) {
        problem(v, "out of memory");
    } else if (!pkg_file_exists(sp)) {
        problem(v, "%s/index.json is not signed (no index.json.sig): clients that trust a key refuse it", app);
    } else if (pkg_read_file(ctx, ip, &data, &len) || pkg_read_file(ctx, sp, &sig, &slen) ||
               pkg_verify_signature(ctx, v->trust_key, data, len, sig, slen)) {
        problem(v, "%s/index.json: %s", app, ctx->detail);
    }
    free(data);
    free(sig);
    free(ip);
    free(sp);
}

static void verify_app(pkg_ctx *ctx, vstate *v, const char *store, const char *app) {
    char *appdir = pkg_join(store, app);
    pkg_index ix;
    int exists;
    if (!appdir) return;
    if (pkg_index_load(ctx, appdir, app, &ix, &exists) != PKG_OK) {
        problem(v, "%s/index.json: %s", app, ctx->detail);
        free(appdir);
        return;
    }
    if (ix.expires && v->now > ix.expires) {
        char t[32];
        pkg_iso_time(ix.expires, t);
        problem(v, "%s/index.json expired at %s: clients refuse it; run 'pkgtool sign' (or release)", app, t);
    }
    if (v->trust_key) verify_signature(ctx, v, appdir, app);
    for (size_t i = 0; i < ix.nrel; i++) {
        pkg_rel *r = &ix.rel[i];
        for (size_t k = 0; k < i; k++) {
            if (!strcmp(ix.rel[k].label, r->label)) problem(v, "%s: label %s appears twice", app, r->label);
            if (!strcmp(ix.rel[k].id, r->id)) problem(v, "%s: bundle %.12s appears twice", app, r->id);
        }
    }
    for (size_t i = 0; i < ix.nrel; i++) {
        pkg_rel *r = &ix.rel[i];
        if (!r->retained) {
            if (r->npatches) problem(v, "%s: release %s lists patches but has no bundle", app, r->label);
            continue;
        }
        char name[200], got[65];
        pkg_bundle_name(r->id, name);
        size_t nlen = 0;
        int ok;
        unsigned char *newb = read_store_file(ctx, v, appdir, app, name, r->size, r->id, &nlen, &ok, got);
        if (newb && !ok) {
            if (!strcmp(got, r->id)) { /* the bundle is its id: the index's size is wrong */
                problem(v, "%s/index.json: release %s records %llu bytes for %s, which has %zu bytes and the "
                           "right SHA-256", app, r->label, (unsigned long long)r->size, name, nlen);
            } else {
                changed(v, app, name, nlen, got, r->size, r->id);
                free(newb);
                newb = NULL;
            }
        }
        for (size_t k = 0; k < r->npatches; k++) {
            pkg_patch_ref *p = &r->patches[k];
            size_t plen = 0, olen = 0;
            long f = pkg_find_id(&ix, p->from);
            if (f < 0 || !ix.rel[f].retained) {
                problem(v, "%s/%s: leads from a release whose bundle is not kept", app, p->file);
                continue;
            }
            unsigned char *patch = read_store_file(ctx, v, appdir, app, p->file, p->size, p->sha256, &plen, &ok, got);
            char oname[200], why[600];
            pkg_bundle_name(p->from, oname);
            char *opath = pkg_join(appdir, oname);
            unsigned char *old = NULL;
            int have_old = patch && newb && opath && pkg_read_file(ctx, opath, &old, &olen) == PKG_OK;
            int good = have_old && pkg_patch_reproduces(old, olen, patch, plen, newb, nlen, why, sizeof why);
            if (patch && !ok) {
                if (good) /* the file does its job: the index records the wrong size or hash */
                    problem(v, "%s/index.json: the size or SHA-256 it records for %s (%llu, %.16s...) do not "
                               "match the file (%zu, %.16s...), which applies correctly", app, p->file,
                            (unsigned long long)p->size, p->sha256, plen, got);
                else
                    changed(v, app, p->file, plen, got, p->size, p->sha256);
            } else if (have_old && !good) {
                problem(v, "%s/%s: does not apply to release %s to give release %s: %s", app, p->file,
                        ix.rel[f].label, r->label, why);
            }
            free(old);
            free(opath);
            free(patch);
        }
        free(newb);
    }
    /* files the index does not name: left by an interrupted release; not a problem */
    pkg_index_free(&ix);
    free(appdir);
}

pkg_error pkg_verify(pkg_ctx *ctx, const char *store, void (*report)(void *, const char *), void *opaque,
                     uint64_t *problems) {
    return pkg_verify_signed(ctx, store, NULL, report, opaque, problems);
}

pkg_error pkg_verify_signed(pkg_ctx *ctx, const char *store, const char *trust_key,
                            void (*report)(void *, const char *), void *opaque, uint64_t *problems) {
    if (!ctx) return PKG_E_MISUSE;
    if (!store) return pkg_fail(ctx, PKG_E_MISUSE, "pkg_verify: NULL store");
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    vstate v = {report, opaque, 0, trust_key, (sde && *sde) ? strtoll(sde, NULL, 10) : (int64_t)time(NULL)};
    if (trust_key) {
        /* an unreadable key is the caller's mistake, not a problem of the store */
        FILE *f = fopen(trust_key, "r");
        if (!f) return pkg_fail(ctx, PKG_E_INPUT, "cannot open the public key %s", trust_key);
        fclose(f);
    }
    DIR *d = opendir(store);
    if (!d) return pkg_fail(ctx, PKG_E_NOT_FOUND, "cannot open the store %s", store);
    struct dirent *de;
    size_t apps = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char *ip = pkg_join(store, de->d_name);
        char *idx = ip ? pkg_join(ip, "index.json") : NULL;
        if (idx && pkg_file_exists(idx)) {
            apps++;
            verify_app(ctx, &v, store, de->d_name);
        }
        free(idx);
        free(ip);
    }
    closedir(d);
    if (!apps) problem(&v, "%s holds no app (no */index.json)", store);
    if (problems) *problems = v.problems;
    ctx->detail[0] = '\0';
    return PKG_OK;
}

/* ---------------------------------------------------------------- list */

pkg_error pkg_list(pkg_ctx *ctx, const char *store, const char *app, char **text) {
    if (!ctx) return PKG_E_MISUSE;
    if (!store || !text) return pkg_fail(ctx, PKG_E_MISUSE, "pkg_list: NULL argument");
    *text = NULL;
    if (!pkg_valid_app(app)) return pkg_fail(ctx, PKG_E_MISUSE, "invalid app name '%s'", app ? app : "");
    char *appdir = pkg_join(store, app);
    if (!appdir) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    pkg_index ix;
    int exists;
    pkg_error e = pkg_index_load(ctx, appdir, app, &ix, &exists);
    free(appdir);
    if (e) return e;
    if (!exists) {
        pkg_index_free(&ix);
        return pkg_fail(ctx, PKG_E_NOT_FOUND, "the store %s has no app %s", store, app);
    }
    pkg_buf b = {0};
    pkg_buf_printf(&b, "app %s, index version %llu, %zu release%s\n\n", ix.app, (unsigned long long)ix.version,
                   ix.nrel, ix.nrel == 1 ? "" : "s");
    pkg_buf_printf(&b, "%-16s %-14s %10s %-8s %-9s %-20s %s\n", "label", "bundle", "size", "native", "flags",
                   "created", "message");
    for (size_t i = ix.nrel; i-- > 0;) {
        pkg_rel *r = &ix.rel[i];
        char t[32], flags[16];
        pkg_iso_time(r->created, t);
        snprintf(flags, sizeof flags, "%s%s%s", r->mandatory ? "M" : "", r->pinned ? "P" : "",
                 r->retained ? "" : "gone");
        pkg_buf_printf(&b, "%-16s %.12s.. %10llu %-8s %-9s %-20s %s\n", r->label, r->id,
                       (unsigned long long)r->size, r->min_native, flags[0] ? flags : "-", t, r->message);
        for (size_t k = 0; k < r->npatches; k++) {
            long f = pkg_find_id(&ix, r->patches[k].from);
            pkg_buf_printf(&b, "  <- from %-10s %10llu bytes (%5.1f%% of full)\n", f >= 0 ? ix.rel[f].label : "?",
                           (unsigned long long)r->patches[k].size,
                           100.0 * (double)r->patches[k].size / (double)(r->size ? r->size : 1));
        }
    }
    pkg_buf_str(&b, "\nflags: M mandatory, P pinned, gone = bundle no longer kept\n");
    pkg_index_free(&ix);
    if (b.oom) {
        free(b.data);
        return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    }
    *text = b.data;
    return PKG_OK;
}
