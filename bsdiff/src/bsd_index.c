/* bsd_index.c - indexes of the old file: suffix array (libdivsufsort) with a two-byte bucket
 * table and a q-gram presence filter for the full scan, and a block-hash table for the
 * near-identical fast path. */
#include <stdlib.h>

#include <divsufsort.h>
#include <divsufsort64.h>

#include "bsd_internal.h"

/* Largest filter: 2^25 bits = 4 MiB, and up to 2^27 bits = 16 MiB when the diff has the
 * memory to spare under its peak bound (bsd_bloom_cap; at 4 MiB a 28 MB old file's filter
 * lets nearly half the searches that find nothing through). Largest block table: 2^21 slots
 * = 8 MiB. Both keep the working memory within the 64 MiB budget whatever the input size. */
#define BLOOM_MAX_LOG 25
#define BLOOM_BIG_LOG 27
#define BLOCK_SLOTS_MAX_LOG 21

static unsigned bloom_log_for(int64_t n, unsigned cap) {
    unsigned lg = 16;
    while (lg < cap && ((int64_t)1 << lg) < n * 8) lg++;
    return lg;
}

unsigned bsd_bloom_cap(int64_t n, uint64_t spare) {
    unsigned cap = BLOOM_MAX_LOG;
    uint64_t base = ((uint64_t)1 << bloom_log_for(n, BLOOM_MAX_LOG)) / 8;
    while (cap < BLOOM_BIG_LOG && ((uint64_t)1 << bloom_log_for(n, cap + 1)) / 8 - base <= spare)
        cap++;
    return cap;
}

static size_t block_slots_for(int64_t n, int64_t *stride) {
    int64_t s = BSD_BLOCK;
    while (n / s >= ((int64_t)1 << (BLOCK_SLOTS_MAX_LOG - 1))) s *= 2;
    size_t slots = 1024;
    while ((int64_t)slots < 2 * (n / s + 1)) slots *= 2;
    *stride = s;
    return slots;
}

/* The second-level table: for texts of SUB_TEXT_MIN bytes or more (below, the searches are short
 * and their probes stay in the cache), at most n / 8 bytes and 8 MiB (and what the caller gives),
 * spent on the buckets of more than SUB_MIN suffixes, the largest first (a threshold that halves
 * while the next step still fits). */
#define SUB_TEXT_MIN ((int64_t)4 << 20)
#define SUB_MIN 256
#define SUB_MAX_BYTES ((uint64_t)8 << 20)
#define SUB_OF_BYTES (65536 * (sizeof(int32_t) + sizeof(uint32_t *))) /* of, and rows while built */

uint64_t bsd_sub_bytes(int64_t n) {
    if (n < SUB_TEXT_MIN || n >= INT32_MAX) return 0;
    uint64_t b = (uint64_t)n / 8;
    return (b < SUB_MAX_BYTES ? b : SUB_MAX_BYTES) + SUB_OF_BYTES;
}

uint64_t bsd_sa_core_bytes(int64_t n) {
    return (n >= INT32_MAX ? 8 : 4) * (uint64_t)n + 65537 * 8;
}

uint64_t bsd_sa_bytes(int64_t n, unsigned bloom_cap) {
    return bsd_sa_core_bytes(n) + ((uint64_t)1 << bloom_log_for(n, bloom_cap)) / 8;
}

