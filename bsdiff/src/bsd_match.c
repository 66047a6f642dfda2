/* bsd_match.c - the matcher: turns new into segments (aligned regions of old plus diff bytes).
 * Two strategies: the full scan over the suffix array, and the block pre-match fast path for
 * near-identical inputs. */
#include <stdlib.h>

#include "bsd_internal.h"

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
#define STUCK_MAX 16

/* Classic bsdiff extension: the longest prefix of a region in which at least half the bytes
 * agree (forward from the previous match), the same backward from the next match, and the best
 * split point when the two overlap. Returns lenf and lenb through pointers. */
static void extend_pair(const unsigned char *old, int64_t oldsize, const unsigned char *nw,
                        int64_t lastscan, int64_t lastpos, int64_t scan, int64_t pos,
                        int has_next, int64_t *plenf, int64_t *plenb) {
    int64_t s = 0, sf = 0, lenf = 0, lenb = 0;
    for (int64_t i = 0; lastscan + i < scan && lastpos + i < oldsize;) {
        if (old[lastpos + i] == nw[lastscan + i]) s++;
        i++;
        if (s * 2 - i > sf * 2 - lenf) {
            sf = s;
            lenf = i;
        }
    }
    if (has_next) {
        int64_t sb = 0;
        s = 0;
        for (int64_t i = 1; scan >= lastscan + i && pos >= i; i++) {
            if (old[pos - i] == nw[scan - i]) s++;
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

/* The scan of bsdiff 4.x (see ANCHORS.md) over new[cs, ce), with three changes: matches shorter
 * than BSD_QGRAM are ignored (the q-gram filter skips their search), the gain a new alignment
 * must show is a parameter, and the stuck bound above. Positions inside are relative to cs. */
int bsd_scan_chunk(const bsd_finder *f, const unsigned char *nw_all, int64_t cs, int64_t ce,
                   const bsd_scan_params *prm, bsd_seglist *out) {
    const bsd_old *o = f->o;
    const unsigned char *old = o->data, *nw = nw_all + cs;
    int64_t oldsize = o->size, n = ce - cs;
    int64_t scan = 0, len = 0, pos = 0, lastscan = 0, lastpos = 0, lastoffset = 0;
    int64_t gain = prm->min_gain;

    if (cs > 0 && n > 0) {
        /* A chunk after the first starts from the alignment of its first long match instead of
         * old position 0; this depends only on the data, so every split of the work agrees. */
        int64_t p0;
        if (bsd_find(f, cs, nw, n, &p0) > 0) {
            lastpos = p0;
            lastoffset = p0;
        }
    }
#define MATCHES(i) ((i) + lastoffset >= 0 && (i) + lastoffset < oldsize && old[(i) + lastoffset] == nw[i])
    while (scan < n) {
        int64_t oldscore = 0, scsc;
        int stuck = 0;
        for (scsc = scan += len; scan < n; scan++) {
            len = bsd_find(f, cs + scan, nw + scan, n - scan, &pos);
            for (; scsc < scan + len; scsc++)
                if (MATCHES(scsc)) oldscore++;
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
    return 0;
}

/* Block pre-match. Walks new keeping the current alignment while it matches exactly; where it
 * stops, looks the next BSD_BLOCK bytes up in old's block table, and extends a hit both ways.
 * Gives up once an eighth of new (at least 1 MiB) has been seen with more than 60% of it
 * unmatched: such inputs gain nothing from anchors. */
int bsd_prematch(const bsd_old *o, const unsigned char *nw, int64_t m, bsd_seglist *anc) {
    const unsigned char *old = o->data;
    int64_t n = o->size, uncovered = 0;
    int64_t check_at = m / 8 > ((int64_t)1 << 20) ? m / 8 : ((int64_t)1 << 20);
    anc->n = 0;
    if (n < BSD_BLOCK || m < BSD_BLOCK || !o->blk_table) return 1;

    int64_t p = 0, off = 0, last_end = 0;
    while (p < m) {
        if (p + off >= 0 && p + off < n) {
            int64_t l = bsd_matchlen(nw + p, m - p, old + p + off, n - p - off);
            if (l >= 16 || (l > 0 && (p + l == m || p + off + l == n))) {
                if (anc->n && anc->v[anc->n - 1].oldp - anc->v[anc->n - 1].newp == off &&
                    anc->v[anc->n - 1].newp + anc->v[anc->n - 1].len == p)
                    anc->v[anc->n - 1].len += l;
                else if (bsd_seglist_push(anc, p, p + off, l))
                    return -1;
                p += l;
                last_end = p;
                continue;
            }
        }
        if (p + BSD_BLOCK <= m) {
            if (p + 8 + BSD_BLOCK <= m) bsd_block_prefetch(o, nw + p + 8);
            int64_t q = bsd_block_lookup(o, nw + p);
            if (q >= 0) {
                int64_t b = 0;
                while (p - b > last_end && q - b > 0 && nw[p - b - 1] == old[q - b - 1]) b++;
                off = q - p;
                int64_t start = p - b;
                int64_t l = b + BSD_BLOCK +
                            bsd_matchlen(nw + p + BSD_BLOCK, m - p - BSD_BLOCK,
                                         old + q + BSD_BLOCK, n - q - BSD_BLOCK);
                if (bsd_seglist_push(anc, start, start + off, l)) return -1;
                uncovered -= b;
                p = start + l;
                last_end = p;
                continue;
            }
        }
        p++;
        uncovered++;
        if (p >= check_at) {
            if (uncovered * 10 > p * 6) {
                anc->n = 0;
                return 0;
            }
            check_at = m + 1;
        }
    }
    return 1;
}
