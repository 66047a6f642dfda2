/* bsd_diff.c - the public API: contexts, options, prepared olds, and the diff driver that runs
 * the matcher over fixed chunks of new on worker threads and feeds the writer in order. */
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "bsd_pbz.h"
#include "bsdelta_deflate.h"
#include "bsdelta_format.h"

/* The scan splits new into chunks of this size. It is a constant (not derived from the thread
 * count), so the segments, and hence the patch, are the same for every number of threads. */
#define CHUNK ((int64_t)1 << 20)

/* Tuning of the matcher per format (see bsd_match.c): BSDIFF40 pays 24 raw bytes per command,
 * BSDELTA 3-6, so BSDELTA can afford more, shorter alignments. */
#define GAIN_BSDIFF40 8
#define GAIN_BSDELTA 8
#define MERGE_GAP_BSDIFF40 32
#define MERGE_GAP_BSDELTA 8
/* How close (percent) the two matchers' estimates must be for a trial compression of both to
 * decide. The estimate can be far off for binaries (libvips chunk 11: about even by estimate,
 * the classic scan's segments 23% smaller compressed), so BSDIFF40, whose size against
 * bsdiff 4.3 is the goal, looks wider: biome 1.9.3 -> 1.9.4 26 KB smaller for 3 more trials
 * (0.14 s of CPU). BSDELTA keeps the narrow window: it is the default, and its time is the
 * goal there. */
#define REAL_CLOSE_BSDIFF40 15
#define REAL_CLOSE_BSDELTA 5

struct bsd_ctx {
    bsd_options opt;
    char detail[512];
    bsd_stats stats;
};

double bsd_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bsd_error fail(bsd_ctx *ctx, bsd_error e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->detail, sizeof ctx->detail, fmt, ap);
    va_end(ap);
    return e;
}

const char *bsd_strerror(bsd_error err) {
    switch (err) {
    case BSD_OK: return "success";
    case BSD_E_MISUSE: return "invalid argument or call out of order";
    case BSD_E_NOMEM: return "out of memory";
    case BSD_E_LIMIT: return "memory cap or size limit exceeded";
    case BSD_E_UNSUPPORTED: return "option not supported";
    case BSD_E_WRITE: return "writing the patch failed";
    case BSD_E_COMPRESS: return "compressor error";
    case BSD_E_CANCELLED: return "cancelled";
    case BSD_E_THREAD: return "cannot start worker threads";
    case BSD_E_IO: return "temporary file error";
    }
    return "unknown error";
}

void bsd_options_init(bsd_options *opt) {
    memset(opt, 0, sizeof(*opt));
    opt->format = BSD_FORMAT_BSDELTA;
    opt->compressor = BSD_COMP_BZIP2;
}

int bsd_have_zstd(void) { return 1; /* libzstd is a build requirement */ }

bsd_ctx *bsd_create(void) {
    bsd_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx) bsd_options_init(&ctx->opt);
    return ctx;
}

void bsd_free(bsd_ctx *ctx) { free(ctx); }

const char *bsd_detail(const bsd_ctx *ctx) { return ctx ? ctx->detail : ""; }

void bsd_get_stats(const bsd_ctx *ctx, bsd_stats *st) { *st = ctx->stats; }

bsd_error bsd_set_options(bsd_ctx *ctx, const bsd_options *opt) {
    if (!ctx || !opt) return BSD_E_MISUSE;
    ctx->detail[0] = 0;
    if (opt->format != BSD_FORMAT_BSDELTA && opt->format != BSD_FORMAT_BSDIFF40)
        return fail(ctx, BSD_E_MISUSE, "unknown format %d", (int)opt->format);
    if (opt->compressor != BSD_COMP_NONE && opt->compressor != BSD_COMP_BZIP2 &&
        opt->compressor != BSD_COMP_ZSTD)
        return fail(ctx, BSD_E_MISUSE, "unknown compressor %d", (int)opt->compressor);
    if (opt->deflate != BSD_DEFLATE_AUTO && opt->deflate != BSD_DEFLATE_OFF)
        return fail(ctx, BSD_E_MISUSE, "unknown deflate mode %d", (int)opt->deflate);
    if (opt->bz_effort != BSD_BZ_AUTO && opt->bz_effort != BSD_BZ_FAST &&
        opt->bz_effort != BSD_BZ_SEARCH)
        return fail(ctx, BSD_E_MISUSE, "unknown bzip2 effort %d", (int)opt->bz_effort);
    if (opt->format == BSD_FORMAT_BSDIFF40 && opt->compressor != BSD_COMP_BZIP2)
        return fail(ctx, BSD_E_UNSUPPORTED, "BSDIFF40 patches are always bzip2-compressed");
    if (opt->compressor == BSD_COMP_ZSTD && !bsd_have_zstd())
        return fail(ctx, BSD_E_UNSUPPORTED, "this build has no zstd support");
    int maxlvl = opt->compressor == BSD_COMP_ZSTD ? 22 : opt->compressor == BSD_COMP_BZIP2 ? 9 : 0;
    if (opt->level < 0 || opt->level > maxlvl)
        return fail(ctx, BSD_E_MISUSE, "level %d out of range (0 = default, 1..%d)", opt->level,
                    maxlvl);
    ctx->opt = *opt;
    return BSD_OK;
}

static unsigned eff_threads(const bsd_ctx *ctx) {
    unsigned t = ctx->opt.threads;
    if (!t) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        t = n > 0 ? (unsigned)n : 1;
    }
    return t > 64 ? 64 : t;
}

static int eff_level(const bsd_ctx *ctx) {
    if (ctx->opt.level) return ctx->opt.level;
    return ctx->opt.compressor == BSD_COMP_ZSTD ? 19 : 9;
}

static int progress(bsd_ctx *ctx, bsd_stage st, uint64_t done, uint64_t total) {
    return ctx->opt.progress && ctx->opt.progress(ctx->opt.progress_opaque, st, done, total);
}

/* ---------------- prepared old ---------------- */

bsd_error bsd_prepare_old(bsd_ctx *ctx, const void *old, size_t old_size, bsd_old **out) {
    if (!ctx || !out || (!old && old_size)) return BSD_E_MISUSE;
    *out = NULL;
    ctx->detail[0] = 0;
    if ((uint64_t)old_size > BSDL_MAX_FILE_SIZE)
        return fail(ctx, BSD_E_LIMIT, "old file of %zu bytes exceeds the format's 2^62", old_size);
    uint64_t need = (uint64_t)old_size + bsd_blockindex_bytes((int64_t)old_size);
    if (ctx->opt.mem_limit && need > ctx->opt.mem_limit)
        return fail(ctx, BSD_E_LIMIT,
                    "preparing the old file needs about %llu bytes, above the cap of %llu",
                    (unsigned long long)need, (unsigned long long)ctx->opt.mem_limit);
    bsd_old *o = calloc(1, sizeof(*o));
    if (!o) return fail(ctx, BSD_E_NOMEM, "out of memory");
    o->data = old_size ? old : (const unsigned char *)"";
    o->size = (int64_t)old_size;
    pthread_mutex_init(&o->lock, NULL);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(o->data, old_size));
    memcpy(o->hash, c.digest, 16);
    if (bsd_blockindex_build(o)) {
        bsd_old_free(o);
        return fail(ctx, BSD_E_NOMEM, "out of memory for the block index");
    }
    *out = o;
    return BSD_OK;
}

