/* bsd_match.c - the matcher: turns new into segments (aligned regions of old plus diff bytes).
 * Two strategies: the full scan over the suffix array, and the block pre-match fast path for
 * near-identical inputs. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>


#include "bsd_internal.h"
#include "bsd_pbz.h"

int bsd_seglist_push(bsd_seglist *l, int64_t newp, int64_t oldp, int64_t len) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        bsd_seg *v = realloc(l->v, cap * sizeof(*v));
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (bsd_seg){newp, oldp, len};
    return 0;
}

void bsd_seglist_free(bsd_seglist *l) {
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Work bound: after this many consecutive searches that found a long match (>= STUCK_LEN) but
 * not a better alignment, the scan skips half of that match instead of re-searching byte by
 * byte. This is what keeps periodic data and long runs linear. */
#define STUCK_LEN 32
/* Chunk start: window scored around it, probes before it and their spacing. */
#define START_WIN 2048
#define START_PROBES 8
#define START_STEP 1024
#define STUCK_MAX 16

/* Bytes that differ between the words a and b: one flag bit per non-zero byte of a ^ b, summed
 * by a multiplication (no libgcc popcount call on baseline x86-64). */
static inline int64_t word_mism(uint64_t a, uint64_t b) {
    uint64_t x = a ^ b;
    x |= x >> 4;
    x |= x >> 2;
    x |= x >> 1;
    return (int64_t)(((x & 0x0101010101010101ull) * 0x0101010101010101ull) >> 56);
}

/* Mismatches of nw[a, b) against old[a+d, ...): bytes outside old count as mismatches. */
static int64_t count_mism(const unsigned char *old, int64_t oldsize, const unsigned char *nw,
                          int64_t a, int64_t b, int64_t d) {
    int64_t mism = 0;
    if (a + d < 0) {
        int64_t k = -d - a;
        if (k > b - a) k = b - a;
        mism += k;
        a += k;
    }
    int64_t lim = oldsize - d;
    if (b > lim) {
        int64_t k = b - (a > lim ? a : lim);
        mism += k;
        b -= k;
    }
    int64_t i = a;
    for (; i + 32 <= b; i += 32) { /* near-identical inputs: mostly equal blocks */
        uint64_t x0 = bsd_load64(nw + i) ^ bsd_load64(old + i + d);
        uint64_t x1 = bsd_load64(nw + i + 8) ^ bsd_load64(old + i + d + 8);
        uint64_t x2 = bsd_load64(nw + i + 16) ^ bsd_load64(old + i + d + 16);
        uint64_t x3 = bsd_load64(nw + i + 24) ^ bsd_load64(old + i + d + 24);
        if (x0 | x1 | x2 | x3)
            mism += word_mism(x0, 0) + word_mism(x1, 0) + word_mism(x2, 0) + word_mism(x3, 0);
    }
    for (; i + 8 <= b; i += 8) mism += word_mism(bsd_load64(nw + i), bsd_load64(old + i + d));
    for (; i < b; i++) mism += nw[i] != old[i + d];
    return mism;
}

/* Classic bsdiff extension: the longest prefix of a region in which at least half the bytes
 * agree (forward from the previous match), the same backward from the next match, and the best
 * split point when the two overlap. Returns lenf and lenb through pointers. */
static void extend_pair(const unsigned char *old, int64_t oldsize, const unsigned char *nw,
                        int64_t lastscan, int64_t lastpos, int64_t scan, int64_t pos,
                        int has_next, int64_t *plenf, int64_t *plenb) {
    /* The score s * 2 - i moves by one per byte, so bytes are taken many at once, with the
     * same result as byte by byte: a whole run of equal bytes (the best moves to its end or
     * stays), or eight when the score is at least eight below the best (none of them can
     * become the best). */
    int64_t s = 0, sf = 0, lenf = 0, lenb = 0;
    int64_t fend = scan - lastscan < oldsize - lastpos ? scan - lastscan : oldsize - lastpos;
    for (int64_t i = 0; i < fend;) {
        uint64_t a, b;
        if (i + 8 <= fend &&
            (a = bsd_load64(old + lastpos + i)) == (b = bsd_load64(nw + lastscan + i))) {
            /* near-identical inputs extend over megabytes of equal runs */
            int64_t k = 8 + bsd_matchlen(old + lastpos + i + 8, fend - i - 8, nw + lastscan + i + 8,
                                         fend - i - 8);
            s += k;
            i += k;
        } else if (i + 8 <= fend && s * 2 - i + 8 <= sf * 2 - lenf) {
            s += 8 - word_mism(a, b);
            i += 8;
        } else {
            s += old[lastpos + i] == nw[lastscan + i];
            i++;
        }
        if (s * 2 - i > sf * 2 - lenf) {
            sf = s;
            lenf = i;
        }
    }
    if (has_next) {
        /* i = bytes taken so far, going back from scan and pos */
        int64_t sb = 0, bend = scan - lastscan < pos ? scan - lastscan : pos;
        s = 0;
        for (int64_t i = 0; i < bend;) {
            uint64_t a, b;
            if (i + 8 <= bend &&
                (a = bsd_load64(old + pos - i - 8)) == (b = bsd_load64(nw + scan - i - 8))) {
                int64_t k =
                    8 + bsd_matchlen_back(old + pos - i - 8, nw + scan - i - 8, bend - i - 8);
                s += k;
                i += k;
            } else if (i + 8 <= bend && s * 2 - i + 8 <= sb * 2 - lenb) {
                s += 8 - word_mism(a, b);
                i += 8;
            } else {
                s += old[pos - i - 1] == nw[scan - i - 1];
                i++;
            }
            if (s * 2 - i > sb * 2 - lenb) {
                sb = s;
                lenb = i;
            }
        }
    }
    if (lastscan + lenf > scan - lenb) {
        int64_t overlap = (lastscan + lenf) - (scan - lenb), ss = 0, lens = 0;
        s = 0;
        for (int64_t i = 0; i < overlap; i++) {
            if (nw[lastscan + lenf - overlap + i] == old[lastpos + lenf - overlap + i]) s++;
            if (nw[scan - lenb + i] == old[pos - lenb + i]) s--;
            if (s > ss) {
                ss = s;
                lens = i + 1;
            }
        }
        lenf += lens - overlap;
        lenb -= lens;
    }
    *plenf = lenf;
    *plenb = lenb;
}

