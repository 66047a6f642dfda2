/* bsd_sort.c - the suffix sort on two threads. libdivsufsort (as Debian builds it) sorts on one
 * core, so the text is cut in two: the suffixes starting in the first part A = [0, h) and those
 * in the second B = [h, n) are sorted at the same time, by two libdivsufsort calls, and the
 * two sorted lists are merged. The result is the suffix array of the whole text, entry for
 * entry the one a single call gives, so nothing downstream depends on whether the text was
 * cut or on the thread count.
 *
 * Why that holds: B is a suffix of the text, so sorting it sorts true suffixes. A is sorted as
 * the text [0, h + GUARD): a suffix starting at i < h is then cut short at h + GUARD, which can
 * only put two of them in the wrong order when the shorter one is entirely a prefix of the
 * other, and that needs the GUARD bytes at h to occur again at a position before h. The cut
 * is placed only where they do not (a rolling-hash search, confirmed byte for byte); the
 * suffixes starting in [h, h + GUARD) are dropped from A's list. The merge compares true
 * suffixes of the whole text. */
#include <pthread.h>
#include <stdlib.h>

#include <divsufsort.h>

#include "bsd_internal.h"

/* Below this size one call is fast enough (and the merge would eat the gain). */
#define SPLIT_MIN ((int64_t)1 << 20)
#define GUARD ((int64_t)64 << 10)
/* Cut points tried, as sixteenths of n taken off n / 2. A smaller A also needs less memory. */
#define CUT_TRIES 4
/* Bytes the merge may compare, per byte of text, before it gives up (real files of code, text
 * and binaries take 4 to 11). */
#define MERGE_WORK_PER_BYTE 64

/* 1 if d[h, h + GUARD) occurs at a position before h. */
static int guard_repeats(const unsigned char *d, int64_t h) {
    const uint64_t B = 0x100000001B3ull;
    uint64_t want = 0, cur = 0, top = 1; /* top = B^(GUARD-1) */
    for (int64_t k = 0; k < GUARD; k++) {
        want = want * B + d[h + k];
        cur = cur * B + d[k];
        if (k) top *= B;
    }
    for (int64_t i = 0;; i++) {
        if (cur == want && memcmp(d + i, d + h, GUARD) == 0) return 1;
        if (i + 1 >= h) return 0;
        cur = (cur - d[i] * top) * B + d[i + GUARD];
    }
}

/* The merge compares a suffix of A with one of B. A block that occurs in both makes the
 * comparisons along its diagonal (b - a = the distance between the copies) long, one for every
 * byte of the block: quadratic if each started from scratch. So the first mismatch found on a
 * diagonal is remembered with the stretch before it known to agree, and later comparisons on
 * the same diagonal that land in the stretch are answered from it. What is still compared is
 * counted; past MERGE_WORK_PER_BYTE bytes per byte of text the merge gives up and the caller
 * sorts in one call. */
#define DIAG_SLOTS 4096
#define DIAG_MIN 64 /* shorter common prefixes are not worth a slot */

typedef struct diag {
    int64_t delta, s, e; /* d[x] == d[x + delta] for x in [s, e); e: mismatch or end */
} diag;

/* Runs of one byte make every comparison between two of their suffixes as long as the shorter
 * remainder, on a new diagonal each time. So the runs of at least RUN_MIN bytes are listed
 * (start, end), and a comparison that meets a run on both sides skips to the end of the
 * shorter. At most RUN_MAX_SHARE runs per byte of text are listed (shorter ones beyond that
 * are compared byte by byte). */
#define RUN_MIN 64
#define RUN_MAX_SHARE 1024

typedef struct merger {
    const unsigned char *d;
    int64_t n;
    diag slot[DIAG_SLOTS];
    int64_t work, work_max;
    int64_t *run; /* nrun (start, end) pairs, by start */
    size_t nrun;
} merger;