void bsd_old_free(bsd_old *o) {
    if (!o) return;
    pthread_mutex_destroy(&o->lock);
    free(o->blk_table);
    bsd_sa_free(&o->full);
    free(o);
}

/* Margin left under the peak bound for the allocator and thread stacks when the suffix sort
 * sizes its temporary memory. */
#define SORT_MARGIN ((uint64_t)8 << 20)

/* Memory the suffix sort of an n-byte text may take beyond the index (bsd_sa_build's room):
 * what the peak bound (and --mem-limit) leaves while only held bytes and the index are in
 * memory - the sort comes before the scan's buffers and the writer exist. */
static uint64_t sort_room(const bsd_ctx *ctx, uint64_t bound, uint64_t held, int64_t n) {
    if (ctx->opt.mem_limit && ctx->opt.mem_limit < bound) bound = ctx->opt.mem_limit;
    uint64_t need = held + bsd_sa_core_bytes(n) + SORT_MARGIN;
    return bound > need ? bound - need : 0;
}

/* Builds the suffix array if needed; mem_other = bytes the caller holds besides old and the
 * index (for the cap check); sort_held = those of them already held during the sort, bound =
 * the peak bound (for the sort's temporary memory). */
static bsd_error ensure_index(bsd_ctx *ctx, bsd_old *o, uint64_t mem_other, unsigned bloom_cap,
                              uint64_t sub_max, uint64_t sort_held, uint64_t bound) {
    bsd_error e = BSD_OK;
    pthread_mutex_lock(&o->lock);
    if (!o->index_built) {
        uint64_t need = mem_other + (uint64_t)o->size + bsd_blockindex_bytes(o->size) +
                        bsd_sa_bytes(o->size, bloom_cap);
        if (ctx->opt.mem_limit && need > ctx->opt.mem_limit) {
            e = fail(ctx, BSD_E_LIMIT,
                     "the suffix array of a %lld-byte old file needs an estimated peak of %llu "
                     "bytes, above the cap of %llu",
                     (long long)o->size, (unsigned long long)need,
                     (unsigned long long)ctx->opt.mem_limit);
        } else if (progress(ctx, BSD_STAGE_SORT, 0, 1)) {
            e = fail(ctx, BSD_E_CANCELLED, "cancelled by the progress callback");
        } else {
            double t0 = bsd_now();
            char err[256] = "";
            uint64_t held = sort_held + (uint64_t)o->size +
                            (o->blk_table ? bsd_blockindex_bytes(o->size) : 0);
            int rc = bsd_sa_build(&o->full, o->data, o->size, bloom_cap, sub_max, eff_threads(ctx),
                                  sort_room(ctx, bound, held, o->size), err, sizeof err);
            if (rc) {
                e = rc == -1 ? fail(ctx, BSD_E_NOMEM, "out of memory for the suffix array")
                             : fail(ctx, BSD_E_NOMEM, "%s", err);
            } else {
                o->index_built = 1;
                o->sort_seconds = bsd_now() - t0;
                ctx->stats.sort_seconds = o->sort_seconds;
                if (progress(ctx, BSD_STAGE_SORT, 1, 1))
                    e = fail(ctx, BSD_E_CANCELLED, "cancelled by the progress callback");
            }
        }
    }
    pthread_mutex_unlock(&o->lock);
    return e;
}

bsd_error bsd_old_build_index(bsd_ctx *ctx, bsd_old *o) {
    if (!ctx || !o) return BSD_E_MISUSE;
    ctx->detail[0] = 0;
    return ensure_index(ctx, o, 0, bsd_bloom_cap(o->size, 0), 0, 0,
                        5 * (uint64_t)o->size + ((uint64_t)64 << 20));
}

typedef struct membuf {
    unsigned char *p;
    size_t len, cap;
} membuf;

static int mem_write(void *opaque, const void *buf, size_t len) {
    membuf *b = opaque;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, buf, len);
    b->len += len;
    return 0;
}

/* Writes a whole patch made of segs into b (the single-chunk path, which compares two). */
static bsd_error write_to_mem(const bsd_write_cfg *wc0, const bsd_seglist *segs, membuf *b,
                              bsd_stats *st, char *err, size_t errlen) {
    bsd_write_cfg wc = *wc0;
    bsd_sink sk = {b, mem_write};
    wc.sink = &sk;
    bsd_writer *w = NULL;
    bsd_error e = bsd_writer_open(&w, &wc, err, errlen);
    if (!e) e = bsd_writer_segments(w, segs->v, segs->n, err, errlen);
    if (!e) e = bsd_writer_finish(w, err, errlen);
    if (!e) {
        double csec;
        bsd_writer_stats(w, &st->patch_size, &st->commands, &st->diff_bytes, &st->extra_bytes,
                         &csec);
        st->compress_seconds = csec;
    }
    bsd_writer_free(w);
    return e;
}

/* When new is one chunk, both matchers' results are written out in full and the smaller patch
 * is kept: the estimate that picks between them per chunk is least reliable on small and
 * near-identical inputs, where the compressor's fixed costs dominate, and writing twice is
 * cheap there. */
static bsd_error diff_small(bsd_ctx *ctx, const bsd_finder *fd, const unsigned char *nw,
                            int64_t m, const bsd_scan_params *prm, const bsd_write_cfg *wc,
                            char *err, size_t errlen) {
    bsd_seglist a = {0}, b = {0};
    membuf pa = {0}, pb = {0};
    bsd_stats sa = ctx->stats, sb = ctx->stats;
    bsd_error e = BSD_OK;
    double t0 = bsd_now();
    if (bsd_scan_both(fd, nw, 0, m, prm, &a, &b)) {
        e = BSD_E_NOMEM;
        snprintf(err, errlen, "out of memory in the matcher");
        goto out;
    }
    double t1 = bsd_now();
    ctx->stats.scan_seconds = t1 - t0;
    e = write_to_mem(wc, &a, &pa, &sa, err, errlen);
    if (!e && (a.n != b.n || (a.n && memcmp(a.v, b.v, a.n * sizeof *a.v))))
        e = write_to_mem(wc, &b, &pb, &sb, err, errlen);
    if (e) goto out;
    membuf *win = &pa;
    if (pb.p && pb.len < pa.len) {
        win = &pb;
        sa = sb;
    }
    ctx->stats.patch_size = sa.patch_size;
    ctx->stats.commands = sa.commands;
    ctx->stats.diff_bytes = sa.diff_bytes;
    ctx->stats.extra_bytes = sa.extra_bytes;
    if (win->len && wc->sink->write(wc->sink->opaque, win->p, win->len)) {
        e = BSD_E_WRITE;
        snprintf(err, errlen, "the output callback failed");
    }
    ctx->stats.compress_seconds = bsd_now() - t1;
out:
    bsd_seglist_free(&a);
    bsd_seglist_free(&b);
    free(pa.p);
    free(pb.p);
    return e;
}

/* ---------------- diff ---------------- */

typedef struct chunk_job {
    bsd_job job;
    const bsd_finder *f;
    const unsigned char *nw;
    int64_t cs, ce;
    bsd_scan_params prm;
    bsd_seglist segs;
    int err;
} chunk_job;

static void chunk_run(void *arg) {
    chunk_job *c = arg;
    c->err = bsd_scan_best(c->f, c->nw, c->cs, c->ce, &c->prm, &c->segs);
}

/* Below this size the suffix array of all of old costs little (well under 0.3 s) and finds
 * matches the restricted one cannot: always build it. */
#define SMALL_OLD ((int64_t)4 << 20)