/* The cover matcher's suffix array answers, in position order, for the classic scan that
 * runs over the same chunk next: on libvips 8.15.1 -> 8.15.2 they answer 88K of the 261K
 * searches the classic scan would make. At most MEMO_MAX a chunk. */
typedef struct bsd_memo {
    struct memo_ent {
        int64_t at, len, pos;
    } * v;
    size_t n, cap;
} bsd_memo;

#define MEMO_MAX 65536

static void memo_push(bsd_memo *m, int64_t at, const bsd_known *k) {
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 1024;
        void *p = nc <= MEMO_MAX ? realloc(m->v, nc * sizeof(*m->v)) : NULL;
        if (!p) return; /* a shorter memo only means more searches */
        m->v = p;
        m->cap = nc;
    }
    m->v[m->n++] = (struct memo_ent){at, k->len, k->pos};
}

/* The filter's answers for the next positions a scan looks at, read MASK_RUN at a time: their
 * cache misses then overlap instead of coming one after another. */
#define MASK_RUN 16
typedef struct filter_run {
    int64_t at[MASK_RUN];
    uint32_t mask;
    int n, k; /* answers for at[0, n); the next unused at[k] */
} filter_run;

/* 0 when no match of BSD_QGRAM bytes or more starts at chunk position q (of n) in the suffix
 * array's text. Positions are asked in increasing order; a new run of answers is read for q,
 * then q + step and on, the step growing by one up to step_max after each (the cover
 * matcher's stride over unmatched bytes; the classic scan steps by one). */
static int filter_maybe(const bsd_finder *f, filter_run *r, const unsigned char *nw, int64_t n,
                        int64_t q, int64_t step, int64_t step_max) {
    while (r->k < r->n && r->at[r->k] < q) r->k++;
    if (r->k == r->n || r->at[r->k] != q) {
        r->n = r->k = 0;
        for (int64_t p = q; r->n < MASK_RUN && p <= n - BSD_QGRAM; r->n++) {
            r->at[r->n] = p;
            p += step;
            if (step < step_max) step++;
        }
        r->mask = r->n ? bsd_sa_maybe_at(f->sa, nw, r->at, r->n) : 0;
    }
    if (r->k < r->n && r->at[r->k] == q) return r->mask >> r->k++ & 1;
    return 0; /* fewer than BSD_QGRAM bytes left */
}

/* The scan of bsdiff 4.x (see ANCHORS.md) over new[cs, ce), with four changes: matches shorter
 * than BSD_QGRAM are ignored (the q-gram filter skips their search), the gain a new alignment
 * must show is a parameter, the stuck bound above, and inside a match just found the rest of
 * it is the answer (classic_find). Positions inside are relative to cs. The scan can pause and
 * go on (classic_run): its state between matches is this. */
typedef struct classic_st {
    int64_t scan, len, pos, lastscan, lastpos, lastoffset;
    size_t acur; /* cursor into the anchors (bsd_find) */
    int64_t run_s, run_e, run_d; /* the last match found: new[run_s, run_e) at old offset run_d */
    filter_run filt;
    const bsd_memo *memo;
    size_t mcur;
} classic_st;

int bsd_scan_shortcuts = 2;

/* The classic scan's search at chunk position q.
 *
 * The scan mostly moves through a match it has just found, new[s, e) == old[s + d, e + d), a
 * position at a time. There it takes the match's rest, e - q bytes at q + d, as the answer
 * while at least BSD_QGRAM bytes are left, without a search. A longer match at such a q
 * would run past e; the scan meets it at the positions after the rest, where it searches
 * again. This is where the scan departs from bsdiff 4.x's, which searches every position:
 * 88% of those searches gave the rest anyway (libvips 8.15.1 -> 8.15.2). On the corpus the
 * patches came out 6,109 bytes smaller in all for BSDELTA and 519 for BSDIFF40 (four pairs
 * changed; the largest loss, libvips's BSDELTA patch, 324 bytes), and libvips and biome took
 * 4-5% less CPU. Over parts of old (near-identical inputs, whose scans are short anyway) it
 * cost swc's BSDIFF40 patch 2.2 KB: there every position is searched.
 *
 * Two shortcuts that change no answer (bsd_scan_shortcuts 0 turns them off, 1 keeps only
 * them):
 * 1. the cover matcher searched q already (the memo);
 * 2. the filter rules q's first BSD_QGRAM bytes out (filter_maybe). */
static int64_t classic_find(const bsd_finder *f, const unsigned char *nw, int64_t cs, int64_t n,
                            int64_t q, int64_t *pos, classic_st *st) {
    bsd_known k = {0, 0, 0};
    if (f->sa && !f->nparts && bsd_scan_shortcuts > 1 && q > st->run_s &&
        q + BSD_QGRAM <= st->run_e) {
        k = (bsd_known){st->run_e - q, q + st->run_d, 1};
        return bsd_find(f, cs + q, nw + q, n - q, pos, &st->acur, &k);
    }
    const bsd_memo *m = st->memo;
    if (m && bsd_scan_shortcuts) {
        while (st->mcur < m->n && m->v[st->mcur].at < cs + q) st->mcur++;
        if (st->mcur < m->n && m->v[st->mcur].at == cs + q)
            k = (bsd_known){m->v[st->mcur].len, m->v[st->mcur].pos, 1};
    }
    if (!k.have && f->sa && bsd_scan_shortcuts && !filter_maybe(f, &st->filt, nw, n, q, 1, 1))
        k.have = 1;
    int64_t len = bsd_find(f, cs + q, nw + q, n - q, pos, &st->acur, k.have ? &k : NULL);
    if (len > BSD_QGRAM) {
        st->run_s = q;
        st->run_e = q + len;
        st->run_d = *pos - q;
    }
    return len;
}

