/* bsd_index.c - indexes of the old file: suffix array (libdivsufsort) with a two-byte bucket
 * table and a q-gram presence filter for the full scan, and a block-hash table for the
 * near-identical fast path. */
#include <stdlib.h>

#include <divsufsort.h>
#include <divsufsort64.h>

#include "bsd_internal.h"

/* Largest filter: 2^25 bits = 4 MiB (16 MiB put a 28 MB pair over the 5 x old + new + 64 MiB
 * peak bound); largest block table: 2^21 slots = 8 MiB. Both keep the
 * working memory within the 64 MiB budget whatever the input size. */
#define BLOOM_MAX_LOG 25
#define BLOCK_SLOTS_MAX_LOG 21

static unsigned bloom_log_for(int64_t n) {
    unsigned lg = 16;
    while (lg < BLOOM_MAX_LOG && ((int64_t)1 << lg) < n * 8) lg++;
    return lg;
}

static size_t block_slots_for(int64_t n, int64_t *stride) {
    int64_t s = BSD_BLOCK;
    while (n / s >= ((int64_t)1 << (BLOCK_SLOTS_MAX_LOG - 1))) s *= 2;
    size_t slots = 1024;
    while ((int64_t)slots < 2 * (n / s + 1)) slots *= 2;
    *stride = s;
    return slots;
}

uint64_t bsd_sa_bytes(int64_t n) {
    uint64_t per = n >= INT32_MAX ? 8 : 4;
    return per * (uint64_t)n + 65537 * 8 + ((uint64_t)1 << bloom_log_for(n)) / 8;
}

uint64_t bsd_blockindex_bytes(int64_t n) {
    int64_t stride;
    return block_slots_for(n, &stride) * sizeof(uint32_t);
}

/* Hash of BSD_BLOCK bytes: four 64-bit words mixed by multiplication. */
static inline uint64_t block_hash(const unsigned char *p) {
    uint64_t h = bsd_load64(p) * 0x9E3779B97F4A7C15ull;
    h = (h ^ (h >> 29) ^ bsd_load64(p + 8)) * 0xBF58476D1CE4E5B9ull;
    h = (h ^ (h >> 31) ^ bsd_load64(p + 16)) * 0x94D049BB133111EBull;
    h = (h ^ (h >> 29) ^ bsd_load64(p + 24)) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 32);
}

/* Slot layout: low BLK_POS_BITS bits = block number + 1 (0 = empty), high bits = hash tag, so
 * most misses are rejected without reading old. */
#define BLK_POS_BITS 21
#define BLK_POS_MASK ((1u << BLK_POS_BITS) - 1)

static inline uint32_t block_tag(uint64_t h) { return (uint32_t)(h >> 53) << BLK_POS_BITS; }

int bsd_blockindex_build(bsd_old *o) {
    size_t slots = block_slots_for(o->size, &o->blk_stride);
    o->blk_table = calloc(slots, sizeof(uint32_t));
    if (!o->blk_table) return -1;
    o->blk_mask = slots - 1;
    int64_t nblocks = o->size >= BSD_BLOCK ? (o->size - BSD_BLOCK) / o->blk_stride + 1 : 0;
    /* Later blocks never displace earlier ones: the first occurrence of repeated content wins,
     * deterministically. */
    for (int64_t b = 0; b < nblocks; b++) {
        const unsigned char *p = o->data + b * o->blk_stride;
        uint64_t h = block_hash(p);
        uint32_t tag = block_tag(h);
        size_t s = (size_t)h & o->blk_mask;
        while (o->blk_table[s]) {
            uint32_t e = o->blk_table[s];
            if ((e & ~BLK_POS_MASK) == tag &&
                memcmp(o->data + (int64_t)((e & BLK_POS_MASK) - 1) * o->blk_stride, p,
                       BSD_BLOCK) == 0)
                break;
            s = (s + 1) & o->blk_mask;
        }
        if (!o->blk_table[s]) o->blk_table[s] = tag | (uint32_t)(b + 1);
    }
    return 0;
}

void bsd_block_prefetch(const bsd_old *o, const unsigned char *p) {
    __builtin_prefetch(&o->blk_table[(size_t)block_hash(p) & o->blk_mask]);
}