/* Memory for settling a close choice by compression: a level-9 bzip2 compressor and the
 * chunk's streams. */
#define REAL_COST_MEM ((uint64_t)16 << 20)

/* The gap matcher replaces the suffix array when at most 1/GAP_MAX_SHARE of new (and at most
 * GAP_MAX_COUNT positions) lies outside the anchors; its memory is then well below the
 * suffix array's. */
#define GAP_MAX_COUNT ((int64_t)1 << 22)
#define GAP_MAX_SHARE 16

static int cmp_range(const void *a, const void *b) {
    const int64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Sorts n (begin, end) pairs by begin, begin in [0, max]: a radix sort, 11 bits a pass (a
 * qsort of typescript's 92,000 anchors took 9 ms, all of it while the other thread waits).
 * The order of equal begins is of no concern to the caller. */
#define RANGE_BITS 11
static void sort_ranges(int64_t *r, size_t n, int64_t max) {
    int64_t *t = n > 64 ? malloc(n * 2 * sizeof(int64_t)) : NULL;
    if (!t) {
        qsort(r, n, 2 * sizeof(int64_t), cmp_range);
        return;
    }
    int64_t *src = r, *dst = t;
    for (unsigned sh = 0; sh < 63 && (uint64_t)max >> sh; sh += RANGE_BITS) {
        size_t cnt[1u << RANGE_BITS] = {0};
        for (size_t i = 0; i < n; i++) cnt[(uint64_t)src[2 * i] >> sh & ((1u << RANGE_BITS) - 1)]++;
        for (size_t d = 0, at = 0; d < (1u << RANGE_BITS); d++) {
            size_t c = cnt[d];
            cnt[d] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t k = cnt[(uint64_t)src[2 * i] >> sh & ((1u << RANGE_BITS) - 1)]++;
            dst[2 * k] = src[2 * i];
            dst[2 * k + 1] = src[2 * i + 1];
        }
        int64_t *x = src;
        src = dst;
        dst = x;
    }
    if (src != r) memcpy(r, src, n * 2 * sizeof(int64_t));
    free(t);
}

/* Uncovered parts of old that repeat one another are sorted once. Archives of web bundles hold
 * the same sources several times (bootstrap's zip: in six .js.map and six .css.map files); the
 * anchors take new's copies to some of old's, and old's other copies are left uncovered: 2.1 of
 * bootstrap 5.3.2's 9.7 MB. Parts of DEDUPE_MIN bytes or more are cut into content-defined
 * chunks (a boundary where a rolling hash of the last bytes has its low bits zero, DEDUPE_MASK
 * + 1 bytes apart on average, at least DEDUPE_CHUNK_MIN), and a chunk whose bytes an earlier
 * chunk holds is left out: equal content gets the same boundaries, so its longest matches stay
 * in the index at the first copy. On that zip: 0.93 MB left out, the sort 0.057 -> 0.028 s,
 * patches 29,241 -> 29,237 (BSDELTA) and 29,104 -> 29,083 bytes (BSDIFF40). A chunk is known by
 * a 64-bit hash: two chunks that share one only lose matches, the patch stays right. */
#define DEDUPE_MIN 1024
#define DEDUPE_CHUNK_MIN 256
#define DEDUPE_MASK 511

/* The slot of a non-zero 64-bit key in an open-addressed table of cap (a power of two)
 * entries: where it is, or the empty entry where it goes. */
static size_t key_slot(const uint64_t *t, size_t cap, uint64_t key) {
    size_t slot = (size_t)(key >> 20) & (cap - 1);
    while (t[slot] && t[slot] != key) slot = (slot + 1) & (cap - 1);
    return slot;
}

/* Random 64-bit values for the bytes of a gear hash, from a fixed xorshift seed: the same on
 * every machine, so the cuts and samples made with them are too. */
static void gear_table(uint64_t gear[256], uint64_t x) {
    for (int k = 0; k < 256; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        gear[k] = x;
    }
}

int64_t *bsd_dedupe_parts(const unsigned char *d, const int64_t *r, int64_t nr, int64_t *n_out,
                          int64_t *bytes) {
    int64_t chunks = 0;
    for (int64_t i = 0; i < nr; i++)
        if (r[2 * i + 1] >= DEDUPE_MIN) chunks += r[2 * i + 1] / DEDUPE_CHUNK_MIN + 1;
    if (!chunks) return NULL;
    size_t cap = 1024;
    while (cap < (size_t)chunks * 2) cap *= 2;
    uint64_t *seen = calloc(cap, sizeof(uint64_t));
    /* parts out: at most one more per chunk left out */
    int64_t *out = malloc((size_t)(nr + chunks) * 2 * sizeof(int64_t));
    if (!seen || !out) {
        free(seen);
        free(out);
        return NULL;
    }
    uint64_t gear[256];
    gear_table(gear, 0x9E3779B97F4A7C15ull);
    int64_t n = 0, total = 0;
    for (int64_t i = 0; i < nr; i++) {
        int64_t b = r[2 * i], e = b + r[2 * i + 1];
        if (e - b < DEDUPE_MIN) {
            out[2 * n] = b;
            out[2 * n + 1] = e - b;
            n++;
            total += e - b;
            continue;
        }
        uint64_t g = 0;
        for (int64_t cs = b, q = b; q < e; q++) {
            g = (g << 1) + gear[d[q]];
            if (q + 1 < e && (q + 1 - cs < DEDUPE_CHUNK_MIN || (g & DEDUPE_MASK) != 0)) continue;
            int64_t len = q + 1 - cs;
            uint64_t h = XXH3_64bits(d + cs, (size_t)len) | 1;
            size_t slot = key_slot(seen, cap, h);
            if (!seen[slot]) { /* new content: kept, joined to the part before when adjacent */
                seen[slot] = h;
                if (n && out[2 * (n - 1)] + out[2 * (n - 1) + 1] == cs) {
                    out[2 * (n - 1) + 1] += len;
                } else {
                    out[2 * n] = cs;
                    out[2 * n + 1] = len;
                    n++;
                }
                total += len;
            }
            cs = q + 1;
        }
    }
    free(seen);
    *n_out = n;
    *bytes = total;
    return out;
}


/* Near-identical inputs: when anchors leave at most 1/NEAR_SHARE of new uncovered, those few
 * bytes are all the scan still has to place, and most of old's uncovered text holds nothing
 * they contain (bootstrap's zip: 1.2 MB of it after the dedupe, for 157 KB of new). The index
 * then keeps only the pieces of old's uncovered parts that share a string with new's uncovered
 * bytes, with NEAR_CONTEXT bytes on each side. Strings are compared by a window hash (each byte
 * shifted NEAR_SHIFT bits a step, so the last 64 / NEAR_SHIFT + 1 bytes count), sampled where
 * its mixed value falls in 1/(NEAR_SAMPLE_MASK + 1) of the range: equal windows are sampled
 * alike on both sides, and a 128 KiB bit filter answers most lookups before the table.
 * On bootstrap's zip the index falls from 1.2 MB to 0.21 MB, its sort from 28 to 6 ms, for
 * 6 ms of filtering; the whole diff from 0.086 to 0.065 s (medians of 21). Fewer candidates
 * make the scan choose otherwise here and there, so patches move both ways: 29,367 -> 29,707
 * bytes (BSDELTA) and 28,986 -> 29,172 (BSDIFF40) on that zip; on three near-identical pairs
 * (bootstrap as zip and as tar, react-dom 18.2 -> 18.3 as tar, both formats) 146,916 ->
 * 147,028 bytes in all, where the other settings tried (window 17 to 33 bytes, sampling 1/2 to
 * 1/4, context 128 to 1024) gave up to +1.8%. No other pair of the corpus is this close. */
#define NEAR_SHARE 16
#define NEAR_SHIFT 3
#define NEAR_SAMPLE_MASK 1
#define NEAR_CONTEXT 256
#define NEAR_BITS 20 /* bit filter before the table: 128 KiB, where the table takes megabytes */

static inline uint64_t near_mix(uint64_t h) { return h * 0x9E3779B97F4A7C15ull; }
static inline int near_sampled(uint64_t x) { return (x >> 40 & NEAR_SAMPLE_MASK) == 0; }
/* A key's word and bit in the bit filter (its top NEAR_BITS bits). */
static inline size_t near_word(uint64_t v) { return (size_t)(v >> (64 - NEAR_BITS + 6)); }
static inline uint64_t near_bit(uint64_t v) { return (uint64_t)1 << (v >> (64 - NEAR_BITS) & 63); }

typedef struct near_job {
    const unsigned char *d;
    const int64_t *r;
    int64_t i0, i1;
    const uint64_t *set, *bits;
    size_t cap;
    const uint64_t *gear;
    int win;
    int64_t *out, n, total;
} near_job;

/* Keeps the pieces of parts [i0, i1) around windows new's uncovered bytes share. */
static void *near_run(void *arg) {
    near_job *j = arg;
    const uint64_t *set = j->set, *bits = j->bits, *gear = j->gear;
    const unsigned char *d = j->d;
    size_t cap = j->cap;
    int win = j->win;
    int64_t *out = j->out, n = 0, total = 0;
    for (int64_t i = j->i0; i < j->i1; i++) {
        int64_t b = j->r[2 * i], e = b + j->r[2 * i + 1];
        uint64_t h = 0;
        for (int64_t q = b; q < e; q++) {
            h = (h << NEAR_SHIFT) + gear[d[q]];
            uint64_t v = near_mix(h);
            if (q - b + 1 < win || !near_sampled(v)) continue;
            v |= 1;
            if (!(bits[near_word(v)] & near_bit(v)) || !set[key_slot(set, cap, v)]) continue;
            /* the window ends at q: keep it with NEAR_CONTEXT bytes on each side */
            int64_t ks = q + 1 - win - NEAR_CONTEXT > b ? q + 1 - win - NEAR_CONTEXT : b;
            int64_t ke = q + 1 + NEAR_CONTEXT < e ? q + 1 + NEAR_CONTEXT : e;
            if (n && out[2 * (n - 1)] + out[2 * (n - 1) + 1] >= ks) {
                int64_t pe = out[2 * (n - 1)] + out[2 * (n - 1) + 1];
                if (ke > pe) {
                    total += ke - pe;
                    out[2 * (n - 1) + 1] = ke - out[2 * (n - 1)];
                }
            } else {
                out[2 * n] = ks;
                out[2 * n + 1] = ke - ks;
                total += ke - ks;
                n++;
            }
        }
    }
    j->n = n;
    j->total = total;
    return NULL;
}

int64_t *bsd_near_parts(const unsigned char *d, const int64_t *r, int64_t nr,
                        const unsigned char *nw, int64_t m, const bsd_seg *anc, size_t nanc,
                        unsigned threads, int64_t *n_out, int64_t *bytes) {
    const int win = 64 / NEAR_SHIFT + 1; /* bytes a hash is made of, from a cold start */
    uint64_t gear[256];
    gear_table(gear, 0x2545F4914F6CDD1Dull);
    /* new's uncovered bytes: the gaps between anchors (in new order). Pass 0 counts the
     * sampled windows (so the table is sized for them, whatever the data), pass 1 enters them. */
    uint64_t *set = NULL, *bits = NULL;
    size_t cap = 0, count = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            cap = 1024;
            while (cap < 2 * count + 16) cap *= 2;
            set = calloc(cap, sizeof(uint64_t));
            bits = calloc((size_t)1 << (NEAR_BITS - 6), sizeof(uint64_t));
            if (!set || !bits) {
                free(set);
                free(bits);
                return NULL;
            }
        }
        int64_t at = 0;
        for (size_t k = 0; k <= nanc; k++) {
            int64_t gs = at, ge = k < nanc ? anc[k].newp : m;
            if (k < nanc && anc[k].newp + anc[k].len > at) at = anc[k].newp + anc[k].len;
            if (ge <= gs) continue;
            /* every window that ends inside the gap (begun win bytes early: the first is whole) */
            uint64_t h = 0;
            for (int64_t p = gs - win > 0 ? gs - win : 0; p < ge; p++) {
                h = (h << NEAR_SHIFT) + gear[nw[p]];
                uint64_t v = near_mix(h);
                if (p < gs || !near_sampled(v)) continue;
                if (pass == 0) {
                    count++;
                    continue;
                }
                v |= 1;
                bits[near_word(v)] |= near_bit(v);
                set[key_slot(set, cap, v)] = v;
            }
        }
    }
    /* old's parts, in two halves (by bytes, at a part boundary) on two threads */
    near_job jb[2];
    int64_t half = 0, acc = 0;
    while (half < nr && acc < *bytes / 2) acc += r[2 * half++ + 1];
    for (int t = 0; t < 2; t++) {
        int64_t i0 = t ? half : 0, i1 = t ? nr : half, held = 0;
        for (int64_t i = i0; i < i1; i++) held += r[2 * i + 1];
        jb[t] = (near_job){d, r, i0, i1, set, bits, cap, gear, win, NULL, 0, 0};
        /* kept parts do not touch, and each is at least NEAR_CONTEXT + win bytes long at an end
         * of its input part and 2 NEAR_CONTEXT + win inside: at most 1 + len / (2 NEAR_CONTEXT)
         * of them in an input part of len bytes */
        jb[t].out = malloc((size_t)(i1 - i0 + held / (2 * NEAR_CONTEXT) + 2) * 2 * sizeof(int64_t));
    }
    int64_t *out = NULL;
    if (jb[0].out && jb[1].out) {
        pthread_t th;
        int two = threads > 1 && half > 0 && pthread_create(&th, NULL, near_run, &jb[0]) == 0;
        if (!two) near_run(&jb[0]);
        near_run(&jb[1]);
        if (two) pthread_join(th, NULL);
        out = jb[0].out;
        int64_t *o2 = realloc(out, (size_t)(jb[0].n + jb[1].n + 1) * 2 * sizeof(int64_t));
        if (o2) {
            out = o2;
            memcpy(out + 2 * jb[0].n, jb[1].out, (size_t)jb[1].n * 2 * sizeof(int64_t));
            *n_out = jb[0].n + jb[1].n;
            *bytes = jb[0].total + jb[1].total;
        } else {
            free(out);
            out = NULL;
        }
    } else {
        free(jb[0].out);
    }
    free(jb[1].out);
    free(set);
    free(bits);
    return out;
}