static void find_runs(merger *mg) {
    const unsigned char *d = mg->d;
    int64_t n = mg->n;
    size_t cap = (size_t)(n / RUN_MAX_SHARE) + 1;
    mg->run = malloc(cap * 2 * sizeof(int64_t));
    if (!mg->run) return;
    for (int64_t i = 0; i < n && mg->nrun < cap;) {
        int64_t j = i + 1;
        if (i + RUN_MIN <= n && d[i + RUN_MIN - 1] == d[i]) /* cheap test before the walk */
            while (j < n && d[j] == d[i]) j++;
        if (j - i >= RUN_MIN) {
            mg->run[2 * mg->nrun] = i;
            mg->run[2 * mg->nrun + 1] = j;
            mg->nrun++;
        }
        i = j;
    }
}

/* End of the listed run holding position x, or -1. */
static int64_t run_end(const merger *mg, int64_t x) {
    size_t lo = 0, hi = mg->nrun;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mg->run[2 * mid] <= x) lo = mid + 1;
        else hi = mid;
    }
    return lo && x < mg->run[2 * (lo - 1) + 1] ? mg->run[2 * (lo - 1) + 1] : -1;
}

/* 1 if the word is one byte repeated. */
static inline int uniform(uint64_t w) { return w == (w & 0xFF) * 0x0101010101010101ull; }

/* The comparison below once the first DIAG_MIN bytes agree (and b's suffix is longer). */
static int long_less(merger *mg, int64_t a, int64_t b) {
    const unsigned char *d = mg->d;
    int64_t delta = b - a, m = mg->n - b, l = 0;
    diag *g = &mg->slot[(uint64_t)delta * 0x9E3779B97F4A7C15ull >> 52];
    if (g->delta == delta && a >= g->s && a < g->e) {
        l = g->e - a;
    } else {
        int64_t stop = g->delta == delta && a < g->s ? g->s : INT64_MAX; /* joins the stretch */
        int64_t counted = 0;
        while (l + 8 <= m && a + l < stop) {
            uint64_t w = bsd_load64(d + a + l);
            if (w != bsd_load64(d + b + l)) break;
            int64_t ea, eb;
            if (uniform(w) && (ea = run_end(mg, a + l)) >= 0 && (eb = run_end(mg, b + l)) >= 0) {
                /* both in runs of this byte: to the end of the shorter remainder */
                int64_t ra = ea - (a + l), rb = eb - (b + l);
                counted -= ra < rb ? ra : rb;
                l += ra < rb ? ra : rb;
            } else {
                l += 8;
            }
        }
        while (l < m && a + l < stop && d[a + l] == d[b + l]) l++;
        mg->work += l + counted;
        if (a + l >= stop) {
            l = g->e - a;
            g->s = a;
        } else if (l >= DIAG_MIN) {
            *g = (diag){delta, a, a + l};
        }
    }
    return l < m && d[a + l] < d[b + l];
}

/* 1 if the suffix at a sorts before the one at b (a < b, so b's is the shorter): the shorter
 * first when it is a prefix of the other, as libdivsufsort orders them. Nearly every
 * comparison ends within the first DIAG_MIN bytes. */
static inline int suffix_less(merger *mg, int64_t a, int64_t b) {
    const unsigned char *d = mg->d;
    int64_t m = mg->n - b, lim = m < DIAG_MIN ? m : DIAG_MIN;
    int64_t l = bsd_matchlen(d + a, lim, d + b, lim);
    if (l < lim) return d[a + l] < d[b + l];
    return l < m ? long_less(mg, a, b) : 0;
}

typedef struct sort_job {
    const unsigned char *d;
    int32_t *sa;
    int64_t n;
    int rc;
} sort_job;

static void *sort_run(void *arg) {
    sort_job *j = arg;
    j->rc = divsufsort(j->d, j->sa, (saidx_t)j->n);
    return NULL;
}

typedef struct side_job {
    void (*fn)(void *);
    void *arg;
} side_job;