int64_t bsd_block_lookup(const bsd_old *o, const unsigned char *p) {
    uint64_t h = block_hash(p);
    uint32_t tag = block_tag(h);
    size_t s = (size_t)h & o->blk_mask;
    uint32_t e;
    while ((e = o->blk_table[s]) != 0) {
        if ((e & ~BLK_POS_MASK) == tag) {
            int64_t q = (int64_t)((e & BLK_POS_MASK) - 1) * o->blk_stride;
            if (memcmp(o->data + q, p, BSD_BLOCK) == 0) return q;
        }
        s = (s + 1) & o->blk_mask;
    }
    return -1;
}

static inline size_t qgram_hash(const unsigned char *p, unsigned lg) {
    return (size_t)((bsd_load64(p) * 0x9E3779B97F4A7C15ull) >> (64 - lg));
}

void bsd_sa_free(bsd_sa *s) {
    free(s->sa);
    free(s->bucket);
    free(s->bloom);
    memset(s, 0, sizeof(*s));
}

int bsd_sa_build(bsd_sa *s, const unsigned char *d, int64_t n, char *err, size_t errlen) {
    memset(s, 0, sizeof(*s));
    s->text = d;
    s->size = n;
    s->bucket = calloc(65537, sizeof(int64_t));
    s->bloom_bits = bloom_log_for(n);
    s->bloom = calloc(((size_t)1 << s->bloom_bits) / 64, sizeof(uint64_t));
    s->sa64 = n >= INT32_MAX;
    s->sa = malloc((size_t)(n ? n : 1) * (s->sa64 ? 8 : 4));
    if (!s->bucket || !s->bloom || !s->sa) {
        bsd_sa_free(s);
        return -1;
    }
    int rc = n == 0 ? 0 : s->sa64 ? divsufsort64(d, s->sa, n) : divsufsort(d, s->sa, (saidx_t)n);
    if (rc != 0) {
        snprintf(err, errlen, "suffix sort failed (libdivsufsort returned %d)", rc);
        bsd_sa_free(s);
        return -2;
    }

    /* bucket[k] = first SA index whose suffix starts with the two bytes k (suffixes of length
     * one sort before every longer suffix with the same first byte). */
    int64_t *cnt = s->bucket, run = 0;
    unsigned single = n > 0 ? (unsigned)d[n - 1] << 8 : 0x10000;
    for (int64_t i = 0; i + 1 < n; i++) cnt[(unsigned)d[i] << 8 | d[i + 1]]++;
    for (unsigned k = 0; k < 65536; k++) {
        if (n > 0 && k == single) run++;
        int64_t c = cnt[k];
        cnt[k] = run;
        run += c;
    }
    cnt[65536] = run;

    unsigned lg = s->bloom_bits;
    for (int64_t i = 0; i + BSD_QGRAM <= n; i++) {
        size_t h = qgram_hash(d + i, lg);
        s->bloom[h >> 6] |= (uint64_t)1 << (h & 63);
    }
    return 0;
}

/* Binary search for the longest match, over the SA range of p's first two bytes. The common
 * prefix of p with both ends of the range is carried along, so each probe compares only from
 * the smaller of the two: a search costs O(log n + match length). */
/* Common prefix of old[sp, n) and p[0, plen) given that the first k bytes agree - except for
 * a suffix shorter than k (the one-byte suffix sits in a two-byte bucket it only half
 * matches): then the whole suffix, so callers see it end (sp + result == n). */
static inline int64_t lcp_at(const unsigned char *old, int64_t n, int64_t sp, int64_t k,
                             const unsigned char *p, int64_t plen) {
    if (n - sp <= k) return n - sp < plen ? n - sp : plen;
    return k + bsd_matchlen(old + sp + k, n - sp - k, p + k, plen - k);
}

