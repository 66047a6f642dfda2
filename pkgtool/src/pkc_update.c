/* pkc_update.c - the device update (docs/DEVICE.md, "Update"): index, decision, download
 * (patch streamed into the patcher, or full bundle with a resumable partial file), unpack,
 * commit, link. Also the local-bundle install and the directory transport. */
#define _POSIX_C_SOURCE 200809L
#define _FILE_OFFSET_BITS 64 /* files over 2 GiB and readdir on 32-bit targets */
#include "pkc_internal.h"

#include "bspatch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INDEX_MAX (16u << 20) /* a larger index is refused: it is untrusted input */
#define SIG_MAX 1024

/* ---------------------------------------------------------------- directory transport */

static int dir_fetch(void *self, const char *path, uint64_t offset, pkc_sink_fn sink, void *opaque, char *err,
                     size_t errlen) {
    const char *root = self;
    size_t n = strlen(root) + strlen(path) + 2;
    char *full = malloc(n);
    if (!full) {
        snprintf(err, errlen, "out of memory");
        return PKC_FETCH_FAILED;
    }
    snprintf(full, n, "%s/%s", root, path);
    FILE *f = fopen(full, "rb");
    free(full);
    if (!f) {
        snprintf(err, errlen, "%s", strerror(errno));
        return errno == ENOENT ? PKC_FETCH_NOT_FOUND : PKC_FETCH_FAILED;
    }
    int rc = PKC_FETCH_OK;
    unsigned char buf[16384];
    if (offset && fseeko(f, (off_t)offset, SEEK_SET) != 0) {
        snprintf(err, errlen, "cannot seek: %s", strerror(errno));
        rc = PKC_FETCH_FAILED;
    }
    size_t got;
    while (rc == PKC_FETCH_OK && (got = fread(buf, 1, sizeof buf, f)) > 0)
        if (sink(opaque, buf, got)) rc = PKC_FETCH_STOPPED;
    if (rc == PKC_FETCH_OK && ferror(f)) {
        snprintf(err, errlen, "read error");
        rc = PKC_FETCH_FAILED;
    }
    fclose(f);
    return rc;
}

void pkc_transport_dir(pkc_transport *t, const char *root) {
    t->fetch = dir_fetch;
    t->self = (void *)root;
}

/* ---------------------------------------------------------------- update context */

typedef struct upd {
    pkg_ctx *ctx;
    const pkc_update_opts *o;
    pkc_update_result *res;
    pkc_dir d;
} upd;