/* Picks what the scan searches besides the anchors:
 *   - the suffix array of all of old when it exists already, when old is small, when the
 *     pre-match gave up, or when anchors leave more than 60% of old uncovered (built now and
 *     kept on the old);
 *   - nothing when the anchors cover all of new;
 *   - otherwise a suffix array over just the uncovered parts of old, concatenated (repeats left
 *     out; for near-identical inputs, only what new's uncovered bytes may use). Sorting those
 *     parts instead of all of old is what makes near-identical inputs cheap. Matches into
 *     covered parts of old are then found only through the anchors. */
static bsd_error choose_index(bsd_ctx *ctx, bsd_old *o, bsd_finder *fd, int prematch_ok,
                              const unsigned char *nw, int64_t m, uint64_t other, uint64_t spare,
                              uint64_t sort_held, uint64_t bound,
                              bsd_sa *part, unsigned char **ptext, int64_t **pparts,
                              bsd_gapm *gm, unsigned threads) {
    int64_t covered_new = 0, n = o->size;
    for (size_t i = 0; i < fd->nanc; i++) covered_new += fd->anc[i].len;
    if (o->index_built) {
        fd->sa = &o->full;
        return BSD_OK;
    }
    if (prematch_ok && covered_new == m) return BSD_OK;
    if (prematch_ok && fd->nanc) {
        /* Anchors cover nearly all of new: match the few bytes left with the gap matcher (one
         * pass over old, no sort); it also finds matches into parts of old anchors use. */
        int64_t cnt = bsd_gap_count(fd->anc, fd->nanc, m);
        if (cnt <= GAP_MAX_COUNT && cnt * GAP_MAX_SHARE <= m) {
            double t0 = bsd_now();
            if (bsd_gapm_build(gm, o, nw, m, fd->anc, fd->nanc, threads))
                return fail(ctx, BSD_E_NOMEM, "out of memory for the gap matcher");
            ctx->stats.sort_seconds = bsd_now() - t0;
            ctx->stats.peak_estimate += bsd_gapm_bytes(cnt, fd->nanc);
            fd->gm = gm;
            return BSD_OK;
        }
    }
    int64_t *r = NULL, nr = 0, uncovered = n;
    if (prematch_ok && fd->nanc) {
        r = malloc((fd->nanc + 1) * 2 * sizeof(int64_t)); /* + the part after the last */
        if (!r) return fail(ctx, BSD_E_NOMEM, "out of memory");
        for (size_t i = 0; i < fd->nanc; i++) {
            r[2 * i] = fd->anc[i].oldp;
            r[2 * i + 1] = fd->anc[i].oldp + fd->anc[i].len;
        }
        sort_ranges(r, fd->nanc, n);
        /* merge into covered intervals, then turn them into the uncovered complement */
        int64_t at = 0;
        uncovered = 0;
        for (size_t i = 0; i < fd->nanc; i++) {
            int64_t b = r[2 * i], e = r[2 * i + 1];
            if (b - at >= BSD_QGRAM) {
                r[2 * nr] = at; /* nr <= i: entries already read */
                r[2 * nr + 1] = b - at;
                nr++;
                uncovered += b - at;
            }
            if (e > at) at = e;
        }
        if (n - at >= BSD_QGRAM) {
            r[2 * nr] = at;
            r[2 * nr + 1] = n - at;
            nr++;
            uncovered += n - at;
        }
    }
    if (n <= SMALL_OLD || !prematch_ok || !fd->nanc || uncovered * 10 > n * 6) {
        free(r);
        uint64_t sa = bsd_sa_bytes(o->size, bsd_bloom_cap(o->size, 0));
        uint64_t more = spare > sa ? spare - sa : 0, sub = bsd_sub_bytes(o->size);
        if (sub > more) sub = more;
        bsd_error e = ensure_index(ctx, o, other, bsd_bloom_cap(o->size, more - sub), sub,
                                   sort_held, bound);
        if (e) return e;
        fd->sa = &o->full;
        ctx->stats.peak_estimate += bsd_sa_mem(&o->full);
        return BSD_OK;
    }
    /* restricted index */
    int64_t *dr = bsd_dedupe_parts(o->data, r, nr, &nr, &uncovered);
    if (dr) {
        free(r);
        r = dr;
    }
    if ((m - covered_new) * NEAR_SHARE <= m) {
        dr = bsd_near_parts(o->data, r, nr, nw, m, fd->anc, fd->nanc, threads, &nr, &uncovered);
        if (dr) {
            free(r);
            r = dr;
        }
    }
    unsigned char *t = malloc((size_t)(uncovered ? uncovered : 1));
    int64_t nmap = (uncovered >> BSD_PART_MAP_SHIFT) + 1;
    int64_t *parts = malloc((size_t)((nr ? nr : 1) * 3 + nmap) * sizeof(int64_t));
    if (!t || !parts) {
        free(t);
        free(parts);
        free(r);
        return fail(ctx, BSD_E_NOMEM, "out of memory");
    }
    int64_t c = 0;
    for (int64_t i = 0; i < nr; i++) {
        parts[i] = c;                /* part_c */
        parts[nr + i] = r[2 * i];     /* part_r */
        parts[2 * nr + i] = r[2 * i + 1]; /* part_len */
        memcpy(t + c, o->data + r[2 * i], (size_t)r[2 * i + 1]);
        c += r[2 * i + 1];
    }
    free(r);
    int64_t *map = parts + 3 * (nr ? nr : 1); /* the part holding each 2^SHIFT-byte step */
    for (int64_t b = 0, k = 0; b < nmap; b++) {
        while (k + 1 < nr && parts[k + 1] <= b << BSD_PART_MAP_SHIFT) k++;
        map[b] = k;
    }
    double t0 = bsd_now();
    char err[256] = "";
    uint64_t need = (uint64_t)uncovered + bsd_sa_bytes(uncovered, bsd_bloom_cap(uncovered, 0));
    uint64_t more = spare > need ? spare - need : 0, sub = bsd_sub_bytes(uncovered);
    if (sub > more) sub = more;
    int rc = bsd_sa_build(part, t, uncovered, bsd_bloom_cap(uncovered, more - sub), sub, threads,
                          sort_room(ctx, bound,
                                    sort_held + (uint64_t)n +
                                        (o->blk_table ? bsd_blockindex_bytes(n) : 0) +
                                        (uint64_t)uncovered,
                                    uncovered),
                          err, sizeof err);
    ctx->stats.sort_seconds = bsd_now() - t0;
    if (rc) {
        free(t);
        free(parts);
        return fail(ctx, BSD_E_NOMEM, "%s", rc == -1 ? "out of memory for the suffix array" : err);
    }
    ctx->stats.peak_estimate += (uint64_t)uncovered + bsd_sa_mem(part);
    *ptext = t;
    *pparts = parts;
    fd->sa = part;
    fd->part_c = parts;
    fd->part_r = parts + nr;
    fd->part_len = parts + 2 * nr;
    fd->part_map = map;
    fd->nparts = (size_t)nr;
    return BSD_OK;
}