#define DEFINE_FIND(NAME, T)                                                                   \
    static int64_t NAME(const bsd_sa *o, const T *sa, const unsigned char *p, int64_t plen,   \
                        int64_t *pos) {                                                        \
        const unsigned char *old = o->text;                                                    \
        int64_t n = o->size;                                                                   \
        unsigned key = (unsigned)p[0] << 8 | p[1];                                             \
        int64_t lo = o->bucket[key], hi = o->bucket[key + 1] - 1;                              \
        if (lo > hi) return 0;                                                                 \
        int64_t slo = sa[lo], shi = sa[hi];                                                    \
        int64_t llo = lcp_at(old, n, slo, 2, p, plen);                                       \
        if (llo == plen || lo == hi || (slo + llo < n && old[slo + llo] > p[llo])) {          \
            *pos = slo;                                                                        \
            return llo;                                                                        \
        }                                                                                      \
        int64_t lhi = lcp_at(old, n, shi, 2, p, plen);                                       \
        if (lhi == plen || shi + lhi == n || old[shi + lhi] < p[lhi]) {                        \
            *pos = shi;                                                                        \
            return lhi;                                                                        \
        }                                                                                      \
        while (hi - lo > 1) {                                                                  \
            int64_t mid = lo + (hi - lo) / 2, sm = sa[mid];                                    \
            int64_t k = llo < lhi ? llo : lhi;                                                 \
            int64_t l = lcp_at(old, n, sm, k, p, plen);                                        \
            if (l == plen) {                                                                   \
                *pos = sm;                                                                     \
                return l;                                                                      \
            }                                                                                  \
            if (sm + l == n || old[sm + l] < p[l]) {                                           \
                lo = mid;                                                                      \
                llo = l;                                                                       \
            } else {                                                                           \
                hi = mid;                                                                      \
                lhi = l;                                                                       \
            }                                                                                  \
        }                                                                                      \
        if (llo >= lhi) {                                                                      \
            *pos = sa[lo];                                                                     \
            return llo;                                                                        \
        }                                                                                      \
        *pos = sa[hi];                                                                         \
        return lhi;                                                                            \
    }

DEFINE_FIND(find32, int32_t)
DEFINE_FIND(find64, int64_t)

int64_t bsd_sa_find(const bsd_sa *o, const unsigned char *p, int64_t plen, int64_t *pos) {
    if (plen < BSD_QGRAM) return 0;
    size_t h = qgram_hash(p, o->bloom_bits);
    if (!(o->bloom[h >> 6] >> (h & 63) & 1)) return 0;
    int64_t l = o->sa64 ? find64(o, o->sa, p, plen, pos) : find32(o, o->sa, p, plen, pos);
    return l >= BSD_QGRAM ? l : 0;
}

/* Maps a match at *cp in the concatenated parts back to old; the match ends with its part. */
static int64_t map_part(const bsd_finder *f, int64_t *cp, int64_t l) {
    size_t lo = 0, hi = f->nparts;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->part_c[mid] <= *cp) lo = mid;
        else hi = mid;
    }
    int64_t room = f->part_c[lo] + f->part_len[lo] - *cp;
    if (l > room) l = room;
    if (l < BSD_QGRAM) return 0;
    *cp = f->part_r[lo] + (*cp - f->part_c[lo]);
    return l;
}

#define ANCHOR_TRUST 256

int64_t bsd_find(const bsd_finder *f, int64_t at, const unsigned char *p, int64_t plen,
                 int64_t *pos) {
    /* inside an anchor: the anchor is the answer (it was extended as far as it matches) */
    size_t lo = 0, hi = f->nanc;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->anc[mid].newp + f->anc[mid].len <= at) lo = mid + 1;
        else hi = mid;
    }
    int64_t al = 0, ap = 0;
    if (lo < f->nanc && f->anc[lo].newp <= at) {
        al = f->anc[lo].newp + f->anc[lo].len - at;
        if (al > plen) al = plen;
        ap = f->anc[lo].oldp + (at - f->anc[lo].newp);
        /* a long exact anchor is taken as is (this is what makes near-identical input cheap);
         * a short one competes with the suffix array, which may know a longer match */
        if (al >= ANCHOR_TRUST || al == plen || !f->sa) {
            *pos = ap;
            return al >= BSD_QGRAM || al == plen ? al : 0;
        }
    }
    if (!f->sa) return 0;
    int64_t cp, l = bsd_sa_find(f->sa, p, plen, &cp);
    if (l && f->nparts) l = map_part(f, &cp, l);
    if (al >= BSD_QGRAM && al >= l) {
        *pos = ap;
        return al;
    }
    *pos = cp;
    return l;
}