static void say(upd *u, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void say(upd *u, const char *fmt, ...) {
    if (!u->o->progress) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    u->o->progress(u->o->progress_opaque, line);
}

static void pause_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Fetch with resumption. The consumer sink sees every byte once, in order, across retries;
 * *got counts them (it starts at `start`, for a partial file kept from an earlier run). A
 * sink refusal (PKC_FETCH_STOPPED) ends at once; the caller knows why. */
typedef struct counted {
    pkc_sink_fn sink;
    void *opaque;
    uint64_t got;
    uint64_t fetched;
    upd *u;
    const char *path;
    uint64_t total;   /* expected size, for progress; 0 = unknown */
    unsigned tenths;  /* progress reported up to this many tenths */
    /* files that may change between requests (index.json and its .sig): a retry starts again
     * from byte 0 after reset(opaque), so two versions are never spliced together */
    void (*reset)(void *opaque);
} counted;

#define PROGRESS_MIN_BYTES (1u << 20) /* smaller downloads report no percentages */

static int count_sink(void *opaque, const void *p, size_t n) {
    counted *c = opaque;
    if (c->sink(c->opaque, p, n)) return 1;
    c->got += n;
    c->fetched += n;
    if (c->total >= PROGRESS_MIN_BYTES && c->got < c->total) {
        unsigned t = (unsigned)(c->got * 10 / c->total);
        if (t > c->tenths) {
            c->tenths = t;
            say(c->u, "%s: %u%% (%llu of %llu bytes)", c->path, t * 10, (unsigned long long)c->got,
                (unsigned long long)c->total);
        }
    }
    return 0;
}

static int fetch(upd *u, const char *path, uint64_t start, uint64_t total, pkc_sink_fn sink, void *opaque,
                 void (*reset)(void *), uint64_t *got, char *err, size_t errlen) {
    counted c = {sink, opaque, start, 0, u, path, total, total ? (unsigned)(start * 10 / total) : 0, reset};
    int retries = u->o->retries < 0 ? 5 : u->o->retries;
    unsigned delay = u->o->retry_delay_ms ? u->o->retry_delay_ms : 200;
    int rc;
    for (int attempt = 0;; attempt++) {
        if (c.got && c.reset) {
            c.reset(c.opaque);
            c.got = 0;
        } else if (c.got) {
            u->res->resumes++;
            say(u, "resuming %s from byte %llu", path, (unsigned long long)c.got);
        }
        err[0] = 0;
        rc = u->o->transport.fetch(u->o->transport.self, path, c.got, count_sink, &c, err, errlen);
        if (rc != PKC_FETCH_FAILED || attempt >= retries) break;
        say(u, "fetching %s failed after %llu bytes (%s); retrying", path, (unsigned long long)c.got, err);
        pause_ms(delay * (unsigned)(attempt + 1));
    }
    u->res->bytes_fetched += c.fetched;
    *got = c.got;
    return rc;
}

static pkg_error net_fail(upd *u, int rc, const char *path, const char *err) {
    if (rc == PKC_FETCH_NOT_FOUND)
        return pkg_fail(u->ctx, PKG_E_NOT_FOUND, "the store has no %s (%s): check --store and --app", path, err);
    return pkg_fail(u->ctx, PKG_E_NETWORK,
                    "cannot fetch %s: %s; the current version is unchanged, run the update again when the network "
                    "is back",
                    path, err[0] ? err : "transfer failed");
}

/* Whole small files (index, signature) into memory, bounded. */
typedef struct membuf {
    unsigned char *data;
    size_t len, cap, max;
    int too_big;
} membuf;

static int mem_sink(void *opaque, const void *p, size_t n) {
    membuf *m = opaque;
    if (n > m->max - m->len) {
        m->too_big = 1;
        return 1;
    }
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4096;
        while (cap < m->len + n) cap *= 2;
        unsigned char *d = realloc(m->data, cap);
        if (!d) return 1;
        m->data = d;
        m->cap = cap;
    }
    memcpy(m->data + m->len, p, n);
    m->len += n;
    return 0;
}

static void mem_reset(void *opaque) { ((membuf *)opaque)->len = 0; }

static int fetch_small(upd *u, const char *path, membuf *m, size_t max, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    m->max = max;
    uint64_t got;
    int rc = fetch(u, path, 0, 0, mem_sink, m, mem_reset, &got, err, errlen);
    if (rc == PKC_FETCH_STOPPED) snprintf(err, errlen, m->too_big ? "larger than %zu bytes" : "out of memory", max);
    return rc;
}

/* ---------------------------------------------------------------- the index */

