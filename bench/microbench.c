/* bsdelta-microbench: in-process timings of the diff stages (hash/pre-match, suffix sort,
 * scan+match, compress) through bsdiff.h's statistics, and of apply through bspatch.h with
 * memory I/O, printed as MB/s. No process start-up, no file I/O: the cost of the code alone.
 *
 * Built without the bsdiff library (it is optional in the tree), it times apply only, on the
 * patch files given on the command line. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bspatch.h"
#ifdef BSDELTA_MICROBENCH_DIFF
#include "bsdiff.h"
#endif

#define MAX_RUNS 101

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double mbps(uint64_t bytes, double seconds)
{
    return seconds > 0 ? (double)bytes / 1e6 / seconds : 0;
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return NULL;
    }
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                fprintf(stderr, "%s: out of memory\n", path);
                free(buf);
                fclose(fp);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        perror(path);
        free(buf);
        return NULL;
    }
    *size = len;
    return buf;
}

/* One result line: machine-readable (tab-separated) for bench/harness.py, readable as is. */
static void report(const char *what, uint64_t bytes, double seconds)
{
    printf("%-28s\t%10.1f MB/s\t%10.6f s\t%12llu bytes\n", what, mbps(bytes, seconds), seconds,
           (unsigned long long)bytes);
}

/* Applies patch to old in memory `runs` times; returns 0 when every output equals want. */
static int bench_apply(const char *label, const unsigned char *old, size_t old_size,
                       const unsigned char *patch, size_t patch_size, const unsigned char *want,
                       size_t want_size, int runs)
{
    unsigned char *out = malloc(want_size ? want_size : 1);
    bsp_ctx *ctx = bsp_create();
    if (!out || !ctx) {
        fprintf(stderr, "%s: out of memory\n", label);
        free(out);
        bsp_free(ctx);
        return 1;
    }
    double t[MAX_RUNS];
    int rc = 0;
    for (int r = 0; r < runs && rc == 0; r++) {
        bsp_source src, psrc;
        bsp_memsource srcst, pst;
        bsp_sink sink;
        bsp_memsink sinkst = {out, want_size, 0};
        bsp_source_from_memory(&src, &srcst, old, old_size);
        bsp_source_from_memory(&psrc, &pst, patch, patch_size);
        bsp_sink_to_memory(&sink, &sinkst);
        double t0 = now();
        bsp_error e = bsp_apply(ctx, &src, &psrc, &sink);
        t[r] = now() - t0;
        if (e != BSP_OK) {
            fprintf(stderr, "%s: apply failed: %s (%s)\n", label, bsp_strerror(e), bsp_detail(ctx));
            rc = 1;
        } else if (sinkst.len != want_size || memcmp(out, want, want_size) != 0) {
            fprintf(stderr, "%s: apply produced a wrong result\n", label);
            rc = 1;
        }
    }
    if (rc == 0)
        report(label, want_size, median(t, runs));
    bsp_free(ctx);
    free(out);
    return rc;
}

#ifdef BSDELTA_MICROBENCH_DIFF
typedef struct membuf {
    unsigned char *data;
    size_t len, cap;
} membuf;

static int membuf_write(void *opaque, const void *buf, size_t len)
{
    membuf *m = opaque;
    if (m->cap - m->len < len) {
        size_t cap = m->cap ? m->cap : 1 << 16;
        while (cap - m->len < len)
            cap *= 2;
        unsigned char *nd = realloc(m->data, cap);
        if (!nd)
            return 1;
        m->data = nd;
        m->cap = cap;
    }
    memcpy(m->data + m->len, buf, len);
    m->len += len;
    return 0;
}

/* Diffs old -> new in one format `runs` times (a fresh prepared old each run, so the sort is
 * timed every time); reports each stage's median and leaves the last patch in *patch. */