static void classic_begin(const bsd_finder *f, const unsigned char *nw_all, int64_t cs,
                          int64_t ce, classic_st *st) {
    const unsigned char *old = f->o->data;
    int64_t oldsize = f->o->size, n = ce - cs;
    memset(st, 0, sizeof(*st));
    if (cs > 0 && n > 0) {
        /* A chunk after the first starts from the alignment a scan of all of new would most
         * likely carry into it: of the identity, the first long match of the chunk, and the
         * long matches found shortly before it, the one under which the bytes around the chunk
         * start agree most (a long approximate alignment, such as a table of relocated
         * pointers, is otherwise lost at every chunk start). This depends only on the data, so
         * every split of the work agrees. */
        int64_t best_d = 0, best_s = -1;
        int64_t wlo = cs - START_WIN, whi = cs + START_WIN;
        if (wlo < 0) wlo = 0;
        if (whi > ce) whi = ce;
        for (int k = -1; k <= START_PROBES; k++) {
            int64_t d, p, at = cs - (k > 0 ? (int64_t)k * START_STEP : 0);
            if (k < 0) {
                d = 0;
            } else {
                if (at < 0) break;
                if (bsd_find(f, at, nw_all + at, ce - at, &p, NULL, NULL) <= 0) continue;
                d = p - at;
            }
            int64_t sc = 0;
            for (int64_t i = wlo; i < whi; i++)
                sc += i + d >= 0 && i + d < oldsize && old[i + d] == nw_all[i];
            if (sc > best_s) {
                best_s = sc;
                best_d = d;
            }
        }
        st->lastpos = cs + best_d; /* old position of chunk position 0 */
        st->lastoffset = cs + best_d;
    }
}

/* Runs the scan on from *st. Returns 1, with *st saved, as soon as a match at or past the
 * chunk position pause is settled (segments before it are in out); 0 at the end of the chunk;
 * -1 out of memory. */
static int classic_run(const bsd_finder *f, const unsigned char *nw_all, int64_t cs, int64_t ce,
                       const bsd_scan_params *prm, bsd_seglist *out, classic_st *st,
                       int64_t pause) {
    const bsd_old *o = f->o;
    const unsigned char *old = o->data, *nw = nw_all + cs;
    int64_t oldsize = o->size, n = ce - cs;
    int64_t scan = st->scan, len = st->len, pos = st->pos, lastscan = st->lastscan,
            lastpos = st->lastpos, lastoffset = st->lastoffset;
    int64_t gain = prm->min_gain;
    int rc = 0;
#define MATCHES(i) ((i) + lastoffset >= 0 && (i) + lastoffset < oldsize && old[(i) + lastoffset] == nw[i])
    while (scan < n) {
        if (scan >= pause) {
            rc = 1;
            break;
        }
        int64_t oldscore = 0, scsc;
        int stuck = 0;
        for (scsc = scan += len; scan < n; scan++) {
            len = classic_find(f, nw, cs, n, scan, &pos, st);
            if (scsc < scan + len) {
                oldscore += scan + len - scsc - count_mism(old, oldsize, nw, scsc, scan + len,
                                                           lastoffset);
                scsc = scan + len;
            }
            if ((len == oldscore && len != 0) || len > oldscore + gain) break;
            if (MATCHES(scan)) oldscore--;
            if (len >= STUCK_LEN && ++stuck >= STUCK_MAX) {
                for (int64_t skip = len / 2; skip > 0 && scan + 1 < n; skip--) {
                    scan++;
                    if (MATCHES(scan)) oldscore--;
                }
                stuck = 0;
            }
        }
        if (len != oldscore || scan == n) {
            int64_t lenf, lenb;
            extend_pair(old, oldsize, nw, lastscan, lastpos, scan, pos, scan < n, &lenf, &lenb);
            if (lenf > 0 && bsd_seglist_push(out, cs + lastscan, lastpos, lenf)) return -1;
            lastscan = scan - lenb;
            lastpos = pos - lenb;
            lastoffset = pos - scan;
        }
    }
#undef MATCHES
    st->scan = scan;
    st->len = len;
    st->pos = pos;
    st->lastscan = lastscan;
    st->lastpos = lastpos;
    st->lastoffset = lastoffset;
    return rc;
}

int bsd_scan_chunk(const bsd_finder *f, const unsigned char *nw_all, int64_t cs, int64_t ce,
                   const bsd_scan_params *prm, bsd_seglist *out) {
    classic_st st;
    classic_begin(f, nw_all, cs, ce, &st);
    return classic_run(f, nw_all, cs, ce, prm, out, &st, INT64_MAX) < 0 ? -1 : 0;
}

/* Block pre-match. Walks new keeping the current alignment while it matches exactly; where it
 * stops, looks the next BSD_BLOCK bytes up in old's block table, and extends a hit both ways.
 * Gives up once an eighth of new (at least 1 MiB) has been seen with more than 60% of it
 * unmatched: such inputs gain nothing from anchors.
 *
 * On two threads the second half of new is walked at the same time from its start, recording
 * the walk's state after each anchor. Where the walk from the start, past the middle, ends an
 * anchor in a recorded state (same position and alignment; the give-up test already made),
 * the two walks go on identically, so the second walk's anchors from there are the ones the
 * first would find: the result is the one-thread walk's, anchor for anchor. */
typedef struct pm_event {
    int64_t p, off;
    size_t nanc; /* anchors found up to it; the last ends at p */
} pm_event;

typedef struct pm_walk {
    const bsd_old *o;
    const unsigned char *nw;
    int64_t m, p, off, last_end, uncovered, check_at;
    bsd_seglist anc;
    pm_event *ev; /* kept by the second walk only */
    size_t nev, evcap;
    atomic_int *stop; /* set when the second walk is no longer needed */
    int rc;           /* of the second walk: 1 done, 0 stopped, -1 no memory */
} pm_walk;

/* The block table knows one occurrence of a block: the first at a multiple of its stride. After
 * an edit that shifts the alignment by a few bytes, that occurrence is often another copy
 * (repeated code or text, a file held twice in an archive) while the block also lies a few
 * bytes from where the current alignment puts it. Within PM_NEAR bytes of that place, the
 * nearest occurrence (at any offset) is taken instead of the jump: the anchors then follow
 * old's layout, the parts of old left unused (which the restricted index sorts) shrink, and
 * seeks stay short. typescript 5.4 -> 5.5: BSDIFF40 patch 591 KB -> 518 KB. Wider windows
 * found fewer: a copy farther off is more often an unrelated repeat. */