static bsd_scan_params scan_params(int bsdiff40) {
    bsd_scan_params prm = {
        .min_gain = bsdiff40 ? GAIN_BSDIFF40 : GAIN_BSDELTA,
        .real_close = bsdiff40 ? REAL_CLOSE_BSDIFF40 : REAL_CLOSE_BSDELTA,
        .trust = 32,
        .margin = 8,
        .min_cover = BSD_QGRAM,
        .stride_max = 8,
        .window = 16,
        .max_merge = 4096,
        .c_cmd = 160, /* a BSDIFF40 command compresses to 3-5 bytes, plus the break */
        .c_lit = 7,   /* literal bytes of code and text compress to about half a byte */
        .c_mis = 16,
        .c_match = 1,
        .ext_match = 1,
        .ext_mism = 1,
    };
    return prm;
}

static bsd_error diff_core(bsd_ctx *ctx, bsd_old *o, const void *new_data, size_t new_size,
                           const bsd_sink *out, const bsd_xform *xf);

bsd_error bsd_diff(bsd_ctx *ctx, bsd_old *o, const void *new_data, size_t new_size,
                   const bsd_sink *out) {
    if (!ctx) return BSD_E_MISUSE;
    memset(&ctx->stats, 0, sizeof ctx->stats);
    return diff_core(ctx, o, new_data, new_size, out, NULL);
}

