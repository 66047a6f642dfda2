/* bsd_sort.c - the suffix sort on two threads. libdivsufsort (as Debian builds it) sorts on one
 * core, so the text is cut in two: the suffixes starting in the first part A = [0, h) and those
 * in the second B = [h, n) are sorted at the same time, by two libdivsufsort calls, and the
 * two sorted lists are merged, in pieces on both threads (see PIECES). The result is the
 * suffix array of the whole text, entry for entry the one a single call gives, so nothing
 * downstream depends on whether the text was cut or on the thread count.
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

static int64_t cut_at(int64_t n, int t) { return n / 2 - (int64_t)t * (n / 16); }

static uint64_t tmp_bytes(int64_t h) { return (uint64_t)(h + GUARD) * sizeof(int32_t); }

uint64_t bsd_sort_tmp_bytes(int64_t n, uint64_t room) {
    if (n < SPLIT_MIN || n >= INT32_MAX) return 0;
    for (int t = 0; t < CUT_TRIES; t++)
        if (tmp_bytes(cut_at(n, t)) <= room) return tmp_bytes(cut_at(n, t));
    return 0;
}

static merger *merger_new(const unsigned char *d, int64_t n) {
    merger *mg = calloc(1, sizeof *mg);
    if (!mg) return NULL;
    mg->d = d;
    mg->n = n;
    mg->work_max = MERGE_WORK_PER_BYTE * n;
    for (int i = 0; i < DIAG_SLOTS; i++) mg->slot[i].delta = -1;
    return mg;
}

/* The merge runs in PIECES independent pieces. Piece p makes the output entries [k_p, k_p+1),
 * k_p = p n / PIECES, from a[i_p, i_p+1) and b[j_p, j_p+1) (i_p + j_p = k_p: the split where
 * the first k_p suffixes end). Before the merge, each piece's part of B moves to the back of
 * the piece's output range, to sa[i_p+1 + j] for its b[j]: a forward merge then overwrites
 * only entries it has read, and no piece touches another's range, so the pieces run on
 * either thread in any order. */
#define PIECES 8

/* The two threads' shared state: after its half of the sort, each thread takes the next task
 * until none is left. Tasks: the caller's side parts and the merge's run list (ready at once),
 * the split (once both halves are sorted), and the merge pieces (once the split is done and
 * the run list found). */
typedef struct split_sched {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const unsigned char *d;
    int32_t *sa, *ta;
    int64_t n, h, na, nb, ka;
    void (*side)(void *, int);
    void *side_arg;
    int nside, next_side; /* side tasks: the caller's parts, then the run list */
    int sorted, runs_found, split; /* split: 0 not begun, 1 running, 2 done */
    int next_piece, gave_up;
    int64_t i[PIECES + 1], j[PIECES + 1];
    merger *run_mg; /* finds and owns the run list, which each thread's merger then borrows */
} split_sched;

typedef struct sort_job {
    split_sched *sc;
    const unsigned char *d;
    int32_t *sa;
    int64_t n;
    int rc;
    merger *mg; /* this thread's merge state */
} sort_job;

/* The split point of output entry k: how many of the first k suffixes are A's. */
static int64_t merge_split(merger *mg, const int32_t *a, int64_t ka, const int32_t *b,
                           int64_t nb, int64_t h, int64_t k) {
    int64_t lo = k > nb ? k - nb : 0, hi = k < ka ? k : ka;
    while (lo < hi) {
        int64_t i = lo + (hi - lo) / 2, j = k - i; /* j >= 1 since i < hi <= k */
        if (suffix_less(mg, a[i], h + (int64_t)b[j - 1])) lo = i + 1; /* a[i] is among them */
        else hi = i;
    }
    return lo;
}

/* The split: A's list without the guard's own suffixes, the pieces' bounds, B's parts moved
 * (in piece order: a part only moves down, into room its own or earlier parts left). */
static void split_prepare(split_sched *sc, merger *mg) {
    int32_t *ta = sc->ta, *sa = sc->sa;
    int64_t ka = 0, h = sc->h;
    for (int64_t x = 0; x < sc->na; x++)
        if (ta[x] < h) ta[ka++] = ta[x];
    sc->ka = ka;
    sc->i[0] = sc->j[0] = 0;
    for (int p = 1; p < PIECES; p++) {
        int64_t k = sc->n * p / PIECES;
        sc->i[p] = merge_split(mg, ta, ka, sa + h, sc->nb, h, k);
        sc->j[p] = k - sc->i[p];
    }
    sc->i[PIECES] = ka;
    sc->j[PIECES] = sc->nb;
    for (int p = 0; p < PIECES; p++)
        memmove(sa + sc->i[p + 1] + sc->j[p], sa + h + sc->j[p],
                (size_t)(sc->j[p + 1] - sc->j[p]) * sizeof(int32_t));
}