#define PM_NEAR 32
#define PM_NEAR_CMP 4096 /* how far the two places' matches are compared */

static int64_t pm_nearer(const bsd_old *o, const unsigned char *blk, int64_t blen, int64_t q,
                         int64_t pred) {
    int64_t n = o->size;
    if (q >= pred - PM_NEAR && q <= pred + PM_NEAR) return q;
    int64_t lo = pred - PM_NEAR, hi = pred + PM_NEAR;
    if (lo < 0) lo = 0;
    if (hi > n - BSD_BLOCK) hi = n - BSD_BLOCK;
    uint64_t w0 = bsd_load64(blk);
    int64_t best = -1, bd = INT64_MAX;
    for (int64_t x = lo; x <= hi; x++) {
        if (bsd_load64(o->data + x) != w0 || memcmp(o->data + x, blk, BSD_BLOCK)) continue;
        int64_t d = x > pred ? x - pred : pred - x;
        if (d < bd) {
            bd = d;
            best = x;
        }
    }
    if (best < 0) return q;
    /* ... unless it matches less far than the table's (in runs of one byte, every place
     * nearby matches briefly, the table's place far) */
    int64_t cap = blen < PM_NEAR_CMP ? blen : PM_NEAR_CMP;
    int64_t lb = bsd_matchlen(blk, cap, o->data + best, n - best);
    return lb >= bsd_matchlen(blk, cap, o->data + q, n - q) ? best : q;
}

/* One step: 1 an anchor now ends at w->p, 0 a byte went unmatched, 2 gave up, -1 no memory. */
static int pm_step(pm_walk *w) {
    const unsigned char *old = w->o->data, *nw = w->nw;
    int64_t n = w->o->size, m = w->m, p = w->p, off = w->off;
    bsd_seglist *anc = &w->anc;
    if (p + off >= 0 && p + off < n) {
        int64_t l = bsd_matchlen(nw + p, m - p, old + p + off, n - p - off);
        if (l >= 16 || (l > 0 && (p + l == m || p + off + l == n))) {
            if (anc->n && anc->v[anc->n - 1].oldp - anc->v[anc->n - 1].newp == off &&
                anc->v[anc->n - 1].newp + anc->v[anc->n - 1].len == p)
                anc->v[anc->n - 1].len += l;
            else if (bsd_seglist_push(anc, p, p + off, l))
                return -1;
            w->p = w->last_end = p + l;
            return 1;
        }
    }
    if (p + BSD_BLOCK <= m) {
        if (p + 8 + BSD_BLOCK <= m) bsd_block_prefetch(w->o, nw + p + 8);
        int64_t q = bsd_block_lookup(w->o, nw + p);
        if (q >= 0) q = pm_nearer(w->o, nw + p, m - p, q, p + off);
        if (q >= 0) {
            int64_t b = 0;
            while (p - b > w->last_end && q - b > 0 && nw[p - b - 1] == old[q - b - 1]) b++;
            w->off = q - p;
            int64_t start = p - b;
            int64_t l = b + BSD_BLOCK +
                        bsd_matchlen(nw + p + BSD_BLOCK, m - p - BSD_BLOCK, old + q + BSD_BLOCK,
                                     n - q - BSD_BLOCK);
            if (bsd_seglist_push(anc, start, start + w->off, l)) return -1;
            w->uncovered -= b;
            w->p = w->last_end = start + l;
            return 1;
        }
    }
    w->p = ++p;
    w->uncovered++;
    if (p >= w->check_at) {
        if (w->uncovered * 10 > p * 6) return 2;
        w->check_at = m + 1;
    }
    return 0;
}

static void *pm_second(void *arg) {
    pm_walk *w = arg;
    w->rc = 1;
    while (w->p < w->m) {
        if (atomic_load_explicit(w->stop, memory_order_relaxed)) {
            w->rc = 0;
            break;
        }
        int r = pm_step(w);
        if (r < 0) {
            w->rc = -1;
            break;
        }
        if (r == 1) {
            if (w->nev == w->evcap) {
                size_t nc = w->evcap ? 2 * w->evcap : 256;
                pm_event *e = realloc(w->ev, nc * sizeof(*e));
                if (!e) {
                    w->rc = -1;
                    break;
                }
                w->ev = e;
                w->evcap = nc;
            }
            w->ev[w->nev++] = (pm_event){w->p, w->off, w->anc.n};
        }
    }
    return NULL;
}

/* Below this size of new the pre-match runs on one thread. */
#define PM_SPLIT_MIN ((int64_t)2 << 20)

int bsd_prematch(const bsd_old *o, const unsigned char *nw, int64_t m, unsigned threads,
                 bsd_seglist *anc) {
    anc->n = 0;
    if (o->size < BSD_BLOCK || m < BSD_BLOCK || !o->blk_table) return 1;
    atomic_int stop = 0;
    pm_walk a = {.o = o, .nw = nw, .m = m, .anc = *anc, .stop = &stop};
    a.check_at = m / 8 > ((int64_t)1 << 20) ? m / 8 : ((int64_t)1 << 20);
    int64_t half = m / 2;
    pm_walk b = {.o = o, .nw = nw, .m = m, .p = half, .last_end = half, .check_at = m + 1,
                 .stop = &stop};
    pthread_t th;
    int two = threads > 1 && m >= PM_SPLIT_MIN && pthread_create(&th, NULL, pm_second, &b) == 0;
    int rc = 1, joined = !two;
    size_t k = 0; /* the second walk's next event */
    while (a.p < m) {
        int r = pm_step(&a);
        if (r < 0 || r == 2) {
            rc = r < 0 ? -1 : 0;
            break;
        }
        if (r != 1 || a.p < half || a.check_at <= m) continue;
        if (!joined) {
            pthread_join(th, NULL);
            joined = 1;
            if (b.rc != 1) b.nev = 0; /* no use */
        }
        while (k < b.nev && b.ev[k].p < a.p) k++;
        if (k < b.nev && b.ev[k].p == a.p && b.ev[k].off == a.off) {
            /* the walks meet: the rest is the second walk's */
            const bsd_seg *g = &b.anc.v[b.ev[k].nanc - 1];
            a.anc.v[a.anc.n - 1].len += g->newp + g->len - a.p;
            for (size_t i = b.ev[k].nanc; i < b.anc.n && rc > 0; i++)
                if (bsd_seglist_push(&a.anc, b.anc.v[i].newp, b.anc.v[i].oldp, b.anc.v[i].len))
                    rc = -1;
            break;
        }
    }
    atomic_store_explicit(&stop, 1, memory_order_relaxed);
    if (!joined) pthread_join(th, NULL);
    bsd_seglist_free(&b.anc);
    free(b.ev);
    *anc = a.anc;
    if (rc == 0) anc->n = 0;
    return rc;
}