/* The diff itself; xf: the patch is deflate-aware and o / new_data are the expansions. */
static bsd_error diff_core(bsd_ctx *ctx, bsd_old *o, const void *new_data, size_t new_size,
                           const bsd_sink *out, const bsd_xform *xf) {
    ctx->detail[0] = 0;
    if (!o || !out || !out->write || (!new_data && new_size))
        return fail(ctx, BSD_E_MISUSE, "bsd_diff: missing old, sink or new data");
    if ((uint64_t)new_size > BSDL_MAX_FILE_SIZE)
        return fail(ctx, BSD_E_LIMIT, "new file of %zu bytes exceeds the format's 2^62", new_size);
    const unsigned char *nw = new_size ? new_data : (const unsigned char *)"";
    int64_t m = (int64_t)new_size;
    unsigned threads = eff_threads(ctx);
    int bsdiff40 = ctx->opt.format == BSD_FORMAT_BSDIFF40;
    int level = eff_level(ctx);
    double t_start = bsd_now();

    /* Memory other than old and its indexes: new, the writer, and chunk results in flight
     * (at most 3 x 8 bytes per new byte of the chunks in the window, usually far less). The
     * window is three chunks a thread: with two, a thread that finished its chunks waited for a
     * slow one before it (libvips: 30 ms of one thread's 195 ms first chunk). */
    uint64_t window = 3 * (uint64_t)threads;
    uint64_t inflight = window * (uint64_t)CHUNK * 3;
    if (inflight > 4 * (uint64_t)new_size + 65536) inflight = 4 * (uint64_t)new_size + 65536;
    uint64_t other = (uint64_t)m + bsd_writer_bytes(ctx->opt.format, ctx->opt.compressor, level) +
                     inflight;
    /* Deflate-aware: the real files are held too (by the caller). */
    if (xf) other += xf->old_size + xf->new_size;
    ctx->stats.old_size = xf ? xf->old_size : (uint64_t)o->size;
    ctx->stats.new_size = xf ? xf->new_size : (uint64_t)m;
    ctx->stats.peak_estimate = other + (uint64_t)o->size + bsd_blockindex_bytes(o->size) +
                               (o->index_built ? bsd_sa_mem(&o->full) : 0);
    if (ctx->opt.mem_limit && ctx->stats.peak_estimate > ctx->opt.mem_limit)
        return fail(ctx, BSD_E_LIMIT, "diffing needs an estimated peak of %llu bytes, above the "
                    "cap of %llu", (unsigned long long)ctx->stats.peak_estimate,
                    (unsigned long long)ctx->opt.mem_limit);

    if (progress(ctx, BSD_STAGE_HASH, 0, (uint64_t)m))
        return fail(ctx, BSD_E_CANCELLED, "cancelled by the progress callback");
    unsigned char new_hash[16];
    if (!bsdiff40) {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits(nw, (size_t)m));
        memcpy(new_hash, c.digest, 16);
    }
    bsd_seglist anc = {0};
    bsd_sa part = {0};
    bsd_gapm gm = {0};
    unsigned char *ptext = NULL;
    int64_t *parts = NULL;
    bsd_finder fd = {.o = o};
    bsd_error e = BSD_OK;
    int pr = bsd_prematch(o, nw, m, threads, &anc);
    if (pr < 0) {
        bsd_seglist_free(&anc);
        return fail(ctx, BSD_E_NOMEM, "out of memory in the block pre-match");
    }
    fd.anc = anc.v;
    fd.nanc = anc.n;
    if (o->single_use) { /* nothing else reads it */
        free(o->blk_table);
        o->blk_table = NULL;
    }
    /* Memory a suffix array's q-gram filter may take beyond its default size (fewer searches
     * that find nothing): what is left under the peak bound once compressing close choices
     * (below) has its share, and under --mem-limit. The filter's size changes no match, and
     * the test below still passes whenever it would have: the patch stays the same. */
    uint64_t bound = 5 * (uint64_t)o->size + (uint64_t)m + ((uint64_t)64 << 20);
    uint64_t base = ctx->stats.peak_estimate - inflight + REAL_COST_MEM;
    uint64_t spare = bound > base ? bound - base : 0;
    if (ctx->opt.mem_limit) {
        uint64_t left = ctx->opt.mem_limit > ctx->stats.peak_estimate
                            ? ctx->opt.mem_limit - ctx->stats.peak_estimate : 0;
        if (left < spare) spare = left;
    }
    uint64_t sort_held = (uint64_t)m + (xf ? xf->old_size + xf->new_size : 0);
    e = choose_index(ctx, o, &fd, pr, nw, m, other, spare, sort_held, bound, &part, &ptext,
                     &parts, &gm, threads);
    ctx->stats.hash_seconds = bsd_now() - t_start - ctx->stats.sort_seconds;
    if (e) {
        bsd_seglist_free(&anc);
        return e;
    }

    /* Room left under the 5 x old + new + 64 MiB peak for compressing candidates. The patch
     * must not depend on the thread count, so neither may this test: it leaves out the chunk
     * results in flight, the one part of the estimate that grows with the threads (and a
     * bound far above what they hold). */
    bsd_gate cost_gate;
    int have_gate = 0;
    if (ctx->stats.peak_estimate - inflight + REAL_COST_MEM <= bound) {
        /* One compressor always; one per further thread while the whole estimate, chunks in
         * flight included, stays under the bound (and --mem-limit) with them. */
        uint64_t cap = ctx->opt.mem_limit && ctx->opt.mem_limit < bound ? ctx->opt.mem_limit : bound;
        unsigned places = 1;
        while (places < threads &&
               ctx->stats.peak_estimate + (uint64_t)(places + 1) * REAL_COST_MEM <= cap)
            places++;
        if (bsd_gate_init(&cost_gate, places)) { /* without it the patch would differ */
            bsd_seglist_free(&anc);
            bsd_sa_free(&part);
            bsd_gapm_free(&gm);
            free(ptext);
            free(parts);
            return fail(ctx, BSD_E_THREAD, "cannot create a lock");
        }
        have_gate = 1;
        fd.cost_gate = &cost_gate;
    }
    int perr;
    bsd_pool *pool = bsd_pool_create(threads, &perr);
    if (perr) {
        bsd_seglist_free(&anc);
        bsd_sa_free(&part);
        bsd_gapm_free(&gm);
        free(ptext);
        free(parts);
        if (have_gate) bsd_gate_destroy(&cost_gate);
        return fail(ctx, perr == 1 ? BSD_E_NOMEM : BSD_E_THREAD, "cannot start %u worker threads",
                    threads);
    }
    bsd_write_cfg wc = {
        .format = ctx->opt.format,
        .comp = bsdiff40 ? BSD_COMP_BZIP2 : ctx->opt.compressor,
        .level = level,
        .bz_search = ctx->opt.bz_effort == BSD_BZ_SEARCH ||
                     (ctx->opt.bz_effort == BSD_BZ_AUTO && bsdiff40),
        .old = o->data,
        .old_size = o->size,
        .nw = nw,
        .new_size = m,
        .old_hash = o->hash,
        .new_hash = new_hash,
        .sink = out,
        .pool = pool,
        .threads = threads,
        .merge_gap = bsdiff40 ? MERGE_GAP_BSDIFF40 : MERGE_GAP_BSDELTA,
        .xf = xf,
    };
    bsd_writer *w = NULL;
    char err[256] = "";
    chunk_job *jobs = NULL;
    int64_t nchunks = (m + CHUNK - 1) / CHUNK, submitted = 0, k = 0;
    ctx->stats.fast_path = fd.sa != &o->full;
    double t_scan = bsd_now();

    if (nchunks == 1) {
        bsd_scan_params prm1 = scan_params(bsdiff40);
        e = diff_small(ctx, &fd, nw, m, &prm1, &wc, err, sizeof err);
        goto done;
    }
    e = bsd_writer_open(&w, &wc, err, sizeof err);
    if (e) goto done;
    if (nchunks) {
        jobs = calloc((size_t)nchunks, sizeof(*jobs));
        if (!jobs) {
            e = BSD_E_NOMEM;
            snprintf(err, sizeof err, "out of memory");
            goto done;
        }
        bsd_scan_params prm = scan_params(bsdiff40);
        for (k = 0; k < nchunks; k++) {
            while (submitted < nchunks && submitted < k + (int64_t)window) {
                chunk_job *c = &jobs[submitted];
                c->f = &fd;
                c->nw = nw;
                c->cs = submitted * CHUNK;
                c->ce = c->cs + CHUNK < m ? c->cs + CHUNK : m;
                c->prm = prm;
                c->job.fn = chunk_run;
                c->job.arg = c;
                bsd_pool_submit(pool, &c->job);
                submitted++;
            }
            bsd_pool_wait(pool, &jobs[k].job);
            if (jobs[k].err) {
                e = BSD_E_NOMEM;
                snprintf(err, sizeof err, "out of memory in the matcher");
                goto done;
            }
            e = bsd_writer_segments(w, jobs[k].segs.v, jobs[k].segs.n, err, sizeof err);
            bsd_seglist_free(&jobs[k].segs);
            if (e) goto done;
            if (progress(ctx, BSD_STAGE_SCAN, (uint64_t)jobs[k].ce, (uint64_t)m)) {
                e = BSD_E_CANCELLED;
                goto done;
            }
        }
    }
    double t_fin = bsd_now();
    ctx->stats.scan_seconds = t_fin - t_scan;
    if (progress(ctx, BSD_STAGE_FINISH, 0, 1)) {
        e = BSD_E_CANCELLED;
        goto done;
    }
    e = bsd_writer_finish(w, err, sizeof err);
    if (e) goto done;
    double csec;
    bsd_writer_stats(w, &ctx->stats.patch_size, &ctx->stats.commands, &ctx->stats.diff_bytes,
                     &ctx->stats.extra_bytes, &csec);
    /* Without workers the compressor ran inside the scan loop: count it once, as compression. */
    ctx->stats.compress_seconds = pool ? bsd_now() - t_fin : csec;
    if (!pool) ctx->stats.scan_seconds -= csec - (bsd_now() - t_fin);
    if (ctx->stats.scan_seconds < 0) ctx->stats.scan_seconds = 0;