/* One fetch of the index into *m and, with a trusted key, of its signature, checked. */
static pkg_error get_index_bytes(upd *u, membuf *m) {
    const pkc_update_opts *o = u->o;
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/index.json", o->app);
    say(u, "fetching %s", path);
    int rc = fetch_small(u, path, m, INDEX_MAX, err, sizeof err);
    if (rc != PKC_FETCH_OK) {
        if (rc == PKC_FETCH_STOPPED)
            return pkg_fail(u->ctx, PKG_E_INTEGRITY, "the store's %s is %s: refused", path, err);
        return net_fail(u, rc, path, err);
    }
    pkg_error e = PKG_OK;
    if (o->trust_key) {
        char sigpath[320];
        snprintf(sigpath, sizeof sigpath, "%s.sig", path);
        membuf s;
        rc = fetch_small(u, sigpath, &s, SIG_MAX, err, sizeof err);
        if (rc == PKC_FETCH_NOT_FOUND)
            e = pkg_fail(u->ctx, PKG_E_SIGNATURE,
                         "the store's index is not signed (no %s); it is refused because --trust was given", sigpath);
        else if (rc == PKC_FETCH_STOPPED)
            e = pkg_fail(u->ctx, PKG_E_SIGNATURE, "the store's %s is not a signature (%s)", sigpath, err);
        else if (rc != PKC_FETCH_OK)
            e = net_fail(u, rc, sigpath, err);
        else
            e = pkg_verify_signature(u->ctx, o->trust_key, m->data, m->len, s.data, s.len);
        free(s.data);
        if (!e) u->res->signature_checked = 1;
    }
    return e;
}

/* The index and its signature are separate requests: a publisher writing a new pair between
 * them makes the signature fail once, so a failed signature is fetched again, as a pair, once. */
static pkg_error get_signed_index(upd *u, membuf *m) {
    pkg_error e = PKG_OK;
    for (int attempt = 0; attempt < 2; attempt++) {
        free(m->data);
        memset(m, 0, sizeof *m);
        e = get_index_bytes(u, m);
        if (e != PKG_E_SIGNATURE || !u->o->trust_key) break;
        if (!attempt) say(u, "the index signature does not verify; fetching the index and its signature again");
    }
    return e;
}

static pkg_error get_index(upd *u, pkg_index *ix) {
    const pkc_update_opts *o = u->o;
    char path[300];
    snprintf(path, sizeof path, "%s/index.json", o->app);
    membuf m = {0};
    pkg_error e = get_signed_index(u, &m);
    if (!e) {
        char what[340];
        snprintf(what, sizeof what, "the store's %s", path);
        e = pkg_index_parse(u->ctx, m.data, m.len, what, o->app, ix);
    }
    free(m.data);
    if (e) return e;
    int64_t now = o->now ? o->now : (int64_t)time(NULL);
    char t[32];
    if (o->trust_key && !ix->expires) {
        e = pkg_fail(u->ctx, PKG_E_EXPIRED, "the index has no expiry time; a signed index must have one");
    } else if (ix->expires && now > ix->expires) {
        pkg_iso_time(ix->expires, t);
        e = pkg_fail(u->ctx, PKG_E_EXPIRED,
                     "the store's index expired at %s; it is refused (a frozen or stale mirror?) until the "
                     "publisher re-signs it ('pkgtool sign')",
                     t);
    } else if (ix->version < u->d.st.index_version) {
        e = pkg_fail(u->ctx, PKG_E_REPLAY,
                     "the store's index is version %llu, older than version %llu this device accepted before: "
                     "refused (a replayed old index?)",
                     (unsigned long long)ix->version, (unsigned long long)u->d.st.index_version);
    } else if (!ix->nrel) {
        e = pkg_fail(u->ctx, PKG_E_NOT_FOUND, "the store has no releases of app %s", o->app);
    }
    if (e) pkg_index_free(ix);
    else u->res->index_version = ix->version;
    return e;
}

/* ---------------------------------------------------------------- patch route */

typedef struct patch_run {
    bsp_ctx *bsp;
    pkc_sha256 *patch_hash, *out_hash;
    FILE *out;
    uint64_t patch_bytes, limit;
    int out_errno;
    bsp_error berr;
    int too_long;
} patch_run;

static int out_write(void *opaque, const void *p, size_t n) {
    patch_run *pr = opaque;
    if (fwrite(p, 1, n, pr->out) != n) {
        pr->out_errno = errno ? errno : EIO;
        return 1;
    }
    pkc_sha256_update(pr->out_hash, p, n);
    return 0;
}