/* ---------------- cover-based matcher ----------------
 * 1. Covers: exact matches found left to right. At each position the alignments of the last
 *    few covers are tried first (a plain compare); the suffix array is searched only when none
 *    of them matches far. After a miss the position advances by a growing stride; the next
 *    cover is extended backwards exactly, which recovers the bytes skipped.
 * 2. Selection: a shortest path over the covers. Going from cover i to a later cover j costs a
 *    command plus the gap as literal bytes when their alignments differ, or the gap as diff
 *    bytes (mismatches expensive, matches nearly free) when they share an alignment; covers in
 *    between may be skipped.
 * 3. The chosen covers on one alignment become one segment; segments on different alignments
 *    are extended into the gap between them where that is cheaper than literal bytes. */

typedef struct cover {
    int64_t s, d, len; /* new[s, s+len) == old[s+d, s+d+len), chunk-relative s */
} cover;

static int cover_push(cover **v, size_t *n, size_t *cap, cover c) {
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 1024;
        cover *p = realloc(*v, nc * sizeof(*p));
        if (!p) return -1;
        *v = p;
        *cap = nc;
    }
    (*v)[(*n)++] = c;
    return 0;
}

#define NREC 4


int bsd_scan_chunk2(const bsd_finder *f, const unsigned char *nw_all, int64_t cs, int64_t ce,
                    const bsd_scan_params *prm, bsd_seglist *out, bsd_memo *memo) {
    const unsigned char *old = f->o->data, *nw = nw_all + cs;
    int64_t oldsize = f->o->size, n = ce - cs;
    cover *cv = NULL;
    size_t nc = 0, cap = 0;
    int64_t rec[NREC];
    int nrec = 0;
    int rc = -1;
    size_t acur = 0; /* cursor into the anchors (bsd_find) */
    filter_run filt = {{0}, 0, 0, 0};
    int filt_on = f->sa && bsd_scan_shortcuts;

    /* 1. covers */
    int64_t i = 0, pe = 0, step = 1;
    while (i < n) {
        int64_t bl = 0, bd = 0;
        for (int r = 0; r < nrec; r++) {
            int64_t o = i + rec[r];
            if (o < 0 || o >= oldsize) continue;
            int64_t l = bsd_matchlen(nw + i, n - i, old + o, oldsize - o);
            if (l > bl) {
                bl = l;
                bd = rec[r];
            }
        }
        if (bl < prm->trust) {
            int64_t pos;
            bsd_known k = {0, 0, 0};
            if (filt_on && !filter_maybe(f, &filt, nw, n, i, step, prm->stride_max)) k.have = 1;
            int have = k.have;
            int64_t l = bsd_find(f, cs + i, nw + i, n - i, &pos, &acur, &k);
            if (k.have && !have && memo) memo_push(memo, cs + i, &k);
            if (l > bl + (bl ? prm->margin : 0)) {
                bl = l;
                bd = pos - i;
            }
        }
        if (bl >= prm->min_cover) {
            int64_t b = 0;
            while (i - b > pe && i - b + bd > 0 && nw[i - b - 1] == old[i - b - 1 + bd]) b++;
            cover c = {i - b, bd, bl + b};
            if (nc && cv[nc - 1].d == bd && cv[nc - 1].s + cv[nc - 1].len == c.s)
                cv[nc - 1].len += c.len;
            else if (cover_push(&cv, &nc, &cap, c))
                goto out;
            pe = i + bl;
            i = pe;
            int r = 0;
            while (r < nrec && rec[r] != bd) r++;
            if (r == nrec && nrec < NREC) nrec++;
            if (r == NREC) r = NREC - 1;
            memmove(rec + 1, rec, (size_t)r * sizeof(rec[0]));
            rec[0] = bd;
            step = 1;
        } else {
            i += step;
            if (step < prm->stride_max) step++;
        }
    }

    /* 2. shortest path over covers */
    const size_t W = (size_t)prm->window;
    int64_t *cost = malloc((nc + 1) * sizeof(int64_t));
    int64_t *prev = malloc((nc + 1) * sizeof(int64_t));
    int64_t *link = malloc((W + 1) * sizeof(int64_t));
    if (!cost || !prev || !link) {
        free(cost);
        free(prev);
        free(link);
        goto out;
    }
    const int64_t C_CMD = prm->c_cmd, C_LIT = prm->c_lit, C_MIS = prm->c_mis,
                  C_MATCH = prm->c_match;
    for (size_t j = 0; j < nc; j++) {
        int64_t best = C_CMD + cv[j].s * C_LIT, bp = -1;
        size_t k0 = j > W ? j - W : 0;
        /* Link costs from the nearest cover back: covers do not overlap and are sorted, so the
         * mismatches of a gap on cover j's alignment extend those of the nearer gap (one pass
         * over the widest gap instead of one per earlier cover). */
        int64_t counted_from = cv[j].s, mm = 0;
        for (size_t k = j; k-- > k0;) {
            int64_t e = cv[k].s + cv[k].len, gap = cv[j].s - e;
            if (cv[k].d != cv[j].d) {
                link[k - k0] = C_CMD + gap * C_LIT;
            } else if (gap > prm->max_merge) {
                link[k - k0] = -1;
            } else {
                mm += count_mism(old, oldsize, nw, e, counted_from, cv[j].d);
                counted_from = e;
                link[k - k0] = mm * C_MIS + (gap - mm) * C_MATCH;
            }
        }
        for (size_t k = k0; k < j; k++) {
            int64_t t = link[k - k0];
            if (t >= 0 && cost[k] + t < best) {
                best = cost[k] + t;
                bp = (int64_t)k;
            }
        }
        cost[j] = best + cv[j].len * C_MATCH;
        prev[j] = bp;
    }
    int64_t best = n * C_LIT, last = -1;
    for (size_t j = 0; j < nc; j++) {
        int64_t c = cost[j] + (n - cv[j].s - cv[j].len) * C_LIT;
        if (c < best) {
            best = c;
            last = (int64_t)j;
        }
    }
    /* walk back, marking the chosen covers in prev[] as a forward chain */
    size_t nsel = 0;
    for (int64_t j = last; j >= 0; j = prev[j]) nsel++;
    int64_t *sel = cost; /* reuse: cost[] is no longer needed */
    {
        size_t k = nsel;
        for (int64_t j = last; j >= 0; j = prev[j]) sel[--k] = j;
    }

    /* 3. segments: join same-alignment covers, extend into the gaps */
    int64_t wa = prm->ext_match, wb = prm->ext_mism;
    int64_t seg_s = 0, seg_e = 0, seg_d = 0, have = 0, floor_s = 0;
    for (size_t q = 0; q <= nsel; q++) {
        int64_t ns = n, nd = 0, ne = n;
        if (q < nsel) {
            const cover *c = &cv[sel[q]];
            ns = c->s;
            nd = c->d;
            ne = c->s + c->len;
            if (have && nd == seg_d) {
                seg_e = ne;
                continue;
            }
        }
        /* gap [seg_e, ns) between the current segment (if any) and the next cover (if any) */
        int64_t lenf = 0, lenb = 0;
        if (have) {
            int64_t sc = 0, bestsc = 0;
            for (int64_t k = 0; seg_e + k < ns && seg_e + k + seg_d < oldsize; k++) {
                sc += nw[seg_e + k] == old[seg_e + k + seg_d] ? wa : -wb;
                if (sc > bestsc) {
                    bestsc = sc;
                    lenf = k + 1;
                }
                if (sc < bestsc - 64 * wb) break;
            }
        }
        if (q < nsel) {
            int64_t sc = 0, bestsc = 0, lo = have ? seg_e : floor_s;
            for (int64_t k = 1; ns - k >= lo && ns - k + nd >= 0; k++) {
                sc += nw[ns - k] == old[ns - k + nd] ? wa : -wb;
                if (sc > bestsc) {
                    bestsc = sc;
                    lenb = k;
                }
                if (sc < bestsc - 64 * wb) break;
            }
        }
        if (have && seg_e + lenf > ns - lenb) {
            /* overlap: split where the forward side's advantage peaks */
            int64_t ov = seg_e + lenf - (ns - lenb), s = 0, ss = 0, lens = 0;
            int64_t base = ns - lenb;
            for (int64_t k = 0; k < ov; k++) {
                if (nw[base + k] == old[base + k + seg_d]) s++;
                if (nw[base + k] == old[base + k + nd]) s--;
                if (s > ss) {
                    ss = s;
                    lens = k + 1;
                }
            }
            lenf = base + lens - seg_e;
            lenb = ns - (base + lens);
        }
        if (have && bsd_seglist_push(out, cs + seg_s, seg_s + seg_d, seg_e + lenf - seg_s)) {
            free(cost);
            free(prev);
            free(link);
            goto out;
        }
        if (q < nsel) {
            seg_s = ns - lenb;
            seg_e = ne;
            seg_d = nd;
            have = 1;
        }
    }
    free(cost);
    free(prev);
    free(link);
    rc = 0;
out:
    free(cv);
    return rc;
}