/* Merges piece p; 0 when it gave up. */
static int merge_piece(const split_sched *sc, merger *mg, int p) {
    const unsigned char *d = sc->d;
    const int32_t *a = sc->ta;
    int32_t *out = sc->sa, *b = sc->sa + sc->i[p + 1]; /* b[j] for j in [j_p, j_p+1) */
    int64_t ia = sc->i[p], ib = sc->j[p], ie = sc->i[p + 1], je = sc->j[p + 1], h = sc->h;
    int64_t k = ia + ib;
    const int64_t PF = 32; /* entries ahead whose text is fetched: a comparison reads two places */
    while (ia < ie && ib < je && mg->work <= mg->work_max) {
        if (ia + PF < ie) __builtin_prefetch(d + a[ia + PF]);
        if (ib + PF < je) __builtin_prefetch(d + h + b[ib + PF]);
        int64_t x = a[ia], y = h + (int64_t)b[ib];
        if (suffix_less(mg, x, y)) {
            out[k++] = (int32_t)x;
            ia++;
        } else {
            out[k++] = (int32_t)y;
            ib++;
        }
    }
    if (mg->work > mg->work_max) return 0;
    while (ia < ie) out[k++] = a[ia++];
    for (; ib < je; ib++) out[k++] = (int32_t)(h + b[ib]); /* in place: k == ie + ib */
    return 1;
}

/* After this thread's half of the sort: the tasks, until none is left. */
static void run_tasks(split_sched *sc, merger *mg) {
    pthread_mutex_lock(&sc->mu);
    sc->sorted++;
    for (;;) {
        if (sc->next_side < sc->nside) {
            int k = sc->next_side++;
            pthread_mutex_unlock(&sc->mu);
            if (k < sc->nside - 1) sc->side(sc->side_arg, k);
            else find_runs(sc->run_mg);
            pthread_mutex_lock(&sc->mu);
            if (k == sc->nside - 1) {
                sc->runs_found = 1;
                pthread_cond_broadcast(&sc->cv);
            }
        } else if (sc->sorted == 2 && sc->split == 0) {
            sc->split = 1;
            pthread_mutex_unlock(&sc->mu);
            split_prepare(sc, mg);
            pthread_mutex_lock(&sc->mu);
            sc->split = 2;
            pthread_cond_broadcast(&sc->cv);
        } else if (sc->split == 2 && sc->runs_found && sc->next_piece < PIECES) {
            int p = sc->next_piece++;
            mg->run = sc->run_mg->run;
            mg->nrun = sc->run_mg->nrun;
            pthread_mutex_unlock(&sc->mu);
            int ok = merge_piece(sc, mg, p);
            pthread_mutex_lock(&sc->mu);
            if (!ok) sc->gave_up = 1;
        } else if (sc->split == 2 && sc->runs_found) {
            break; /* every piece taken */
        } else {
            pthread_cond_wait(&sc->cv, &sc->mu); /* for the other half, the split or the runs */
        }
    }
    pthread_mutex_unlock(&sc->mu);
}

static void *sort_run(void *arg) {
    sort_job *j = arg;
    j->rc = divsufsort(j->d, j->sa, (saidx_t)j->n);
    if (j->rc) { /* the other thread must not wait for a split that will not come */
        pthread_mutex_lock(&j->sc->mu);
        j->sc->gave_up = 1;
        j->sc->sorted++;
        j->sc->split = 2;
        j->sc->runs_found = 1;
        j->sc->next_piece = PIECES;
        pthread_cond_broadcast(&j->sc->cv);
        pthread_mutex_unlock(&j->sc->mu);
        return NULL;
    }
    run_tasks(j->sc, j->mg);
    return NULL;
}

int bsd_sort_split(const unsigned char *d, int64_t n, int32_t *sa, uint64_t room,
                   void (*side)(void *, int), void *side_arg, int side_parts) {
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
    split_sched sc = {.d = d, .sa = sa, .n = n, .h = h, .na = h + GUARD, .nb = n - h,
                      .side = side, .side_arg = side_arg, .nside = (side ? side_parts : 0) + 1};
    sc.ta = malloc((size_t)sc.na * sizeof(int32_t));
    merger *mg[3] = {merger_new(d, n), merger_new(d, n), merger_new(d, n)};
    int rc = 1;
    if (!sc.ta || !mg[0] || !mg[1] || !mg[2]) goto out;
    sc.run_mg = mg[2];
    pthread_mutex_init(&sc.mu, NULL);
    pthread_cond_init(&sc.cv, NULL);

    /* A on a second thread into ta, B here into the tail of sa; then the tasks */
    sort_job ja = {&sc, d, sc.ta, sc.na, 0, mg[1]}, jb = {&sc, d + h, sa + h, sc.nb, 0, mg[0]};
    pthread_t th;
    if (pthread_create(&th, NULL, sort_run, &ja) == 0) {
        sort_run(&jb);
        pthread_join(th, NULL);
        rc = ja.rc || jb.rc ? -2 : sc.gave_up ? 2 : 0;
    }
    pthread_mutex_destroy(&sc.mu);
    pthread_cond_destroy(&sc.cv);
out:
    if (mg[2]) free(mg[2]->run); /* the others only borrowed it */
    for (int k = 0; k < 3; k++) free(mg[k]);
    free(sc.ta);
    return rc;
}