done:
    if (jobs) {
        for (int64_t j = k; j < submitted; j++) {
            bsd_pool_wait(pool, &jobs[j].job);
            bsd_seglist_free(&jobs[j].segs);
        }
        free(jobs);
    }
    bsd_writer_free(w);
    bsd_pool_free(pool);
    bsd_seglist_free(&anc);
    bsd_sa_free(&part);
    bsd_gapm_free(&gm);
    free(ptext);
    free(parts);
    if (have_gate) bsd_gate_destroy(&cost_gate);
    if (e == BSD_E_CANCELLED) return fail(ctx, e, "cancelled by the progress callback");
    if (e) return fail(ctx, e, "%s", err);
    return BSD_OK;
}

/* ---------------- convenience ---------------- */

static int file_write(void *opaque, const void *buf, size_t len) {
    return fwrite(buf, 1, len, (FILE *)opaque) == len ? 0 : -1;
}

/* ---------------- deflate-aware patches */

typedef struct cmp_sink {
    const unsigned char *d;
    size_t n, pos;
} cmp_sink;

static int cmp_write(void *opaque, const void *buf, size_t len) {
    cmp_sink *c = opaque;
    if (len > c->n - c->pos || memcmp(c->d + c->pos, buf, len) != 0) return -1;
    c->pos += len;
    return 0;
}

/* 1 when the expansion x turns back into exactly d[0, n). A safety net: the expansion is exact
 * by construction (bsp_deflate.c), and a patch must never depend on that being bug-free. */
static int reencodes_to(const membuf *x, const unsigned char *d, size_t n) {
    cmp_sink cs = {d, n, 0};
    bsp_sink sk = {&cs, cmp_write};
    bsp_dfl_enc *enc = bsp_dfl_enc_create(&sk);
    if (!enc) return 0;
    int ok = bsp_dfl_enc_write(enc, x->p, x->len) == BSP_OK && bsp_dfl_enc_finish(enc) == BSP_OK &&
             cs.pos == n;
    bsp_dfl_enc_free(enc);
    return ok;
}

static void put_var(membuf *b, uint64_t v, int *bad) {
    unsigned char t[10];
    if (mem_write(b, t, bsdl_put_varint(t, v))) *bad = 1;
}

static void hash128(const void *d, size_t n, unsigned char out[16]) {
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(n ? d : "", n));
    memcpy(out, c.digest, 16);
}

/* One file's side of the deflate expansion: find its streams, expand, check the way back. */
typedef struct xside {
    const unsigned char *d;
    size_t n;
    bsp_dfl_range *r;
    size_t k;
    membuf x;
    int rc; /* 1 expanded and checked, 0 nothing to expand or no exact way back, -1 no memory */
} xside;

static void xside_find(xside *s) {
    s->rc = -1;
    if (bsp_dfl_find(s->d, s->n, &s->r, &s->k) != BSP_OK) return;
    s->rc = 0;
}

static void xside_expand(xside *s) {
    bsp_memsource ms;
    bsp_source src;
    bsp_source_from_memory(&src, &ms, s->n ? s->d : (const unsigned char *)"", s->n);
    bsp_sink sk = {&s->x, mem_write};
    bsp_error e = bsp_dfl_expand(&src, s->r, s->k, &sk, NULL, NULL, 0);
    if (e == BSP_E_NOMEM || e == BSP_E_WRITE) s->rc = -1;
    else s->rc = !e && reencodes_to(&s->x, s->d, s->n);
}

static void *xside_run(void *arg) {
    xside *s = arg;
    xside_find(s);
    if (s->rc == 0 && s->k) xside_expand(s);
    return NULL;
}

/* Expands both files when both hold deflate streams (old and new side by side when there are
 * threads to spare; the result is the same either way). Returns 1 with xo, xn and xf filled
 * (the caller frees xo.p, xn.p and xf->section), 0 when the patch should be made from the
 * bytes as they are, or -1 when out of memory. */