/* Literal cost for new[0, n): compressed-looking data (a near-uniform byte histogram) costs a
 * full byte per literal, anything else the configured estimate. */
static int64_t lit_cost(const unsigned char *nw, int64_t n, int64_t dflt) {
    if (n < 4096) return dflt;
    uint32_t h[256] = {0};
    for (int64_t i = 0; i < n; i++) h[nw[i]]++;
    /* a flat histogram: sum of squared counts within 5% of a uniform one's */
    double sq = 0;
    for (int k = 0; k < 256; k++) sq += (double)h[k] * (double)h[k];
    return sq * 256.0 < (double)n * (double)n * 1.05 ? 16 : dflt;
}

#define FEW_LIT 1024
#define CHOOSE_MIS 4
#define FIRST_LIT_COST 320

/* Estimated patch bytes (1/16 units) of segments v[0, k) covering new[cs, ce). */
static int64_t seg_cost(const bsd_old *o, const unsigned char *nw_all, int64_t cs, int64_t ce,
                        const bsd_seg *v, size_t k, const bsd_scan_params *prm, int64_t c_lit) {
    int64_t c = 0, covered = 0;
    for (size_t i = 0; i < k; i++) {
        int64_t mm = count_mism(o->data, o->size, nw_all, v[i].newp, v[i].newp + v[i].len,
                                v[i].oldp - v[i].newp);
        c += prm->c_cmd + mm * prm->c_mis + (v[i].len - mm) * prm->c_match;
        covered += v[i].len;
    }
    int64_t lit = ce - cs - covered;
    /* A few literal bytes cost far more than many do per byte: the first ones start the extra
     * stream's Huffman tables. This is what lets near-identical pairs end with no literals. */
    int64_t few = lit < FEW_LIT ? lit : FEW_LIT;
    return c + lit * c_lit + few * (16 - c_lit) + (lit ? FIRST_LIT_COST : 0);
}

static int count_write(void *opaque, const void *buf, size_t len) {
    (void)buf;
    *(uint64_t *)opaque += len;
    return 0;
}

/* Compressed size of p[0, n) as the patch writer would compress it (one thread here: the
 * trial compressions of several chunks already run side by side). */
static int64_t bz_size(const unsigned char *p, size_t n) {
    if (!n) return 0;
    uint64_t bytes = 0;
    bsd_pbz *z = bsd_pbz_create(NULL, 1, 9, BSD_PBZ_MEASURE, count_write, &bytes);
    if (!z) return -1;
    int e = bsd_pbz_write(z, p, n);
    if (!e) e = bsd_pbz_finish(z);
    bsd_pbz_free(z);
    return e ? -1 : (int64_t)bytes;
}

