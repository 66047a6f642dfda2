/* pkg_release.c - adds a release to a store: bundle, verified patches from every retained
 * release, index last, then clean-up. Ordered so that a crash at any point leaves a valid store
 * and a re-run completes the work (docs/STORE.md). */
#define _POSIX_C_SOURCE 200809L
#include "pkg_index.h"

#include "bsdiff.h"
#include "bspatch.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void pkg_release_opts_init(pkg_release_opts *opt) {
    memset(opt, 0, sizeof *opt);
    opt->min_native = "0";
    opt->message = "";
    opt->keep = 5;
    opt->max_ratio = 0.7;
}

void pkg_release_report_free(pkg_release_report *rep) {
    if (!rep) return;
    free(rep->patches);
    rep->patches = NULL;
    rep->npatches = 0;
}

static void say(const pkg_release_opts *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void say(const pkg_release_opts *o, const char *fmt, ...) {
    if (!o->progress) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->progress(o->progress_opaque, line);
}

/* ---------------------------------------------------------------- diff jobs */

typedef struct job {
    const char *appdir;
    const pkg_rel *from;
    const unsigned char *newdata;
    size_t newlen;
    const char *new_id;
    unsigned threads;
    double max_ratio;
    int zstd;
    /* results */
    pkg_error err;
    char detail[1024];
    pkg_patch_result res;
    pkg_patch_ref ref;
} job;

typedef struct pool {
    job *jobs;
    size_t njobs, next;
    pthread_mutex_t lock;
} pool;

static int collect(void *opaque, const void *buf, size_t len) {
    pkg_buf *b = opaque;
    pkg_buf_add(b, buf, len);
    return b->oom ? -1 : 0;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int pkg_patch_reproduces(const unsigned char *old, size_t oldlen, const unsigned char *patch, size_t plen,
                         const unsigned char *want, size_t wantlen, char *why, size_t whylen) {
    unsigned char *out = malloc(wantlen ? wantlen : 1);
    bsp_ctx *pc = bsp_create();
    int ok = 0;
    if (!out || !pc) {
        snprintf(why, whylen, "out of memory");
    } else {
        bsp_memsource ms, ps;
        bsp_source os, pss;
        bsp_memsink mk = {out, wantlen, 0};
        bsp_sink sk;
        bsp_source_from_memory(&os, &ms, old, oldlen);
        bsp_source_from_memory(&pss, &ps, patch, plen);
        bsp_sink_to_memory(&sk, &mk);
        bsp_error e = bsp_apply(pc, &os, &pss, &sk);
        if (e) snprintf(why, whylen, "%s: %s", bsp_strerror(e), bsp_detail(pc));
        else if (mk.len != wantlen || memcmp(out, want, wantlen)) snprintf(why, whylen, "result differs");
        else ok = 1;
    }
    bsp_free(pc);
    free(out);
    return ok;
}

static void run_job(job *j) {
    pkg_ctx ctx = {{0}};
    double t0 = now_s();
    char name[200];
    pkg_bundle_name(j->from->id, name);
    char *path = pkg_join(j->appdir, name);
    unsigned char *old = NULL;
    size_t oldlen = 0;
    pkg_buf patch = {0};
    bsd_ctx *dc = NULL;
    bsd_old *prep = NULL;
    snprintf(j->res.from_label, sizeof j->res.from_label, "%s", j->from->label);
    memcpy(j->res.from_id, j->from->id, 65);
    j->res.full_size = j->newlen;
    j->err = path ? pkg_read_file(&ctx, path, &old, &oldlen) : pkg_fail(&ctx, PKG_E_NOMEM, "out of memory");
    if (!j->err) {
        char sha[65];
        pkg_sha256_hex(old, oldlen, sha);
        if (strcmp(sha, j->from->id))
            j->err = pkg_fail(&ctx, PKG_E_STORE, "bundle %s of release %s is damaged (SHA-256 %s)", name,
                              j->from->label, sha);
    }
    if (!j->err) {
        bsd_options o;
        bsd_options_init(&o);
        o.threads = j->threads;
        o.compressor = j->zstd ? BSD_COMP_ZSTD : BSD_COMP_BZIP2;
        bsd_error de = BSD_OK;
        if (!(dc = bsd_create())) de = BSD_E_NOMEM;
        if (!de) de = bsd_set_options(dc, &o);
        if (!de) de = bsd_prepare_old(dc, old, oldlen, &prep);
        bsd_sink sk = {&patch, collect};
        if (!de) de = bsd_diff(dc, prep, j->newdata, j->newlen, &sk);
        if (de)
            j->err = pkg_fail(&ctx, de == BSD_E_NOMEM ? PKG_E_NOMEM : PKG_E_DIFF, "diff from %s: %s: %s",
                              j->from->label, bsd_strerror(de), dc ? bsd_detail(dc) : "");
    }
    if (!j->err) {
        char why[600];
        if (!pkg_patch_reproduces(old, oldlen, (unsigned char *)patch.data, patch.len, j->newdata, j->newlen, why,
                          sizeof why))
            j->err = pkg_fail(&ctx, PKG_E_VERIFY, "the patch from %s does not reproduce the new bundle: %s",
                              j->from->label, why);
    }
    if (!j->err) {
        j->res.patch_size = patch.len;
        j->res.kept = (double)patch.len < j->max_ratio * (double)j->newlen;
        if (j->res.kept) {
            pkg_patch_name(j->from->id, j->new_id, j->ref.file);
            memcpy(j->ref.from, j->from->id, 65);
            j->ref.size = patch.len;
            pkg_sha256_hex(patch.data, patch.len, j->ref.sha256);
            char *ppath = pkg_join(j->appdir, j->ref.file);
            j->err = ppath ? pkg_write_file_atomic(&ctx, ppath, patch.data, patch.len)
                           : pkg_fail(&ctx, PKG_E_NOMEM, "out of memory");
            free(ppath);
        }
    }
    j->res.seconds = now_s() - t0;
    memcpy(j->detail, ctx.detail, sizeof j->detail);
    bsd_old_free(prep);
    bsd_free(dc);
    free(patch.data);
    free(old);
    free(path);
}

static void *worker(void *arg) {
    pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        size_t i = p->next < p->njobs ? p->next++ : p->njobs;
        pthread_mutex_unlock(&p->lock);
        if (i >= p->njobs) return NULL;
        run_job(&p->jobs[i]);
    }
}

/* ---------------------------------------------------------------- clean-up */

/* Removes files of bundles/ and patches/ that the index does not reference, and temporary
 * files left by an interrupted run. */
static uint64_t remove_unreferenced(const char *appdir, const pkg_index *ix) {
    static const char *sub[] = {"bundles", "patches"};
    uint64_t removed = 0;
    for (int s = 0; s < 2; s++) {
        char *dir = pkg_join(appdir, sub[s]);
        DIR *d = dir ? opendir(dir) : NULL;
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.') continue;
            char rel[300];
            snprintf(rel, sizeof rel, "%s/%s", sub[s], de->d_name);
            int used = 0;
            for (size_t i = 0; i < ix->nrel && !used; i++) {
                char name[200];
                pkg_bundle_name(ix->rel[i].id, name);
                if (ix->rel[i].retained && !strcmp(rel, name)) used = 1;
                for (size_t k = 0; k < ix->rel[i].npatches && !used; k++)
                    if (!strcmp(rel, ix->rel[i].patches[k].file)) used = 1;
            }
            if (!used) {
                char *full = pkg_join(dir, de->d_name);
                if (full && unlink(full) == 0) removed++;
                free(full);
            }
        }
        if (d) closedir(d);
        free(dir);
    }
    return removed;
}