static void *side_run(void *arg) {
    side_job *j = arg;
    j->fn(j->arg);
    return NULL;
}

static int64_t cut_at(int64_t n, int t) { return n / 2 - (int64_t)t * (n / 16); }

static uint64_t tmp_bytes(int64_t h) { return (uint64_t)(h + GUARD) * sizeof(int32_t); }

uint64_t bsd_sort_tmp_bytes(int64_t n, uint64_t room) {
    if (n < SPLIT_MIN || n >= INT32_MAX) return 0;
    for (int t = 0; t < CUT_TRIES; t++)
        if (tmp_bytes(cut_at(n, t)) <= room) return tmp_bytes(cut_at(n, t));
    return 0;
}

int bsd_sort_split(const unsigned char *d, int64_t n, int32_t *sa, uint64_t room,
                   void (*side)(void *), void *side_arg) {
    if (n < SPLIT_MIN || n >= INT32_MAX) return 1;
    /* the cut: as near the middle as the memory allows, where the guard bytes are unique */
    int64_t h = -1;
    for (int t = 0; t < CUT_TRIES; t++) {
        int64_t c = cut_at(n, t);
        if (tmp_bytes(c) > room) continue;
        if (!guard_repeats(d, c)) {
            h = c;
            break;
        }
    }
    if (h < 0) return 1;
    int64_t na = h + GUARD, nb = n - h;
    int32_t *ta = malloc((size_t)na * sizeof(int32_t));
    if (!ta) return 1;

    /* A on a second thread into ta, B here into the tail of sa */
    sort_job ja = {d, ta, na, 0}, jb = {d + h, sa + h, nb, 0};
    pthread_t th;
    if (pthread_create(&th, NULL, sort_run, &ja) != 0) {
        free(ta);
        return 1;
    }
    sort_run(&jb);
    pthread_join(th, NULL);
    if (ja.rc || jb.rc) {
        free(ta);
        return -2;
    }
    /* A's list without the guard's own suffixes */
    int64_t ka = 0;
    for (int64_t i = 0; i < na; i++)
        if (ta[i] < h) ta[ka++] = ta[i];

    /* the side work runs during the merge */
    side_job sj = {side, side_arg};
    int side_thread = side && pthread_create(&th, NULL, side_run, &sj) == 0;

    /* Merge into sa from the front: entry k = ia + ib never reaches B's unread entries, which
     * sit at h + ib and later (ia < h). Entries ahead are prefetched: each comparison reads
     * the text at two unrelated places. */
    merger *mg = calloc(1, sizeof *mg);
    int64_t ia = 0, ib = 0, k = 0;
    if (mg) {
        mg->d = d;
        mg->n = n;
        mg->work_max = MERGE_WORK_PER_BYTE * n;
        for (int i = 0; i < DIAG_SLOTS; i++) mg->slot[i].delta = -1;
        find_runs(mg);
        const int64_t PF = 32;
        while (ia < ka && ib < nb && mg->work <= mg->work_max) {
            if (ia + PF < ka) __builtin_prefetch(d + ta[ia + PF]);
            if (ib + PF < nb) __builtin_prefetch(d + h + sa[h + ib + PF]);
            int64_t a = ta[ia], b = h + (int64_t)sa[h + ib];
            if (suffix_less(mg, a, b)) {
                sa[k++] = (int32_t)a;
                ia++;
            } else {
                sa[k++] = (int32_t)b;
                ib++;
            }
        }
    }
    int done = mg && mg->work <= mg->work_max;
    if (done) {
        while (ia < ka) sa[k++] = ta[ia++];
        for (; ib < nb; ib++) sa[k++] = (int32_t)(h + sa[h + ib]);
    }
    if (mg) free(mg->run);
    free(mg);
    free(ta);
    if (side_thread) pthread_join(th, NULL);
    else if (side) side(side_arg);
    return done ? 0 : 2;
}