/* Disagreement windows: where two segment lists over new[cs, ce) take a byte differently
 * (another alignment, or literal against matched), widened by DIFFER_MARGIN on each side for
 * the compressor's context, merged, as [start, end) pairs. Elsewhere both candidates write the
 * same diff or extra bytes, so only the windows can make their compressed sizes differ. */
#define DIFFER_MARGIN 4096
#define DIFFER_WINDOWS 256

/* Alignment (old - new) of new position p under l (from index *k on), or INT64_MIN when p is
 * literal; *next = where that answer can change. */
static int64_t seg_at(const bsd_seglist *l, size_t *k, int64_t p, int64_t ce, int64_t *next) {
    while (*k < l->n && l->v[*k].newp + l->v[*k].len <= p) (*k)++;
    if (*k < l->n && l->v[*k].newp <= p) {
        *next = l->v[*k].newp + l->v[*k].len;
        return l->v[*k].oldp - l->v[*k].newp;
    }
    *next = *k < l->n ? l->v[*k].newp : ce;
    return INT64_MIN;
}

static size_t differ_windows(const bsd_seglist *a, const bsd_seglist *b, int64_t cs, int64_t ce,
                             int64_t *win, size_t cap) {
    size_t ka = 0, kb = 0, nw = 0;
    for (int64_t p = cs; p < ce;) {
        int64_t na, nb;
        int64_t da = seg_at(a, &ka, p, ce, &na), db = seg_at(b, &kb, p, ce, &nb);
        int64_t q = na < nb ? na : nb;
        if (da != db) {
            int64_t lo = p - DIFFER_MARGIN > cs ? p - DIFFER_MARGIN : cs;
            int64_t hi = q + DIFFER_MARGIN < ce ? q + DIFFER_MARGIN : ce;
            if (nw && win[2 * nw - 1] >= lo) {
                win[2 * nw - 1] = hi;
            } else if (nw == cap) { /* too many to list: the whole chunk */
                win[0] = cs;
                win[1] = ce;
                return 1;
            } else {
                win[2 * nw] = lo;
                win[2 * nw + 1] = hi;
                nw++;
            }
        }
        p = q;
    }
    return nw;
}

/* Compressed size of the candidate l in the windows: its control words (all of them), and
 * its diff and extra bytes inside the windows, each stream compressed alone as in BSDIFF40
 * (1/16 byte units like seg_cost); -1 out of memory. */
static int64_t real_cost(const bsd_old *o, const unsigned char *nw, const bsd_seglist *l,
                         const int64_t *win, size_t nwin) {
    size_t n = 0;
    for (size_t k = 0; k < nwin; k++) n += (size_t)(win[2 * k + 1] - win[2 * k]);
    unsigned char *d = malloc(n ? n : 1), *x = malloc(n ? n : 1);
    unsigned char *c = malloc((l->n + 1) * 24);
    int64_t r = -1;
    if (!d || !x || !c) goto out;
    size_t dn = 0, xn = 0, cn = 0;
    int64_t prev_end_old = 0;
    for (size_t i = 0; i < l->n; i++) {
        const bsd_seg *g = &l->v[i];
        int64_t v3[3] = {g->len, 0, g->oldp - prev_end_old};
        for (int q = 0; q < 3; q++) {
            uint64_t u = v3[q] < 0 ? (uint64_t)(-v3[q]) | (1ull << 63) : (uint64_t)v3[q];
            for (int b = 0; b < 8; b++) c[cn++] = (unsigned char)(u >> (8 * b));
        }
        prev_end_old = g->oldp + g->len;
    }
    /* diff and extra bytes of the windows, in order */
    size_t k = 0;
    for (size_t kw = 0; kw < nwin; kw++) {
        for (int64_t p = win[2 * kw]; p < win[2 * kw + 1];) {
            int64_t next, dd = seg_at(l, &k, p, win[2 * kw + 1], &next);
            if (next > win[2 * kw + 1]) next = win[2 * kw + 1];
            if (dd == INT64_MIN) {
                memcpy(x + xn, nw + p, (size_t)(next - p));
                xn += (size_t)(next - p);
            } else {
                for (int64_t q = p; q < next; q++)
                    d[dn++] = (unsigned char)(nw[q] - o->data[q + dd]);
            }
            p = next;
        }
    }
    int64_t a = bz_size(c, cn), b = bz_size(d, dn), e = bz_size(x, xn);
    if (a >= 0 && b >= 0 && e >= 0) r = (a + b + e) * 16;
out:
    free(d);
    free(x);
    free(c);
    return r;
}

/* The anchor holding all of new[cs, ce), or NULL. */
static const bsd_seg *covering_anchor(const bsd_finder *f, int64_t cs, int64_t ce) {
    size_t lo = 0, hi = f->nanc;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->anc[mid].newp + f->anc[mid].len <= cs) lo = mid + 1;
        else hi = mid;
    }
    if (lo < f->nanc && f->anc[lo].newp <= cs && f->anc[lo].newp + f->anc[lo].len >= ce)
        return &f->anc[lo];
    return NULL;
}

/* The classic scan costs about twice what the cover matcher does and wins only where long
 * approximate alignments run (tables of relocated pointers, shifted data); over code it loses
 * by 5-25%. So it first runs over the chunk's first PROBE_LEN bytes only: when it is more than
 * PROBE_MARGIN percent costlier there than the cover segments (clipped to the same bytes), the
 * rest of the chunk is left to the cover matcher; otherwise the same scan goes on from where it
 * paused. */
#define PROBE_LEN ((int64_t)128 << 10)
#define PROBE_MARGIN 5
/* Shorter chunks are scanned whole without a probe. Twice the probe: the last chunk of a file
 * (typescript 5.4 -> 5.5: 0.47 MB of text, where the classic scan loses by 16%) is probed too;
 * at four times it was not, and 16% of that pair's classic searches were spent on it. */
#define PROBE_WHOLE (2 * PROBE_LEN)

/* Appends the segments of src from index q on, clipped to new positions below pe. */
static int push_clipped(bsd_seglist *dst, const bsd_seglist *src, size_t q, int64_t pe) {
    for (; q < src->n && src->v[q].newp < pe; q++) {
        const bsd_seg *g = &src->v[q];
        int64_t l = g->newp + g->len > pe ? pe - g->newp : g->len;
        if (bsd_seglist_push(dst, g->newp, g->oldp, l)) return -1;
    }
    return 0;
}