static int bench_diff(bsd_format fmt, unsigned threads, const unsigned char *old, size_t old_size,
                      const unsigned char *new_data, size_t new_size, int runs, membuf *patch)
{
    const char *fname = fmt == BSD_FORMAT_BSDELTA ? "bsdelta" : "bsdiff40";
    bsd_ctx *ctx = bsd_create();
    if (!ctx) {
        fprintf(stderr, "diff %s: out of memory\n", fname);
        return 1;
    }
    bsd_options opt;
    bsd_options_init(&opt);
    opt.format = fmt;
    opt.threads = threads;
    bsd_error e = bsd_set_options(ctx, &opt);
    double th[MAX_RUNS], ts[MAX_RUNS], tm[MAX_RUNS], tc[MAX_RUNS], tt[MAX_RUNS];
    bsd_stats st;
    memset(&st, 0, sizeof st);
    int fast_path = 0;
    for (int r = 0; r < runs && e == BSD_OK; r++) {
        bsd_old *po = NULL;
        patch->len = 0;
        bsd_sink sink = {patch, membuf_write};
        double t0 = now();
        e = bsd_prepare_old(ctx, old, old_size, &po);
        if (e == BSD_OK)
            e = bsd_diff(ctx, po, new_data, new_size, &sink);
        tt[r] = now() - t0;
        bsd_old_free(po);
        if (e != BSD_OK)
            break;
        bsd_get_stats(ctx, &st);
        th[r] = st.hash_seconds;
        ts[r] = st.sort_seconds;
        tm[r] = st.scan_seconds;
        tc[r] = st.compress_seconds;
        fast_path = st.fast_path;
    }
    if (e != BSD_OK) {
        fprintf(stderr, "diff %s: %s (%s)\n", fname, bsd_strerror(e), bsd_detail(ctx));
        bsd_free(ctx);
        return 1;
    }
    char label[64];
    snprintf(label, sizeof label, "diff.%s.hash", fname);
    report(label, old_size + new_size, median(th, runs));
    snprintf(label, sizeof label, "diff.%s.sort", fname);
    report(label, fast_path ? 0 : old_size, median(ts, runs));
    snprintf(label, sizeof label, "diff.%s.scan", fname);
    report(label, new_size, median(tm, runs));
    snprintf(label, sizeof label, "diff.%s.compress", fname);
    report(label, new_size, median(tc, runs));
    snprintf(label, sizeof label, "diff.%s.total", fname);
    report(label, new_size, median(tt, runs));
    printf("%-28s\t%llu bytes, %llu commands, diff %llu, extra %llu, fast path %s\n", "diff.stats",
           (unsigned long long)st.patch_size, (unsigned long long)st.commands,
           (unsigned long long)st.diff_bytes, (unsigned long long)st.extra_bytes,
           fast_path ? "yes" : "no");
    bsd_free(ctx);
    return 0;
}
#endif

int main(int argc, char **argv)
{
    int runs = 3;
    unsigned threads = 0;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "-j") == 0 && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else
            break;
    }
    if (argc - i < 2 || runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr,
                "usage: bsdelta-microbench [-r RUNS] [-j THREADS] OLD NEW [PATCH...]\n"
                "Times, in memory, each diff stage in both formats (when built with the bsdiff\n"
                "library) and apply of those patches and of every PATCH given; prints MB/s,\n"
                "the median of RUNS runs (default 3, at most %d). Exit 1 on any failure.\n",
                MAX_RUNS);
        return 2;
    }
    size_t old_size = 0, new_size = 0;
    unsigned char *old = read_file(argv[i], &old_size);
    unsigned char *new_data = old ? read_file(argv[i + 1], &new_size) : NULL;
    if (!new_data) {
        free(old);
        return 1;
    }
    printf("# old %zu bytes, new %zu bytes, %d runs (median)\n", old_size, new_size, runs);
    int rc = 0;
#ifdef BSDELTA_MICROBENCH_DIFF
    const bsd_format fmts[2] = {BSD_FORMAT_BSDELTA, BSD_FORMAT_BSDIFF40};
    for (int f = 0; f < 2; f++) {
        membuf patch = {NULL, 0, 0};
        if (bench_diff(fmts[f], threads, old, old_size, new_data, new_size, runs, &patch) != 0) {
            rc = 1;
        } else {
            const char *label =
                fmts[f] == BSD_FORMAT_BSDELTA ? "apply.bsdelta" : "apply.bsdiff40";
            rc |= bench_apply(label, old, old_size, patch.data, patch.len, new_data, new_size,
                              runs);
        }
        free(patch.data);
    }
#else
    (void)threads;
    printf("# built without the bsdiff library: apply only\n");
#endif
    for (int p = i + 2; p < argc; p++) {
        size_t psize = 0;
        unsigned char *pd = read_file(argv[p], &psize);
        if (!pd) {
            rc = 1;
            continue;
        }
        char label[64];
        snprintf(label, sizeof label, "apply.file%d", p - i - 1);
        rc |= bench_apply(label, old, old_size, pd, psize, new_data, new_size, runs);
        free(pd);
    }
    free(old);
    free(new_data);
    return rc;
}