static int patch_sink(void *opaque, const void *p, size_t n) {
    patch_run *pr = opaque;
    if (n > pr->limit - pr->patch_bytes) {
        pr->too_long = 1;
        return 1;
    }
    pr->patch_bytes += n;
    pkc_sha256_update(pr->patch_hash, p, n);
    pr->berr = bsp_stream_feed(pr->bsp, p, n);
    return pr->berr != BSP_OK;
}

/* Applies the patch as it downloads into newpath. PKG_E_INTEGRITY means "the patch did not
 * work, the full bundle may" (reason in the detail); network, disk and memory errors are final. */
static pkg_error run_patch(upd *u, const pkg_index *ix, const pkg_decision *dc, const char *oldpath,
                           const char *newpath) {
    const pkg_patch_ref *p = dc->patch;
    const pkg_rel *to = &ix->rel[dc->target];
    pkg_error e = PKG_OK;
    patch_run pr;
    memset(&pr, 0, sizeof pr);
    pr.limit = p->size;
    FILE *old = fopen(oldpath, "rb");
    if (!old) return pkg_fail(u->ctx, PKG_E_INTEGRITY, "the installed bundle %s cannot be read (%s)", oldpath,
                              strerror(errno));
    bsp_source src;
    bsp_sink sink = {&pr, out_write};
    pr.out = fopen(newpath, "wb");
    pr.bsp = bsp_create();
    pr.patch_hash = pkc_sha256_new();
    pr.out_hash = pkc_sha256_new();
    if (!pr.out) e = pkc_io_fail(u->ctx, errno, "create", newpath);
    else if (!pr.bsp || !pr.patch_hash || !pr.out_hash) e = pkg_fail(u->ctx, PKG_E_NOMEM, "out of memory");
    else if (bsp_source_from_file(&src, old))
        e = pkg_fail(u->ctx, PKG_E_INTEGRITY, "the installed bundle %s cannot be read", oldpath);
    if (!e) {
        bsp_set_max_new_size(pr.bsp, to->size);
        pr.berr = bsp_stream_begin(pr.bsp, &src, &sink);
        if (pr.berr) e = pkg_fail(u->ctx, PKG_E_INTEGRITY, "the patcher refused to start: %s", bsp_detail(pr.bsp));
    }
    char url[300], err[256];
    snprintf(url, sizeof url, "%s/%s", ix->app, p->file);
    if (!e) {
        say(u, "downloading patch %s (%llu bytes) into the patcher", url, (unsigned long long)p->size);
        uint64_t got;
        int rc = fetch(u, url, 0, p->size, patch_sink, &pr, NULL, &got, err, sizeof err);
        if (rc == PKC_FETCH_STOPPED) {
            if (pr.too_long)
                e = pkg_fail(u->ctx, PKG_E_INTEGRITY, "the patch is longer than the %llu bytes the index lists",
                             (unsigned long long)p->size);
            else if (pr.out_errno)
                e = pkc_io_fail(u->ctx, pr.out_errno, "write", newpath);
            else if (pr.berr == BSP_E_NOMEM)
                e = pkg_fail(u->ctx, PKG_E_NOMEM, "out of memory in the patcher");
            else
                e = pkg_fail(u->ctx, PKG_E_INTEGRITY, "the patch does not apply: %s", bsp_detail(pr.bsp));
        } else if (rc == PKC_FETCH_NOT_FOUND) {
            e = pkg_fail(u->ctx, PKG_E_INTEGRITY, "the store has no %s (%s)", url, err);
        } else if (rc != PKC_FETCH_OK) {
            e = net_fail(u, rc, url, err);
        }
    }
    if (!e) {
        char hex[65];
        pkc_sha256_hex(pr.patch_hash, hex);
        pr.patch_hash = NULL;
        if (pr.patch_bytes != p->size || strcmp(hex, p->sha256))
            e = pkg_fail(u->ctx, PKG_E_INTEGRITY, "the patch does not match the size and SHA-256 the index lists");
    }
    if (!e) {
        pr.berr = bsp_stream_finish(pr.bsp);
        if (pr.out_errno) e = pkc_io_fail(u->ctx, pr.out_errno, "write", newpath);
        else if (pr.berr) e = pkg_fail(u->ctx, PKG_E_INTEGRITY, "the patch does not apply: %s", bsp_detail(pr.bsp));
    }
    if (!e && (fflush(pr.out) != 0 || fsync(fileno(pr.out)) != 0)) e = pkc_io_fail(u->ctx, errno, "write", newpath);
    if (pr.out && fclose(pr.out) != 0 && !e) e = pkc_io_fail(u->ctx, errno, "write", newpath);
    if (!e) {
        char hex[65];
        pkc_sha256_hex(pr.out_hash, hex);
        pr.out_hash = NULL;
        if (strcmp(hex, to->id))
            e = pkg_fail(u->ctx, PKG_E_INTEGRITY, "the patched bundle's SHA-256 is not the release's id");
    }
    if (pr.patch_hash) pkc_sha256_hex(pr.patch_hash, err);
    if (pr.out_hash) pkc_sha256_hex(pr.out_hash, err);
    bsp_free(pr.bsp);
    fclose(old);
    if (e) unlink(newpath);
    return e;
}