/* Runs the classic scan over the chunk into alt. 1: it paused after the probe and is not worth
 * going on with (alt then holds a copy of out); 0: alt holds the whole scan; -1: out of
 * memory. */
static int classic_probed(const bsd_finder *f, const unsigned char *nw_all, int64_t cs,
                          int64_t ce, const bsd_scan_params *prm, const bsd_scan_params *p3,
                          const bsd_seglist *out, bsd_seglist *alt, const bsd_memo *memo) {
    classic_st st;
    classic_begin(f, nw_all, cs, ce, &st);
    st.memo = memo;
    if (ce - cs < PROBE_WHOLE) return classic_run(f, nw_all, cs, ce, prm, alt, &st, INT64_MAX);
    size_t alt0 = alt->n, out0 = out->n;
    while (out0 > 0 && out->v[out0 - 1].newp >= cs) out0--; /* this chunk's segments */
    int run = classic_run(f, nw_all, cs, ce, prm, alt, &st, PROBE_LEN);
    if (run <= 0) return run;
    int64_t pe = cs + PROBE_LEN;
    bsd_seglist ca_l = {0}, cb_l = {0};
    int rc = -1;
    if (push_clipped(&ca_l, alt, alt0, pe)) goto out;
    if (st.lastscan < PROBE_LEN) {
        /* the alignment the scan holds, carried forward as at the end of the data */
        int64_t lenf, lenb;
        extend_pair(f->o->data, f->o->size, nw_all + cs, st.lastscan, st.lastpos, PROBE_LEN, 0, 0,
                    &lenf, &lenb);
        if (lenf > 0 && bsd_seglist_push(&ca_l, cs + st.lastscan, st.lastpos, lenf)) goto out;
    }
    if (push_clipped(&cb_l, out, out0, pe)) goto out;
    int64_t ca = seg_cost(f->o, nw_all, cs, pe, ca_l.v, ca_l.n, p3, p3->c_lit);
    int64_t cb = seg_cost(f->o, nw_all, cs, pe, cb_l.v, cb_l.n, p3, p3->c_lit);
    if (ca * 100 > cb * (100 + PROBE_MARGIN)) {
        alt->n = alt0;
        rc = 1;
        for (size_t q = out0; q < out->n; q++)
            if (bsd_seglist_push(alt, out->v[q].newp, out->v[q].oldp, out->v[q].len)) rc = -1;
    } else {
        rc = classic_run(f, nw_all, cs, ce, prm, alt, &st, INT64_MAX);
    }
out:
    bsd_seglist_free(&ca_l);
    bsd_seglist_free(&cb_l);
    return rc;
}

/* Runs both matchers over the chunk and keeps the segments with the lower estimated cost: the
 * classic scan follows long approximate alignments (tables of relocated pointers) that the
 * cover matcher, which needs exact seeds, misses; the cover matcher wins elsewhere. */
int bsd_scan_both(const bsd_finder *f, const unsigned char *nw_all, int64_t cs, int64_t ce,
                  const bsd_scan_params *prm, bsd_seglist *out, bsd_seglist *alt) {
    const bsd_seg *a = covering_anchor(f, cs, ce);
    if (a) {
        /* one exact match over the whole chunk: nothing to choose (near-identical inputs) */
        int64_t oldp = a->oldp + (cs - a->newp);
        if (bsd_seglist_push(out, cs, oldp, ce - cs) || bsd_seglist_push(alt, cs, oldp, ce - cs))
            return -1;
        return 0;
    }
    bsd_scan_params p2 = *prm;
    p2.c_lit = lit_cost(nw_all + cs, ce - cs, prm->c_lit);
    if (p2.c_lit > prm->c_mis) p2.c_mis = p2.c_lit;
    bsd_memo memo = {0};
    if (bsd_scan_chunk2(f, nw_all, cs, ce, &p2, out, &memo)) {
        free(memo.v);
        return -1;
    }
    /* Mismatching diff bytes of a long approximate alignment (relocated pointers) repeat the
     * same few deltas and compress far better than the cover matcher's estimate says: the
     * choice prices them lower, except in compressed-looking data. */
    bsd_scan_params p3 = p2;
    if (p2.c_lit < 16) p3.c_mis = CHOOSE_MIS;
    int hopeless = classic_probed(f, nw_all, cs, ce, prm, &p3, out, alt, &memo);
    free(memo.v);
    if (hopeless) return hopeless < 0 ? -1 : 0;
    int64_t ca = seg_cost(f->o, nw_all, cs, ce, alt->v, alt->n, &p3, p2.c_lit);
    int64_t cb = seg_cost(f->o, nw_all, cs, ce, out->v, out->n, &p3, p2.c_lit);
    int64_t lo = ca < cb ? ca : cb, gap = ca > cb ? ca - cb : cb - ca;
    if (f->cost_gate && gap * 100 <= lo * prm->real_close &&
        (alt->n != out->n || (alt->n && memcmp(alt->v, out->v, alt->n * sizeof *alt->v)))) {
        /* too close to call: compress both where they differ (one chunk at a time, which
         * bounds the memory) */
        int64_t win[2 * DIFFER_WINDOWS];
        size_t nwin = differ_windows(alt, out, cs, ce, win, DIFFER_WINDOWS);
        bsd_gate_enter(f->cost_gate);
        int64_t ra = real_cost(f->o, nw_all, alt, win, nwin);
        int64_t rb = real_cost(f->o, nw_all, out, win, nwin);
        bsd_gate_leave(f->cost_gate);
        if (ra >= 0 && rb >= 0) {
            ca = ra;
            cb = rb;
        }
    }
    if (ca < cb) {
        bsd_seglist t = *out;
        *out = *alt;
        *alt = t;
    }
    return 0;
}

int bsd_scan_best(const bsd_finder *f, const unsigned char *nw_all, int64_t cs, int64_t ce,
                  const bsd_scan_params *prm, bsd_seglist *out) {
    bsd_seglist a = {0};
    int rc = bsd_scan_both(f, nw_all, cs, ce, prm, out, &a);
    bsd_seglist_free(&a);
    return rc;
}