static int try_deflate(bsd_ctx *ctx, const unsigned char *od, size_t on, const unsigned char *nd,
                       size_t nn, membuf *xo, membuf *xn, bsd_xform *xf) {
    xside so = {.d = od, .n = on}, sn = {.d = nd, .n = nn};
    membuf sec = {0}, out = {0};
    int rc = -1, bad = 0;
    pthread_t th;
    int threaded = eff_threads(ctx) > 1 && pthread_create(&th, NULL, xside_run, &sn) == 0;
    xside_find(&so);
    int old_has = so.rc == 0 && so.k; /* else new's streams are of no use */
    if (old_has) xside_expand(&so);
    if (threaded) pthread_join(th, NULL);
    else if (old_has) xside_run(&sn);
    ctx->stats.deflate_old_streams = so.k;
    ctx->stats.deflate_new_streams = sn.k;
    rc = so.rc < 0 || sn.rc < 0 ? -1 : 0;
    if (so.rc != 1 || sn.rc != 1 || sn.k == 0) goto done;
    put_var(&sec, so.x.len, &bad);
    put_var(&sec, sn.x.len, &bad);
    put_var(&sec, so.k, &bad);
    uint64_t prev = 0;
    for (size_t i = 0; i < so.k; i++) {
        put_var(&sec, so.r[i].offset - prev, &bad);
        put_var(&sec, so.r[i].length, &bad);
        prev = so.r[i].offset + so.r[i].length;
    }
    rc = -1;
    if (bad) goto done;
    rc = 0;
    if (sec.len > BSDL_XSECT_MAX) goto done; /* too many streams in old for the patcher's buffer */
    unsigned char chk[4];
    bsdl_store_le32(chk, XXH32(sec.p, sec.len, 0));
    put_var(&out, sec.len, &bad);
    if (bad || mem_write(&out, sec.p, sec.len) || mem_write(&out, chk, 4)) {
        rc = -1;
        goto done;
    }
    xf->old_size = on;
    xf->new_size = nn;
    hash128(od, on, xf->old_hash);
    hash128(nd, nn, xf->new_hash);
    xf->section = out.p;
    xf->section_len = out.len;
    out.p = NULL;
    *xo = so.x;
    *xn = sn.x;
    so.x.p = sn.x.p = NULL;
    ctx->stats.deflate_old_expanded = xo->len;
    ctx->stats.deflate_new_expanded = xn->len;
    rc = 1;
done:
    free(so.x.p);
    free(sn.x.p);
    free(sec.p);
    free(out.p);
    bsp_dfl_free(so.r);
    bsp_dfl_free(sn.r);
    return rc;
}

/* The deflate fields of the stats, which a diff_core run does not set: carried across runs. */
static void copy_deflate_stats(bsd_stats *to, const bsd_stats *from) {
    to->deflate_old_streams = from->deflate_old_streams;
    to->deflate_new_streams = from->deflate_new_streams;
    to->deflate_old_expanded = from->deflate_old_expanded;
    to->deflate_new_expanded = from->deflate_new_expanded;
    to->deflate_seconds = from->deflate_seconds;
    to->deflate_skipped_for_memory = from->deflate_skipped_for_memory;
    to->deflate_not_smaller = from->deflate_not_smaller;
}

static bsd_error diff_pair(bsd_ctx *ctx, const void *old_data, size_t old_size,
                           const void *new_data, size_t new_size, const bsd_sink *sink) {
    bsd_old *o = NULL;
    if (!ctx) return BSD_E_MISUSE;
    memset(&ctx->stats, 0, sizeof ctx->stats);
    if ((!old_data && old_size) || (!new_data && new_size))
        return fail(ctx, BSD_E_MISUSE, "missing old or new data");
    if (ctx->opt.format == BSD_FORMAT_BSDELTA && ctx->opt.deflate == BSD_DEFLATE_AUTO) {
        double t0 = bsd_now();
        membuf xo = {0}, xn = {0};
        bsd_xform xf;
        int rc = try_deflate(ctx, old_data, old_size, new_data, new_size, &xo, &xn, &xf);
        if (rc < 0) return fail(ctx, BSD_E_NOMEM, "out of memory expanding deflate streams");
        if (rc == 1) {
            bsd_stats keep = ctx->stats;
            keep.deflate_seconds = bsd_now() - t0;
            /* Held until we know it pays: when new shares little with old, its tokens compress
             * worse than its deflate bytes, and the plain patch can be the smaller one. */
            membuf held = {0};
            bsd_sink hs = {&held, mem_write};
            bsd_error e = bsd_prepare_old(ctx, xo.p ? xo.p : (unsigned char *)"", xo.len, &o);
            if (!e) {
                o->single_use = 1;
                e = diff_core(ctx, o, xn.p ? xn.p : (unsigned char *)"", xn.len, &hs, &xf);
                copy_deflate_stats(&ctx->stats, &keep);
            }
            bsd_old_free(o);
            o = NULL;
            free(xo.p);
            free(xn.p);
            free(xf.section);
            if (!e && held.len > new_size / 2) {
                bsd_stats dstats = ctx->stats;
                membuf plain = {0};
                bsd_sink ps = {&plain, mem_write};
                e = bsd_prepare_old(ctx, old_data, old_size, &o);
                if (!e) {
                    o->single_use = 1;
                    e = diff_core(ctx, o, new_data, new_size, &ps, NULL);
                }
                bsd_old_free(o);
                if (!e && plain.len < held.len) {
                    free(held.p);
                    held = plain;
                    copy_deflate_stats(&ctx->stats, &keep);
                    ctx->stats.deflate_not_smaller = 1;
                    ctx->stats.deflate_old_expanded = ctx->stats.deflate_new_expanded = 0;
                } else {
                    free(plain.p);
                    ctx->stats = dstats;
                    e = BSD_OK; /* the deflate-aware patch stands */
                }
            }
            if (!e && held.len && sink->write(sink->opaque, held.p, held.len)) {
                free(held.p);
                return fail(ctx, BSD_E_WRITE, "writing the patch failed");
            }
            free(held.p);
            /* Over the memory cap (always found before anything is written): the expansions are
             * larger than the files, so the plain diff may still fit. */
            if (e != BSD_E_LIMIT) return e;
            ctx->stats = keep;
            ctx->stats.deflate_old_expanded = ctx->stats.deflate_new_expanded = 0;
            ctx->stats.deflate_skipped_for_memory = 1;
        }
        ctx->stats.deflate_seconds = bsd_now() - t0;
    }
    bsd_stats keep = ctx->stats;
    bsd_error e = bsd_prepare_old(ctx, old_data, old_size, &o);
    if (e) return e;
    o->single_use = 1;
    e = diff_core(ctx, o, new_data, new_size, sink, NULL);
    copy_deflate_stats(&ctx->stats, &keep);
    bsd_old_free(o);
    return e;
}

bsd_error bsd_diff_buffers(bsd_ctx *ctx, const void *old_data, size_t old_size,
                           const void *new_data, size_t new_size, unsigned char **patch,
                           size_t *patch_size) {
    if (!ctx || !patch || !patch_size) return BSD_E_MISUSE;
    *patch = NULL;
    *patch_size = 0;
    membuf b = {0};
    bsd_sink s = {&b, mem_write};
    bsd_error e = diff_pair(ctx, old_data, old_size, new_data, new_size, &s);
    if (e) {
        free(b.p);
        return e;
    }
    *patch = b.p;
    *patch_size = b.len;
    return BSD_OK;
}

void bsd_buffer_free(void *buf) { free(buf); }

bsd_error bsd_diff_to_file(bsd_ctx *ctx, const void *old_data, size_t old_size,
                           const void *new_data, size_t new_size, FILE *fp) {
    if (!ctx || !fp) return BSD_E_MISUSE;
    bsd_sink s = {fp, file_write};
    return diff_pair(ctx, old_data, old_size, new_data, new_size, &s);
}