/* ---------------------------------------------------------------- full route */

typedef struct file_run {
    FILE *f;
    uint64_t limit, have;
    int err;
    int too_long;
} file_run;

static int file_sink(void *opaque, const void *p, size_t n) {
    file_run *fr = opaque;
    if (n > fr->limit - fr->have) {
        fr->too_long = 1;
        return 1;
    }
    if (fwrite(p, 1, n, fr->f) != n) {
        fr->err = errno ? errno : EIO;
        return 1;
    }
    fr->have += n;
    return 0;
}

/* Downloads the bundle to partpath (resuming a partial file), then checks size and id and
 * renames it to newpath. The partial file survives network failures for the next run. */
static pkg_error run_full(upd *u, const pkg_index *ix, const pkg_rel *to, const char *partpath, const char *newpath) {
    char url[300], err[256], name[200];
    pkg_bundle_name(to->id, name);
    snprintf(url, sizeof url, "%s/%s", ix->app, name);
    struct stat sb;
    uint64_t start = 0;
    if (stat(partpath, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size <= to->size) start = (uint64_t)sb.st_size;
    else unlink(partpath);
    file_run fr = {NULL, to->size, start, 0, 0};
    fr.f = fopen(partpath, start ? "ab" : "wb");
    if (!fr.f) return pkc_io_fail(u->ctx, errno, "create", partpath);
    if (start) say(u, "a partial download of %llu bytes is kept from an earlier run", (unsigned long long)start);
    say(u, "downloading bundle %s (%llu bytes)", url, (unsigned long long)to->size);
    pkg_error e = PKG_OK;
    uint64_t got = start;
    int rc = start < to->size ? fetch(u, url, start, to->size, file_sink, &fr, NULL, &got, err, sizeof err)
                              : PKC_FETCH_OK;
    if (rc == PKC_FETCH_STOPPED) {
        if (fr.err) e = pkc_io_fail(u->ctx, fr.err, "write", partpath);
        else e = pkg_fail(u->ctx, PKG_E_INTEGRITY, "the bundle is longer than the %llu bytes the index lists",
                          (unsigned long long)to->size);
    } else if (rc == PKC_FETCH_NOT_FOUND) {
        e = pkg_fail(u->ctx, PKG_E_INTEGRITY, "the store has no %s (%s) although its index lists it", url, err);
    } else if (rc != PKC_FETCH_OK) {
        e = net_fail(u, rc, url, err);
    }
    if (fflush(fr.f) != 0 && !e) e = pkc_io_fail(u->ctx, errno, "write", partpath);
    if (!e && fsync(fileno(fr.f)) != 0) e = pkc_io_fail(u->ctx, errno, "write", partpath);
    if (fclose(fr.f) != 0 && !e) e = pkc_io_fail(u->ctx, errno, "write", partpath);
    if (e) {
        /* keep what arrived for the next run only when the failure was the network's */
        if (e != PKG_E_NETWORK) unlink(partpath);
        return e;
    }
    char hex[65];
    uint64_t size = 0;
    if (pkc_sha256_file(partpath, hex, &size) != 0) {
        e = pkc_io_fail(u->ctx, errno, "read", partpath);
    } else if (size != to->size || strcmp(hex, to->id)) {
        e = pkg_fail(u->ctx, PKG_E_INTEGRITY,
                     "the bundle from the store does not match the size and SHA-256 its index lists (altered on the "
                     "server or in transit); nothing was installed");
    } else if (rename(partpath, newpath) != 0) {
        e = pkc_io_fail(u->ctx, errno, "rename", partpath);
    }
    if (e) unlink(partpath);
    return e;
}

/* ---------------------------------------------------------------- install */

/* Unpacks newzip (verified bundle `id`), moves it into versions/ and commits the state with it
 * as current. pending: the app must confirm it. */
static pkg_error install(pkg_ctx *ctx, pkc_dir *d, const char *newzip, const char *id, const char *label, int pending,
                         void (*say_fn)(void *, const char *), void *say_opaque) {
    char zname[80];
    snprintf(zname, sizeof zname, "%s.zip", id);
    char *unpack = pkc_path(d, "tmp", "unpack"), *vdir = pkc_path(d, "versions", id);
    char *vzip = pkc_path(d, "versions", zname);
    pkg_error e = (!unpack || !vdir || !vzip) ? pkg_fail(ctx, PKG_E_NOMEM, "out of memory") : PKG_OK;
    if (!e) {
        pkc_remove_tree(unpack);
        e = pkc_unpack(ctx, newzip, unpack);
    }
    if (!e && say_fn) say_fn(say_opaque, "unpacked and verified every file against the manifest");
    if (!e) {
        /* a directory left by an interrupted earlier run is not current or previous */
        if (strcmp(id, d->st.current.id) && strcmp(id, d->st.previous.id)) pkc_remove_tree(vdir);
        struct stat sb;
        if (stat(vdir, &sb) != 0 && rename(unpack, vdir) != 0) e = pkc_io_fail(ctx, errno, "move into place", vdir);
        else if (rename(newzip, vzip) != 0) e = pkc_io_fail(ctx, errno, "move into place", vzip);
        else pkc_sync_dir(d->root);
    }
    if (!e && say_fn) say_fn(say_opaque, "moved into place");
    if (!e) {
        /* previous = the last confirmed version: an unconfirmed one is never a fallback */
        if (!(d->st.current.set && d->st.pending)) d->st.previous = d->st.current;
        memset(&d->st.current, 0, sizeof d->st.current);
        d->st.current.set = 1;
        memcpy(d->st.current.id, id, 65);
        snprintf(d->st.current.label, sizeof d->st.current.label, "%s", label);
        if (!strcmp(d->st.previous.id, id)) memset(&d->st.previous, 0, sizeof d->st.previous);
        d->st.pending = pending;
        d->st.started = 0;
        e = pkc_state_write(ctx, d);
        /* the commit point has passed; D/current follows (and is repaired on the next open if
         * this process dies here) */
        if (!e && say_fn) say_fn(say_opaque, "state written: the new version is current");
        if (!e) e = pkc_link_current(ctx, d);
    }
    if (!e) pkc_cleanup(d, NULL);
    if (e) pkc_remove_tree(unpack);
    free(unpack);
    free(vdir);
    free(vzip);
    return e;
}

static void say_cb(void *opaque, const char *text) { say(opaque, "%s", text); }

void pkc_update_opts_init(pkc_update_opts *o) {
    memset(o, 0, sizeof *o);
    o->retries = -1;
}

pkg_error pkc_update(pkg_ctx *ctx, const pkc_update_opts *o, pkc_update_result *res) {
    if (!ctx) return PKG_E_MISUSE;
    if (!o || !res || !o->transport.fetch) return pkg_fail(ctx, PKG_E_MISUSE, "pkc_update: NULL argument");
    memset(res, 0, sizeof *res);
    if (!pkg_valid_app(o->app)) return pkg_fail(ctx, PKG_E_MISUSE, "invalid app name '%s'", o->app ? o->app : "");
    upd u = {ctx, o, res, {0}};
    pkg_error e = pkc_dir_open(ctx, &u.d, o->install_dir, o->app, PKC_OPEN_CREATE);
    if (e) return e;
    pkc_dir *d = &u.d;
    if (d->st.current.set) {
        memcpy(res->from_id, d->st.current.id, 65);
        snprintf(res->from_label, sizeof res->from_label, "%s", d->st.current.label);
    }
    pkg_index ix;
    e = get_index(&u, &ix);
    if (e) {
        pkc_dir_close(d);
        return e;
    }
    if (ix.version > d->st.index_version) {
        d->st.index_version = ix.version;
        /* remember the newest index accepted, even when nothing is installed from it */
        if (d->exists) e = pkc_state_commit(ctx, d);
    }
    /* a bundle installed from a local file learns its release label from the index */
    pkc_version *known[2] = {&d->st.current, &d->st.previous};
    for (int k = 0; k < 2; k++) {
        long at = known[k]->set ? pkg_find_id(&ix, known[k]->id) : -1;
        if (at >= 0) snprintf(known[k]->label, sizeof known[k]->label, "%s", ix.rel[at].label);
    }
    if (d->st.current.set) snprintf(res->from_label, sizeof res->from_label, "%s", d->st.current.label);
    pkg_decision dc;
    pkg_decide(&ix, d->st.current.set ? d->st.current.id : NULL, o->native, o->want_full, NULL, NULL, &dc);
    const pkg_rel *newest = &ix.rel[ix.nrel - 1];
    snprintf(res->newest_label, sizeof res->newest_label, "%s", newest->label);
    res->native_update = dc.action == PKG_ACT_NATIVE;
    if (d->st.current.set && dc.from < 0)
        say(&u, "the installed bundle %.12s is not in the store's index: a full download is needed", d->st.current.id);
    const pkg_rel *to = dc.target >= 0 ? &ix.rel[dc.target] : NULL;
    if (to) {
        memcpy(res->to_id, to->id, 65);
        snprintf(res->to_label, sizeof res->to_label, "%s", to->label);
        snprintf(res->message, sizeof res->message, "%s", to->message);
        res->mandatory = dc.why_mandatory >= 0;
    }
    if (!e && !to) {
        res->result = dc.action == PKG_ACT_NATIVE ? PKC_NATIVE_UPDATE : PKC_UP_TO_DATE;
        say(&u, dc.action == PKG_ACT_NATIVE ? "release %s needs a newer native shell than %s"
                                            : "up to date (release %s)",
            dc.action == PKG_ACT_NATIVE ? newest->label : res->from_label, o->native ? o->native : "0");
    } else if (!e && pkc_is_rejected(&d->st, to->id)) {
        res->result = PKC_REJECTED;
        say(&u, "release %s was rolled back on this device before; not installing it again", to->label);
    } else if (!e) {
        char *newzip = pkc_path(d, "tmp", "new.zip");
        char partname[80];
        snprintf(partname, sizeof partname, "%s.zip.part", to->id);
        char *part = pkc_path(d, "tmp", partname);
        if (!newzip || !part) e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
        /* tmp/ holds nothing of value but this release's partial download */
        if (!e) pkc_cleanup(d, partname);
        int route = dc.route;
        if (!e && route == PKG_ACT_PATCH) {
            res->method = PKC_METHOD_PATCH;
            res->download_size = dc.patch->size;
            char zname[80];
            snprintf(zname, sizeof zname, "%s.zip", d->st.current.id);
            char *oldzip = pkc_path(d, "versions", zname);
            e = oldzip ? run_patch(&u, &ix, &dc, oldzip, newzip) : pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
            free(oldzip);
            if (e == PKG_E_INTEGRITY) {
                snprintf(res->fallback, sizeof res->fallback, "%s", pkg_detail(ctx));
                say(&u, "the patch failed (%s); falling back to the full bundle", res->fallback);
                e = PKG_OK;
                route = PKG_ACT_FULL;
            }
        } else if (!e && dc.reason && dc.from >= 0) {
            snprintf(res->fallback, sizeof res->fallback, "%s", dc.reason);
        }
        if (!e && route == PKG_ACT_FULL) {
            res->method = PKC_METHOD_FULL;
            res->download_size = to->size;
            e = run_full(&u, &ix, to, part, newzip);
        }
        if (!e) say(&u, "downloaded and verified bundle %.12s (release %s)", to->id, to->label);
        if (!e) e = install(ctx, d, newzip, to->id, to->label, 1, say_cb, &u);
        if (e && newzip) unlink(newzip);
        if (!e) {
            res->result = PKC_UPDATED;
            say(&u, "current switched to release %s; it is pending until the app confirms it", to->label);
        }
        free(newzip);
        free(part);
    }
    pkg_index_free(&ix);
    pkc_dir_close(d);
    return e;
}

pkg_error pkc_install_bundle(pkg_ctx *ctx, const char *install_dir, const char *app, const char *bundle_path) {
    if (!ctx) return PKG_E_MISUSE;
    if (!bundle_path) return pkg_fail(ctx, PKG_E_MISUSE, "pkc_install_bundle: NULL argument");
    if (app && !pkg_valid_app(app)) return pkg_fail(ctx, PKG_E_MISUSE, "invalid app name '%s'", app);
    char id[65];
    uint64_t size;
    if (pkc_sha256_file(bundle_path, id, &size) != 0)
        return pkg_fail(ctx, PKG_E_INPUT, "cannot read %s: %s", bundle_path, strerror(errno));
    pkc_dir d;
    pkg_error e = pkc_dir_open(ctx, &d, install_dir, app, PKC_OPEN_CREATE | PKC_OPEN_RESET);
    if (e) return e;
    if (!d.exists && !app) {
        pkc_dir_close(&d);
        return pkg_fail(ctx, PKG_E_MISUSE, "nothing is installed in %s yet: name the app (--app A)", install_dir);
    }
    char *newzip = pkc_path(&d, "tmp", "new.zip");
    if (!newzip) e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    if (!e) pkc_cleanup(&d, NULL);
    /* copy the bundle into tmp/ first: the install then only renames */
    FILE *in = e ? NULL : fopen(bundle_path, "rb"), *out = (e || !in) ? NULL : fopen(newzip, "wb");
    if (!e && (!in || !out)) e = pkc_io_fail(ctx, errno, in ? "create" : "read", in ? newzip : bundle_path);
    unsigned char buf[16384];
    size_t n;
    while (!e && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) e = pkc_io_fail(ctx, errno, "write", newzip);
    if (!e && ferror(in)) e = pkc_io_fail(ctx, errno, "read", bundle_path);
    if (!e && (fflush(out) != 0 || fsync(fileno(out)) != 0)) e = pkc_io_fail(ctx, errno, "write", newzip);
    if (in) fclose(in);
    if (out && fclose(out) != 0 && !e) e = pkc_io_fail(ctx, errno, "write", newzip);
    if (!e && d.st.current.set && !strcmp(d.st.current.id, id)) {
        /* already current: confirm it */
        d.st.pending = 0;
        e = pkc_state_commit(ctx, &d);
    } else if (!e) {
        e = install(ctx, &d, newzip, id, "local", 0, NULL, NULL);
    }
    if (newzip) unlink(newzip);
    free(newzip);
    pkc_dir_close(&d);
    return e;
}