uint64_t bsd_sa_mem(const bsd_sa *s) {
    return bsd_sa_core_bytes(s->size) + ((uint64_t)1 << s->bloom_bits) / 8 + s->sub_bytes;
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

/* How many blocks ahead the build fetches a slot. */
#define BLK_AHEAD 16

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
        if (b + BLK_AHEAD < nblocks) /* the slot a later block goes to: random, so fetch early */
            __builtin_prefetch(&o->blk_table[(size_t)block_hash(p + BLK_AHEAD * o->blk_stride) &
                                             o->blk_mask], 1);
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

/* The filter sets two bits of one 64-bit word per q-gram: a search for an absent q-gram still
 * reads one word, but passes it less than half as often as with one bit (at 8 bits per
 * position of random text, 5.2% instead of 11.8%). Each such pass costs a whole binary search
 * for nothing: libvips 1.6 -> 1.7 had 179,000 of them in 3.5 million searches with one bit,
 * 77,000 with two. The word is picked by the high bits of the product, the two bits by middle
 * ones (a second multiply for them made the filter's fill, part of the sort, 0.04 s slower on
 * libvips for few fewer passes). */
static inline uint64_t qgram_key(const unsigned char *p) {
    return bsd_load64(p) * 0x9E3779B97F4A7C15ull;
}
static inline size_t qgram_word(uint64_t k, unsigned lg) { return (size_t)(k >> (64 - (lg - 6))); }
static inline uint64_t qgram_bits(uint64_t k) {
    return (uint64_t)1 << (k >> 24 & 63) | (uint64_t)1 << (k >> 30 & 63);
}

void bsd_sa_free(bsd_sa *s) {
    free(s->sa);
    free(s->bucket);
    free(s->bloom);
    free(s->sub_of);
    free(s->sub);
    memset(s, 0, sizeof(*s));
}

/* The second level (see bsd_sa), from the bucket table; left out when memory is short. */
static void sa_sub(bsd_sa *s) {
    const unsigned char *d = s->text;
    int64_t n = s->size, *b = s->bucket;
    uint64_t budget = s->sub_bytes; /* what it may take, until it is built */
    s->sub_bytes = 0;
    if (budget < SUB_OF_BYTES + 2 * 257 * 4) return;
    size_t cap = (size_t)((budget - SUB_OF_BYTES) / (257 * 4)) - 1, nbig = 0;
    int64_t t = INT64_MAX;
    for (int64_t th = (int64_t)1 << 30; th >= SUB_MIN; th /= 2) {
        size_t c = 0;
        for (unsigned k = 0; k < 65536; k++) c += b[k + 1] - b[k] > th;
        if (c > cap) break;
        t = th;
        nbig = c;
    }
    if (!nbig) return;
    /* one row more: the other keys count into it, so the pass below has no branch */
    int32_t *of = malloc(65536 * sizeof(int32_t));
    uint32_t *sub = calloc((nbig + 1) * 257, sizeof(uint32_t));
    uint32_t **row = malloc(65536 * sizeof(*row));
    if (!of || !sub || !row) {
        free(of);
        free(sub);
        free(row);
        return;
    }
    int32_t j = 0;
    for (unsigned k = 0; k < 65536; k++) of[k] = b[k + 1] - b[k] > t ? j++ : -1;
    for (unsigned k = 0; k < 65536; k++) row[k] = sub + (of[k] < 0 ? nbig : (size_t)of[k]) * 257;
    for (int64_t i = 0; i + 2 < n; i++) row[(unsigned)d[i] << 8 | d[i + 1]][d[i + 2]]++;
    free(row);
    /* counts to starts; the suffix of two bytes sorts first in its bucket */
    unsigned short2 = n >= 2 ? (unsigned)d[n - 2] << 8 | d[n - 1] : 0x10000;
    for (unsigned k = 0; k < 65536; k++) {
        if (of[k] < 0) continue;
        uint32_t *r = sub + (size_t)of[k] * 257, at = (uint32_t)b[k] + (k == short2);
        for (int c = 0; c < 256; c++) {
            uint32_t cnt = r[c];
            r[c] = at;
            at += cnt;
        }
        r[256] = at;
    }
    s->sub_of = of;
    s->sub = sub;
    s->sub_bytes = SUB_OF_BYTES + (uint64_t)(nbig + 1) * 257 * sizeof(uint32_t);
}

/* The bucket table: it reads only the text, so it is built while the suffix sort runs. */
static void sa_buckets(bsd_sa *s) {
    const unsigned char *d = s->text;
    int64_t n = s->size;
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
    s->tail_key = n > 0 && d[n - 1] > 0 ? ((unsigned)d[n - 1] << 8) - 1 : 0x10000;
    sa_sub(s);
}

/* The q-gram filter's bits that fall in words [w0, w1): two threads fill disjoint halves. */
typedef struct bloom_job {
    bsd_sa *s;
    size_t w0, w1;
} bloom_job;

/* Each bit set is a miss in a table far larger than the cache: the word FILL_AHEAD positions
 * on is fetched (for writing) while this one is set. */
#define FILL_AHEAD 32

static void *bloom_fill(void *arg) {
    bloom_job *j = arg;
    const unsigned char *d = j->s->text;
    unsigned lg = j->s->bloom_bits;
    uint64_t *bloom = j->s->bloom;
    int64_t end = j->s->size - BSD_QGRAM + 1; /* positions [0, end) have a q-gram */
    uint64_t ring[FILL_AHEAD];
    for (int64_t i = 0; i < FILL_AHEAD && i < end; i++) ring[i] = qgram_key(d + i);
    for (int64_t i = 0; i < end; i++) {
        uint64_t k = ring[i % FILL_AHEAD];
        size_t w = qgram_word(k, lg);
        if (i + FILL_AHEAD < end) {
            uint64_t a = qgram_key(d + i + FILL_AHEAD);
            size_t aw = qgram_word(a, lg);
            ring[i % FILL_AHEAD] = a;
            if (aw >= j->w0 && aw < j->w1) __builtin_prefetch(&bloom[aw], 1);
        }
        if (w >= j->w0 && w < j->w1) bloom[w] |= qgram_bits(k);
    }
    return NULL;
}

static size_t bloom_words(const bsd_sa *s) { return ((size_t)1 << s->bloom_bits) / 64; }

/* The filter on two threads, each setting the bits of one half of its words. */
static void bloom_fill_two(bsd_sa *s) {
    size_t w = bloom_words(s);
    bloom_job half[2] = {{s, 0, w / 2}, {s, w / 2, w}};
    pthread_t th;
    int two = pthread_create(&th, NULL, bloom_fill, &half[1]) == 0;
    bloom_fill(&half[0]);
    if (two) pthread_join(th, NULL);
    else bloom_fill(&half[1]);
}

/* Both tables (the side work of a one-thread sort). */
static void *sa_tables(void *arg) {
    bsd_sa *s = arg;
    sa_buckets(s);
    bloom_job all = {s, 0, bloom_words(s)};
    bloom_fill(&all);
    return NULL;
}

/* The side work of a two-thread sort, in two parts: the bucket table (and second level), and
 * the filter. */
static void sa_tables_side(void *arg, int part) {
    bsd_sa *s = arg;
    if (part == 0) {
        sa_buckets(s);
    } else {
        bloom_job all = {s, 0, bloom_words(s)};
        bloom_fill(&all);
    }
}
static void sa_buckets_side(void *arg, int part) {
    (void)part;
    sa_buckets(arg);
}

/* Below this size the tables take too little time to be worth a thread. */
#define SA_TABLES_THREAD ((int64_t)1 << 20)

int bsd_sa_build(bsd_sa *s, const unsigned char *d, int64_t n, unsigned bloom_cap,
                 uint64_t sub_max, unsigned threads, uint64_t room, char *err, size_t errlen) {
    memset(s, 0, sizeof(*s));
    uint64_t sub_cap = bsd_sub_bytes(n);
    s->sub_bytes = sub_max < sub_cap ? sub_max : sub_cap; /* sa_sub's budget */
    room = room > s->sub_bytes ? room - s->sub_bytes : 0;   /* it may be built during the sort */
    s->text = d;
    s->size = n;
    s->bucket = calloc(65537, sizeof(int64_t));
    s->bloom_bits = bloom_log_for(n, bloom_cap);
    s->sa64 = n >= INT32_MAX;
    s->sa = malloc((size_t)(n ? n : 1) * (s->sa64 ? 8 : 4));
    if (!s->bucket || !s->sa) {
        bsd_sa_free(s);
        return -1;
    }
    uint64_t bloom_bytes = bloom_words(s) * sizeof(uint64_t);
    int split = 1;
    if (threads > 1 && !s->sa64) {
        /* The filter is filled during the sort when the memory allows both, else after it. */
        int early = bsd_sort_tmp_bytes(n, room > bloom_bytes ? room - bloom_bytes : 0) ==
                    bsd_sort_tmp_bytes(n, room);
        if (early && !(s->bloom = calloc(bloom_words(s), sizeof(uint64_t)))) {
            bsd_sa_free(s);
            return -1;
        }
        split = bsd_sort_split(d, n, s->sa, early ? room - bloom_bytes : room,
                               early ? sa_tables_side : sa_buckets_side, s, early ? 2 : 1);
        if (split == 2) /* the merge gave up; the side work is done */
            split = divsufsort(d, s->sa, (saidx_t)n) ? -2 : 0;
        if (split == 0 && !early) {
            if (!(s->bloom = calloc(bloom_words(s), sizeof(uint64_t)))) {
                bsd_sa_free(s);
                return -1;
            }
            bloom_fill_two(s);
        }
    }
    int rc = split < 0 ? split : 0;
    if (split == 1) {
        if (!s->bloom && !(s->bloom = calloc(bloom_words(s), sizeof(uint64_t)))) {
            bsd_sa_free(s);
            return -1;
        }
        pthread_t th;
        int side = threads > 1 && n >= SA_TABLES_THREAD &&
                   pthread_create(&th, NULL, sa_tables, s) == 0;
        rc = n == 0 ? 0 : s->sa64 ? divsufsort64(d, s->sa, n) : divsufsort(d, s->sa, (saidx_t)n);
        if (side) pthread_join(th, NULL);
        else sa_tables(s);
    }
    if (rc != 0) {
        snprintf(err, errlen, "suffix sort failed (libdivsufsort returned %d)", rc);
        bsd_sa_free(s);
        return -2;
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

/* With the second level, the search still takes the same steps over the whole two-byte bucket
 * (so that it returns what it always did, including which of several whole matches of p), but
 * a step whose probe lies outside p's three-byte range is settled without reading anything:
 * such a suffix agrees with p in exactly two bytes and sorts before (or after) it. */
#define DEFINE_FIND(NAME, T)                                                                   \
    static int64_t NAME(const bsd_sa *o, const T *sa, const unsigned char *p, int64_t plen,   \
                        int64_t *pos) {                                                        \
        const unsigned char *old = o->text;                                                    \
        int64_t n = o->size;                                                                   \
        unsigned key = (unsigned)p[0] << 8 | p[1];                                             \
        int64_t lo = o->bucket[key], hi = o->bucket[key + 1] - 1 - (key == o->tail_key);       \
        if (lo > hi) return 0;                                                                 \
        int64_t rlo = lo, rhi = hi; /* where probes must be read */                           \
        if (o->sub_of && o->sub_of[key] >= 0) {                                                \
            const uint32_t *r = o->sub + (size_t)o->sub_of[key] * 257 + p[2];                  \
            rlo = r[0];                                                                        \
            rhi = (int64_t)r[1] - 1;                                                           \
            if (rlo > rhi) return 0; /* no suffix starts with p's first three bytes */       \
        }                                                                                      \
        int64_t llo = 2, lhi = 2;                                                              \
        if (lo >= rlo) {                                                                       \
            int64_t slo = sa[lo];                                                              \
            llo = lcp_at(old, n, slo, 2, p, plen);                                             \
            if (llo == plen || lo == hi || (slo + llo < n && old[slo + llo] > p[llo])) {      \
                *pos = slo;                                                                    \
                return llo;                                                                    \
            }                                                                                  \
        }                                                                                      \
        if (hi <= rhi) {                                                                       \
            int64_t shi = sa[hi];                                                              \
            lhi = lcp_at(old, n, shi, 2, p, plen);                                             \
            if (lhi == plen || shi + lhi == n || old[shi + lhi] < p[lhi]) {                    \
                *pos = shi;                                                                    \
                return lhi;                                                                    \
            }                                                                                  \
        }                                                                                      \
        while (hi - lo > 1) {                                                                  \
            int64_t mid = lo + (hi - lo) / 2;                                                  \
            if (mid < rlo) {                                                                   \
                lo = mid;                                                                      \
                llo = 2;                                                                       \
                continue;                                                                      \
            }                                                                                  \
            if (mid > rhi) {                                                                   \
                hi = mid;                                                                      \
                lhi = 2;                                                                       \
                continue;                                                                      \
            }                                                                                  \
            int64_t sm = sa[mid];                                                              \
            int64_t k = llo < lhi ? llo : lhi;                                                 \
            /* the two possible next probes: their text now, the four after them their SA   \
             * entries (a probe otherwise waits on two cache misses in a row) */               \
            int64_t na = lo + (mid - lo) / 2, nb = mid + (hi - mid) / 2;                       \
            __builtin_prefetch(old + sa[na] + k);                                              \
            __builtin_prefetch(old + sa[nb] + k);                                              \
            __builtin_prefetch(&sa[lo + (na - lo) / 2]);                                       \
            __builtin_prefetch(&sa[na + (mid - na) / 2]);                                      \
            __builtin_prefetch(&sa[mid + (nb - mid) / 2]);                                     \
            __builtin_prefetch(&sa[nb + (hi - nb) / 2]);                                       \
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

/* The scans search position after position: each search fetches the filter word of the one
 * this far ahead, so that it has arrived when that search comes. */
#define BLOOM_AHEAD 4

static inline int filter_holds(const bsd_sa *o, uint64_t k) {
    uint64_t b = qgram_bits(k);
    return (o->bloom[qgram_word(k, o->bloom_bits)] & b) == b;
}

int bsd_sa_maybe(const bsd_sa *o, const unsigned char *p) { return filter_holds(o, qgram_key(p)); }

uint32_t bsd_sa_maybe_at(const bsd_sa *o, const unsigned char *p, const int64_t *at, int count) {
    /* the loads do not depend on each other: their cache misses overlap */
    uint64_t w[32], b[32];
    for (int i = 0; i < count; i++) {
        uint64_t k = qgram_key(p + at[i]);
        b[i] = qgram_bits(k);
        w[i] = o->bloom[qgram_word(k, o->bloom_bits)];
    }
    uint32_t mask = 0;
    for (int i = 0; i < count; i++) mask |= (uint32_t)((w[i] & b[i]) == b[i]) << i;
    return mask;
}

int64_t bsd_sa_find(const bsd_sa *o, const unsigned char *p, int64_t plen, int64_t *pos) {
    if (plen < BSD_QGRAM) return 0;
    if (plen >= BSD_QGRAM + BLOOM_AHEAD)
        __builtin_prefetch(&o->bloom[qgram_word(qgram_key(p + BLOOM_AHEAD), o->bloom_bits)]);
    if (!filter_holds(o, qgram_key(p))) return 0;
    int64_t l = o->sa64 ? find64(o, o->sa, p, plen, pos) : find32(o, o->sa, p, plen, pos);
    return l >= BSD_QGRAM ? l : 0;
}

/* Maps a match at *cp in the concatenated parts back to old; the match ends with its part. */
static int64_t map_part(const bsd_finder *f, int64_t *cp, int64_t l) {
    size_t lo = (size_t)f->part_map[*cp >> BSD_PART_MAP_SHIFT]; /* the part at the step's start */
    while (lo + 1 < f->nparts && f->part_c[lo + 1] <= *cp) lo++;
    int64_t room = f->part_c[lo] + f->part_len[lo] - *cp;
    if (l > room) l = room;
    if (l < BSD_QGRAM) return 0;
    *cp = f->part_r[lo] + (*cp - f->part_c[lo]);
    return l;
}

/* ---------------- gap matches ----------------
 * For near-identical inputs the anchors cover almost all of new; the few bytes left (edits)
 * often match somewhere in old, including inside regions anchors already use, which a suffix
 * array over the uncovered parts of old cannot see. Instead of sorting, the 8-grams of the
 * uncovered positions of new go into a small hash table and one pass over old looks every
 * 8-gram of old up in it. Work is bounded: each gap position examines at most GAP_TRIES_MAX
 * candidates (common 8-grams of text need many to find the longest match), and only GAP_TRIES
 * once GAP_WORK bytes have been compared in all; each compare stops at GAP_MAXLEN bytes, and
 * equal 8-grams of new share a table entry whose list drops positions once they are done. */
#define GAP_TRIES 48
#define GAP_TRIES_MAX 65535
#define GAP_WORK ((int64_t)1 << 24)
#define GAP_MAXLEN 65536
#define GAP_DERIVE 32
/* Old is searched in GAP_PARTS fixed parts, each with its own position lists, try counts and
 * results; the parts run on threads when there are any, and their results merge in part
 * order, so the matches do not depend on the thread count. */
#define GAP_PARTS 2

/* Anchors at least this long are trusted as they are; positions in shorter ones are matched
 * like the bytes between anchors, since a longer match elsewhere may exist. */
#define ANCHOR_TRUST 256

/* Calls fn for each gap: new positions [s, e) whose 8-grams no trusted anchor covers. */
#define FOR_EACH_GAP(anc, nanc, m, BODY)                                                      \
    do {                                                                                       \
        int64_t at_ = 0;                                                                       \
        for (size_t k_ = 0; k_ <= (nanc); k_++) {                                              \
            if (k_ < (nanc) && (anc)[k_].len < ANCHOR_TRUST) continue;                         \
            int64_t gs = at_, ge = k_ < (nanc) ? (anc)[k_].newp : (m);                         \
            if (ge > (m) - BSD_QGRAM + 1) ge = (m) - BSD_QGRAM + 1;                            \
            if (ge > gs) BODY;                                                                 \
            if (k_ < (nanc)) at_ = (anc)[k_].newp + (anc)[k_].len;                             \
        }                                                                                      \
    } while (0)

int64_t bsd_gap_count(const bsd_seg *anc, size_t nanc, int64_t m) {
    int64_t c = 0;
    FOR_EACH_GAP(anc, nanc, m, { c += ge - gs; });
    return c;
}

uint64_t bsd_gapm_bytes(int64_t count, size_t nanc) {
    uint64_t slots = 1024;
    while (slots < 2 * (uint64_t)count) slots *= 2;
    /* results (pos, len) and new positions; per part: lists, tries, results, heads, filter */
    return (uint64_t)count * (8 + 4 + 8) + slots * 16 +
           GAP_PARTS * ((uint64_t)count * (4 + 2 + 4 + 8) + slots * (4 + 1)) + (nanc + 2) * 24;
}

void bsd_gapm_free(bsd_gapm *g) {
    free(g->base);
    free(g->gs);
    free(g->pos);
    free(g->len);
    memset(g, 0, sizeof(*g));
}

typedef struct gap_slot {
    uint64_t key;
    uint32_t tail; /* while building: the last position */
    uint32_t used;
} gap_slot;


typedef struct gap_part {
    /* shared, read-only during the pass */
    const gap_slot *tab;
    const int64_t *npos;
    size_t slots;
    unsigned lg;
    const unsigned char *old, *nw;
    int64_t n, m, j0, j1;
    /* this part's state */
    uint32_t *head; /* per slot: gap ordinal + 1 of the first live position, 0 = none */
    uint32_t *next;
    uint16_t *tries;
    int32_t *len;
    int64_t *pos;
    uint64_t *filt;
} gap_part;

static void gap_filter(gap_part *p, size_t *live) {
    memset(p->filt, 0, ((size_t)1 << p->lg) / 8);
    *live = 0;
    for (size_t t = 0; t < p->slots; t++) {
        if (!p->head[t]) continue;
        uint64_t ht = p->tab[t].key * 0x9E3779B97F4A7C15ull;
        size_t ft = (size_t)(ht >> (64 - p->lg));
        p->filt[ft >> 6] |= (uint64_t)1 << (ft & 63);
        ++*live;
    }
}

/* Looks every 8-gram of old[j0, j1) up among the gap positions' 8-grams. */
static void *gap_pass(void *arg) {
    gap_part *p = arg;
    const gap_slot *tab = p->tab;
    const unsigned char *old = p->old, *nw = p->nw;
    const int64_t n = p->n, m = p->m;
    const unsigned lg = p->lg;
    const size_t mask = p->slots - 1;
    int64_t max_tries = GAP_TRIES_MAX, work = 0;
    /* Keys whose positions are all done leave the filter when it is rebuilt: common 8-grams
     * (runs of spaces in text) finish early and would otherwise cost a table probe at each of
     * their many occurrences in old. */
    size_t live, dead = 0;
    gap_filter(p, &live);
    for (int64_t j = p->j0; j < p->j1; j++) {
        uint64_t v = bsd_load64(old + j);
        uint64_t h = v * 0x9E3779B97F4A7C15ull;
        size_t f = (size_t)(h >> (64 - lg));
        if (!(p->filt[f >> 6] >> (f & 63) & 1)) continue;
        size_t s = (size_t)(h >> 32) & mask;
        while (tab[s].used && tab[s].key != v) s = (s + 1) & mask;
        if (!tab[s].used || !p->head[s]) continue;
        uint32_t *link = &p->head[s];
        while (*link) {
            uint32_t q = *link - 1;
            int64_t i = p->npos[q];
            if (q > 0 && p->npos[q - 1] == i - 1 && p->len[q - 1] > GAP_DERIVE) {
                /* the previous position matches far: its match shifted by one is good
                 * enough here (this keeps runs and repeats of new linear) */
                p->len[q] = p->len[q - 1] - 1;
                p->pos[q] = p->pos[q - 1] + 1;
                *link = p->next[q];
                continue;
            }
            int64_t lim = m - i < GAP_MAXLEN ? m - i : GAP_MAXLEN;
            int64_t l = BSD_QGRAM + bsd_matchlen(nw + i + BSD_QGRAM, lim - BSD_QGRAM,
                                                 old + j + BSD_QGRAM, n - j - BSD_QGRAM);
            if (l > p->len[q]) {
                p->len[q] = (int32_t)l;
                p->pos[q] = j;
            }
            work += l;
            if (work > GAP_WORK) max_tries = GAP_TRIES;
            if (++p->tries[q] >= max_tries || l >= lim) *link = p->next[q]; /* done: unlink */
            else link = &p->next[q];
        }
        if (!p->head[s] && ++dead * 32 > live) {
            gap_filter(p, &live);
            dead = 0;
        }
    }
    return NULL;
}

int bsd_gapm_build(bsd_gapm *g, const bsd_old *o, const unsigned char *nw, int64_t m,
                   const bsd_seg *anc, size_t nanc, unsigned threads) {
    memset(g, 0, sizeof(*g));
    int64_t cnt = bsd_gap_count(anc, nanc, m);
    size_t cn = (size_t)(cnt ? cnt : 1);
    g->count = cnt;
    g->base = malloc((nanc + 2) * sizeof(int64_t));
    g->gs = malloc((nanc + 2) * sizeof(int64_t));
    g->pos = malloc(cn * sizeof(int64_t));
    g->len = calloc(cn, sizeof(int32_t));
    int64_t *npos = malloc(cn * sizeof(int64_t));
    size_t slots = 1024;
    while (slots < 2 * (size_t)cnt) slots *= 2;
    unsigned lg = 0;
    while (((size_t)1 << lg) < slots * 8) lg++; /* filter: 8 bits per slot */
    gap_slot *tab = calloc(slots, sizeof(gap_slot));
    gap_part part[GAP_PARTS];
    memset(part, 0, sizeof part);
    int rc = -1, ok = g->base && g->gs && g->pos && g->len && npos && tab;
    for (int k = 0; k < GAP_PARTS && ok; k++) {
        gap_part *p = &part[k];
        p->head = calloc(slots, sizeof(uint32_t));
        p->next = malloc(cn * sizeof(uint32_t));
        p->tries = calloc(cn, sizeof(uint16_t));
        p->len = k ? calloc(cn, sizeof(int32_t)) : g->len;
        p->pos = k ? malloc(cn * sizeof(int64_t)) : g->pos;
        p->filt = calloc(((size_t)1 << lg) / 64, sizeof(uint64_t));
        ok = p->head && p->next && p->tries && p->len && p->pos && p->filt;
    }
    if (!ok) goto out;

    /* number the gap positions; insert their 8-grams (lists keep new order) */
    int64_t c = 0;
    size_t ng = 0;
    uint32_t *head = part[0].head, *next = part[0].next;
    FOR_EACH_GAP(anc, nanc, m, {
        g->gs[ng] = gs;
        g->base[ng++] = c;
        for (int64_t i = gs; i < ge; i++, c++) {
            uint64_t v = bsd_load64(nw + i);
            uint64_t h = v * 0x9E3779B97F4A7C15ull;
            size_t s = (size_t)(h >> 32) & (slots - 1);
            while (tab[s].used && tab[s].key != v) s = (s + 1) & (slots - 1);
            npos[c] = i;
            next[c] = 0;
            if (!tab[s].used) {
                tab[s].used = 1;
                tab[s].key = v;
                head[s] = (uint32_t)c + 1;
            } else {
                next[tab[s].tail - 1] = (uint32_t)c + 1;
            }
            tab[s].tail = (uint32_t)c + 1;
        }
    });
    g->ngaps = ng;
    g->base[ng] = c;

    int64_t n = o->size, last = n - BSD_QGRAM + 1; /* 8-grams of old start in [0, last) */
    if (last < 0) last = 0;
    for (int k = 0; k < GAP_PARTS; k++) {
        gap_part *p = &part[k];
        if (k) {
            memcpy(p->head, head, slots * sizeof(uint32_t));
            memcpy(p->next, next, cn * sizeof(uint32_t));
        }
        p->tab = tab;
        p->npos = npos;
        p->slots = slots;
        p->lg = lg;
        p->old = o->data;
        p->nw = nw;
        p->n = n;
        p->m = m;
        p->j0 = last * k / GAP_PARTS;
        p->j1 = last * (k + 1) / GAP_PARTS;
    }
    pthread_t th[GAP_PARTS];
    int started[GAP_PARTS] = {0};
    for (int k = 1; k < GAP_PARTS && threads > 1; k++)
        started[k] = pthread_create(&th[k], NULL, gap_pass, &part[k]) == 0;
    gap_pass(&part[0]);
    for (int k = 1; k < GAP_PARTS; k++) {
        if (started[k]) pthread_join(th[k], NULL);
        else gap_pass(&part[k]);
    }
    /* merge: the longest match; on a tie, the earlier part's */
    for (int k = 1; k < GAP_PARTS; k++)
        for (int64_t q = 0; q < cnt; q++)
            if (part[k].len[q] > g->len[q]) {
                g->len[q] = part[k].len[q];
                g->pos[q] = part[k].pos[q];
            }
    /* a match at i-1 of length L gives one of length L-1 at i */
    for (size_t k = 0; k < ng; k++) {
        for (int64_t q = g->base[k] + 1; q < g->base[k + 1]; q++)
            if (g->len[q - 1] - 1 > g->len[q] && g->len[q - 1] - 1 >= BSD_QGRAM) {
                g->len[q] = g->len[q - 1] - 1;
                g->pos[q] = g->pos[q - 1] + 1;
            }
    }
    rc = 0;
out:
    for (int k = 0; k < GAP_PARTS; k++) {
        free(part[k].head);
        free(part[k].next);
        free(part[k].tries);
        free(part[k].filt);
        if (k) {
            free(part[k].len);
            free(part[k].pos);
        }
    }
    free(npos);
    free(tab);
    if (rc) bsd_gapm_free(g);
    return rc;
}

/* The first anchor that ends after at. cur, when given, holds the previous answer: the scans
 * search position after position, so the answer is usually that anchor or one of the next few
 * (found by stepping; a binary search otherwise). */
static size_t anchor_at(const bsd_finder *f, int64_t at, size_t *cur) {
    size_t lo = 0, hi = f->nanc;
    size_t c = cur ? *cur : 0;
    if (cur && c <= f->nanc && (c == 0 || f->anc[c - 1].newp + f->anc[c - 1].len <= at)) {
        for (int k = 0; k < 8 && c < f->nanc && f->anc[c].newp + f->anc[c].len <= at; k++) c++;
        if (c == f->nanc || f->anc[c].newp + f->anc[c].len > at) return *cur = c;
        lo = c;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (f->anc[mid].newp + f->anc[mid].len <= at) lo = mid + 1;
        else hi = mid;
    }
    if (cur) *cur = lo;
    return lo;
}

int64_t bsd_find(const bsd_finder *f, int64_t at, const unsigned char *p, int64_t plen,
                 int64_t *pos, size_t *cur, bsd_known *known) {
    /* inside an anchor: the anchor is the answer (it was extended as far as it matches) */
    size_t lo = anchor_at(f, at, cur);
    int64_t al = 0, ap = 0;
    if (lo < f->nanc && f->anc[lo].newp <= at) {
        al = f->anc[lo].newp + f->anc[lo].len - at;
        if (al > plen) al = plen;
        ap = f->anc[lo].oldp + (at - f->anc[lo].newp);
        /* a long exact anchor is taken as is (this is what makes near-identical input cheap);
         * a short one competes with the suffix array, which may know a longer match */
        if (al >= ANCHOR_TRUST || al == plen || (!f->sa && !f->gm)) {
            *pos = ap;
            return al >= BSD_QGRAM || al == plen ? al : 0;
        }
    }
    if (f->gm) {
        const bsd_gapm *g = f->gm;
        size_t glo = 0, ghi = g->ngaps;
        while (ghi - glo > 1) {
            size_t mid = glo + (ghi - glo) / 2;
            if (g->gs[mid] <= at) glo = mid;
            else ghi = mid;
        }
        int64_t l = 0, gp = 0;
        if (g->ngaps && at >= g->gs[glo]) {
            int64_t q = g->base[glo] + (at - g->gs[glo]);
            if (q < g->base[glo + 1]) {
                l = g->len[q];
                gp = g->pos[q];
            }
        }
        if (l > plen) l = plen;
        if (al >= BSD_QGRAM && al >= l) {
            *pos = ap;
            return al;
        }
        if (l < BSD_QGRAM) return 0;
        *pos = gp;
        return l;
    }
    if (!f->sa) return 0;
    int64_t cp, l;
    if (known && known->have) {
        l = known->len;
        cp = known->pos;
    } else {
        l = bsd_sa_find(f->sa, p, plen, &cp);
        if (l && f->nparts) l = map_part(f, &cp, l);
        if (known) *known = (bsd_known){l, cp, 1};
    }
    if (al >= BSD_QGRAM && al >= l) {
        *pos = ap;
        return al;
    }
    *pos = cp;
    return l;
}