/* ---------------------------------------------------------------- release */

/* Releases that clients are sent to: the newest, and each older release that is the newest
 * one some older native shell can run (a later release needs a strictly newer shell). */
static int is_target(const pkg_index *ix, size_t i) {
    for (size_t k = i + 1; k < ix->nrel; k++)
        if (pkg_version_cmp(ix->rel[k].min_native, ix->rel[i].min_native) <= 0) return 0;
    return 1;
}

pkg_error pkg_release(pkg_ctx *ctx, const char *store, const char *app, const char *input,
                      const pkg_release_opts *opt_in, pkg_release_report *rep) {
    if (!ctx) return PKG_E_MISUSE;
    pkg_release_opts opt;
    if (opt_in) opt = *opt_in;
    else pkg_release_opts_init(&opt);
    if (!opt.min_native) opt.min_native = "0";
    if (!opt.message) opt.message = "";
    if (!opt.keep) opt.keep = 5;
    if (opt.max_ratio <= 0) opt.max_ratio = 0.7;
    if (!opt.expires_days) opt.expires_days = PKG_DEFAULT_EXPIRES_DAYS;
    if (rep) memset(rep, 0, sizeof *rep);
    if (!store || !input || !opt.label || !*opt.label)
        return pkg_fail(ctx, PKG_E_MISUSE, "a release needs a store, an input and a label");
    if (!pkg_valid_app(app))
        return pkg_fail(ctx, PKG_E_MISUSE, "invalid app name '%s': use letters, digits, '-', '_' and '.'",
                        app ? app : "");
    if (strlen(opt.label) > 60) return pkg_fail(ctx, PKG_E_MISUSE, "the label is longer than 60 characters");

    char *appdir = pkg_join(store, app);
    if (!appdir) return pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    pkg_index ix;
    int exists;
    unsigned char *bundle = NULL;
    size_t blen = 0;
    pkg_bundle_info info;
    job *jobs = NULL;
    size_t njobs = 0;
    pkg_error e = pkg_index_load(ctx, appdir, app, &ix, &exists);
    if (e) {
        free(appdir);
        return e;
    }
    say(&opt, "packing %s", input);
    e = pkg_pack_memory(ctx, input, &bundle, &blen, &info);
    /* The same release again (label, content and options): an earlier run got as far as the
     * index and was interrupted during clean-up, or is simply repeated. Finish the clean-up. */
    long same = e ? -1 : pkg_find_id(&ix, info.id);
    if (same >= 0) {
        pkg_rel *r = &ix.rel[same];
        if (strcmp(r->label, opt.label) || strcmp(r->min_native, opt.min_native) ||
            strcmp(r->message, opt.message) || r->mandatory != (opt.mandatory != 0) ||
            r->pinned != (opt.pin != 0) || !r->retained)
            same = -1;
    }
    if (same >= 0) {
        say(&opt, "release %s is already in the store with this content and these options", opt.label);
        /* an earlier run may have been stopped between the index and its signature */
        if (opt.sign_key) e = pkg_ensure_signed(ctx, appdir, opt.sign_key);
        uint64_t removed = remove_unreferenced(appdir, &ix);
        if (removed) say(&opt, "removed %llu file%s no retained release needs", (unsigned long long)removed,
                         removed > 1 ? "s" : "");
        pkg_rel *r = &ix.rel[same];
        if (rep) {
            rep->bundle = info;
            rep->removed_files = removed;
            rep->patches = calloc(r->npatches + 1, sizeof *rep->patches);
            for (size_t k = 0; rep->patches && k < r->npatches; k++) {
                pkg_patch_result *pr = &rep->patches[rep->npatches++];
                long f = pkg_find_id(&ix, r->patches[k].from);
                snprintf(pr->from_label, sizeof pr->from_label, "%s", f >= 0 ? ix.rel[f].label : "?");
                memcpy(pr->from_id, r->patches[k].from, 65);
                pr->patch_size = r->patches[k].size;
                pr->full_size = r->size;
                pr->kept = 1;
            }
        }
        free(bundle);
        pkg_index_free(&ix);
        free(appdir);
        return e;
    }
    for (size_t i = 0; !e && i < ix.nrel; i++) {
        if (!strcmp(ix.rel[i].label, opt.label))
            e = pkg_fail(ctx, PKG_E_EXISTS, "label %s is already released (bundle %.12s); choose a new label",
                         opt.label, ix.rel[i].id);
        else if (!strcmp(ix.rel[i].id, info.id))
            e = pkg_fail(ctx, PKG_E_EXISTS, "this content is already released as %s (bundle %.12s)",
                         ix.rel[i].label, info.id);
    }
    char *sub1 = pkg_join(appdir, "bundles"), *sub2 = pkg_join(appdir, "patches");
    if (!e && (!sub1 || !sub2)) e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
    if (!e) e = pkg_mkdirs(ctx, sub1);
    if (!e) e = pkg_mkdirs(ctx, sub2);
    free(sub1);
    free(sub2);

    /* 1. the bundle (immutable, content-addressed) */
    if (!e) {
        char name[200];
        pkg_bundle_name(info.id, name);
        char *bpath = pkg_join(appdir, name);
        say(&opt, "storing bundle %.12s (%zu bytes, %llu files)", info.id, blen, (unsigned long long)info.files);
        e = bpath ? pkg_write_file_atomic(ctx, bpath, bundle, blen) : pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
        free(bpath);
    }

    /* 2. retained releases: the last `keep` with a bundle, plus every pinned one */
    if (!e) {
        jobs = calloc(ix.nrel + 1, sizeof *jobs);
        if (!jobs) e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
        size_t seen = 0;
        for (size_t k = ix.nrel; !e && k-- > 0;) {
            pkg_rel *r = &ix.rel[k];
            if (!r->retained) continue;
            /* the new release takes one of the `keep` places, unless it is pinned itself */
            int keep_it = r->pinned || seen < opt.keep - (opt.pin ? 0 : 1);
            if (!r->pinned) seen++;
            if (!keep_it) continue;
            job *j = &jobs[njobs++];
            j->appdir = appdir;
            j->from = r;
            j->newdata = bundle;
            j->newlen = blen;
            j->new_id = info.id;
            j->max_ratio = opt.max_ratio;
            j->zstd = opt.zstd;
        }
    }

    /* 3. diffs in parallel: one job per worker. The cores are shared out by waves: the jobs
     * that run nw at a time get cores / nw threads each (more would only add the two-thread
     * sort's merge and switching to the same busy cores), and the last jobs of an uneven split
     * (5 jobs on 2 cores) the cores the others leave idle. The thread count changes no patch
     * byte. */
    if (!e && njobs) {
        unsigned cores = opt.threads;
        if (!cores) {
            long n = sysconf(_SC_NPROCESSORS_ONLN);
            cores = n > 0 ? (unsigned)n : 1;
        }
        size_t nw = cores < njobs ? cores : njobs;
        if (nw > 64) nw = 64; /* worker threads started below */
        size_t tail = njobs % nw; /* jobs of the last, partial wave */
        for (size_t i = 0; i < njobs; i++) {
            size_t together = i < njobs - tail ? nw : tail;
            jobs[i].threads = cores / together > 0 ? (unsigned)(cores / together) : 1;
        }
        say(&opt, "diffing from %zu retained release%s with %zu worker%s", njobs, njobs > 1 ? "s" : "", nw,
            nw > 1 ? "s" : "");
        pool p = {jobs, njobs, 0, PTHREAD_MUTEX_INITIALIZER};
        pthread_t th[64];
        size_t started = 0;
        for (; started + 1 < nw; started++)
            if (pthread_create(&th[started], NULL, worker, &p) != 0) break;
        worker(&p);
        for (size_t i = 0; i < started; i++) pthread_join(th[i], NULL);
        for (size_t i = 0; i < njobs && !e; i++) {
            if (jobs[i].err) {
                e = jobs[i].err;
                memcpy(ctx->detail, jobs[i].detail, sizeof ctx->detail);
            } else {
                say(&opt, "patch from %s: %llu bytes (%.1f%% of full) in %.2f s%s", jobs[i].res.from_label,
                    (unsigned long long)jobs[i].res.patch_size,
                    100.0 * (double)jobs[i].res.patch_size / (double)(blen ? blen : 1), jobs[i].res.seconds,
                    jobs[i].res.kept ? "" : " - not kept: too large");
            }
        }
    }

    /* 4. the index: new release, retention, patches leading to every target */
    if (!e) {
        pkg_rel *grown = realloc(ix.rel, (ix.nrel + 1) * sizeof *ix.rel);
        if (!grown) e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
        else ix.rel = grown;
    }
    if (!e) {
        pkg_rel *r = &ix.rel[ix.nrel];
        memset(r, 0, sizeof *r);
        r->label = strdup(opt.label);
        r->min_native = strdup(opt.min_native);
        r->message = strdup(opt.message);
        r->patches = calloc(njobs + 1, sizeof *r->patches);
        ix.nrel++;
        if (!r->label || !r->min_native || !r->message || !r->patches)
            e = pkg_fail(ctx, PKG_E_NOMEM, "out of memory");
        if (!e) {
            memcpy(r->id, info.id, 65);
            r->size = blen;
            r->mandatory = opt.mandatory != 0;
            r->pinned = opt.pin != 0;
            r->retained = 1;
            int64_t created = opt.created;
            const char *sde = getenv("SOURCE_DATE_EPOCH");
            if (!created && sde && *sde) created = strtoll(sde, NULL, 10);
            if (!created) created = (int64_t)time(NULL);
            r->created = created;
            for (size_t i = 0; i < njobs; i++)
                if (jobs[i].res.kept) r->patches[r->npatches++] = jobs[i].ref;
            /* a release keeps its bundle while it is among the last `keep` or pinned */
            size_t seen = 0;
            for (size_t k = ix.nrel; k-- > 0;) {
                pkg_rel *x = &ix.rel[k];
                if (!x->pinned && seen++ >= opt.keep) x->retained = 0;
            }
            /* patches lead only to targets, and only from releases still retained */
            for (size_t k = 0; k < ix.nrel; k++) {
                pkg_rel *x = &ix.rel[k];
                if (!is_target(&ix, k) || !x->retained) x->npatches = 0;
                size_t w = 0;
                for (size_t q = 0; q < x->npatches; q++) {
                    long f = pkg_find_id(&ix, x->patches[q].from);
                    if (f >= 0 && ix.rel[f].retained) x->patches[w++] = x->patches[q];
                }
                x->npatches = w;
            }
            ix.version++;
            ix.expires = created + (int64_t)opt.expires_days * 86400;
            say(&opt, "writing index version %llu%s", (unsigned long long)ix.version,
                opt.sign_key ? " and its signature" : "");
            e = pkg_index_save(ctx, appdir, &ix, opt.sign_key);
        }
    }

    /* 5. clean-up: only after the index no longer references the files */
    if (!e) {
        uint64_t removed = remove_unreferenced(appdir, &ix);
        if (removed) say(&opt, "removed %llu file%s no retained release needs", (unsigned long long)removed,
                         removed > 1 ? "s" : "");
        if (rep) {
            rep->bundle = info;
            rep->removed_files = removed;
            rep->patches = calloc(njobs + 1, sizeof *rep->patches);
            if (rep->patches) {
                for (size_t i = 0; i < njobs; i++) rep->patches[i] = jobs[i].res;
                rep->npatches = njobs;
            }
        }
    }
    free(jobs);
    free(bundle);
    pkg_index_free(&ix);
    free(appdir);
    return e;
}
