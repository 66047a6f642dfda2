/* bsd_internal.h - declarations shared by the bsdiff library's source files (not installed). */
#ifndef BSD_INTERNAL_H
#define BSD_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "bsdiff.h"

/* A matched region: new[newp, newp+len) is produced as old[oldp, oldp+len) + diff bytes.
 * Segments are sorted by newp and never overlap in new; the bytes between two segments are
 * extra (literal) bytes. */
typedef struct bsd_seg {
    int64_t newp, oldp, len;
} bsd_seg;

typedef struct bsd_seglist {
    bsd_seg *v;
    size_t n, cap;
} bsd_seglist;

int bsd_seglist_push(bsd_seglist *l, int64_t newp, int64_t oldp, int64_t len);
void bsd_seglist_free(bsd_seglist *l);

/* Shortest match the scan may switch to; also the q-gram length of the presence filter, which
 * is only sound while no accepted match can be shorter than it. */
#define BSD_QGRAM 8

/* A suffix array over a text, with a two-byte bucket table and a q-gram presence filter. */
typedef struct bsd_sa {
    const unsigned char *text;
    int64_t size;
    int sa64;        /* 1: int64_t entries (divsufsort64), 0: int32_t */
    void *sa;
    /* 65537 entries: bucket[k] is the first SA index of the suffixes starting with the two
     * bytes k; the one-byte suffix sorts between the keys c - 1 and c (c its byte), so the range
     * of key tail_key (or of none: 0x10000) is [bucket[k], bucket[k + 1] - 1), not to its end */
    int64_t *bucket;
    unsigned tail_key;
    uint64_t *bloom; /* presence filter of the text's BSD_QGRAM-grams */
    unsigned bloom_bits; /* log2 of the number of bits */
    /* Second level for the largest two-byte buckets (32-bit arrays only): sub_of[k] is -1 or
     * j, and sub[257 j + c] the first SA index of prefix k then byte c (sub[257 j + 256] the
     * bucket's end), so a search starts from three bytes. NULL when not built. */
    int32_t *sub_of;
    uint32_t *sub;
    uint64_t sub_bytes; /* both, as allocated (while the index is built: what they may take) */
} bsd_sa;

struct bsd_old {
    const unsigned char *data;
    int64_t size;
    unsigned char hash[16]; /* XXH3-128 canonical */

    /* Block index for the pre-match: BSD_BLOCK-byte blocks at old positions that are multiples
     * of blk_stride; open addressing; a slot holds a hash tag (high bits) and block number + 1
     * (low BLK_POS_BITS bits). */
    uint32_t *blk_table;
    size_t blk_mask;
    int64_t blk_stride;
    /* Set by a caller that diffs this old once only: the block index goes as soon as the
     * pre-match is done, which leaves its memory to the suffix sort. */
    int single_use;

    /* Suffix array of all of old, built on first need under lock and kept. */
    pthread_mutex_t lock;
    int index_built;
    bsd_sa full;
    double sort_seconds;
};

#define BSD_BLOCK 32

/* Memory a suffix array index over n bytes takes (array, bucket table, filter), with the filter
 * capped at 2^bloom_cap bits; and the memory a built one takes. */
uint64_t bsd_sa_bytes(int64_t n, unsigned bloom_cap);
/* The same without the filter: the array and the bucket table. */
uint64_t bsd_sa_core_bytes(int64_t n);
uint64_t bsd_sa_mem(const bsd_sa *s);
/* The most the second-level table of an index over n bytes can take (0: never built); it is
 * built only within what the caller gives (bsd_sa_build's sub_max). It changes no match. */
uint64_t bsd_sub_bytes(int64_t n);
/* The largest filter cap for an index over n bytes that takes at most spare bytes more than the
 * default one (which it returns when spare is 0). */
unsigned bsd_bloom_cap(int64_t n, uint64_t spare);
uint64_t bsd_blockindex_bytes(int64_t n);

/* bsd_index.c */
int bsd_blockindex_build(bsd_old *o);                       /* 0 or -1 (no memory) */
/* threads > 1: the sort runs on two threads (bsd_sort_split) when room, the memory it may
 * take beyond the index itself, allows; otherwise the bucket table and filter are built on a
 * second thread during a one-thread sort. The index is the same either way. */
int bsd_sa_build(bsd_sa *s, const unsigned char *text, int64_t n, unsigned bloom_cap,
                 uint64_t sub_max, unsigned threads, uint64_t room, char *err, size_t errlen);

/* bsd_sort.c: the suffix array of d[0, n) into sa on two threads, the same array one
 * libdivsufsort call gives. side(side_arg, k) for k in [0, side_parts) is work that reads only
 * the text: the parts run, once each, on whichever thread has ended its half of the sort.
 * 0: done; 1: not done (too small, no room, no thread or no exact cut; side not run); 2: not
 * done, the merge gave up on repetitive text (sa overwritten, side run); -2: libdivsufsort
 * failed. */
int bsd_sort_split(const unsigned char *d, int64_t n, int32_t *sa, uint64_t room,
                   void (*side)(void *, int), void *side_arg, int side_parts);
/* The memory bsd_sort_split takes beyond sa with this room: at most room, 0 when it would not
 * split. */
uint64_t bsd_sort_tmp_bytes(int64_t n, uint64_t room);
void bsd_sa_free(bsd_sa *s);
/* Longest match of p[0, plen) in the text: its length (0 when shorter than BSD_QGRAM or ruled
 * out by the filter), position in *pos. */
int64_t bsd_sa_find(const bsd_sa *s, const unsigned char *p, int64_t plen, int64_t *pos);
/* The filter alone: 0 when the BSD_QGRAM bytes at p do not occur in the text, 1 when they may. */
int bsd_sa_maybe(const bsd_sa *s, const unsigned char *p);
/* The same for the positions p + at[i], i < count (at most 32): bit i for p + at[i]. */
uint32_t bsd_sa_maybe_at(const bsd_sa *s, const unsigned char *p, const int64_t *at, int count);
/* Old position whose block equals new[p, p+BSD_BLOCK), or -1. */
int64_t bsd_block_lookup(const bsd_old *o, const unsigned char *p);
void bsd_block_prefetch(const bsd_old *o, const unsigned char *p);

/* What the scan searches: exact anchors from the block pre-match, and a suffix array over
 * either all of old or only the parts of old no anchor covers (concatenated; part k holds
 * old[part_r[k], part_r[k] + part_len[k]) at text offset part_c[k]). */
/* Matches for the bytes of new that no long anchor covers, found without a suffix array: the
 * longest match into all of old (within the limits in bsd_index.c) of every such position.
 * Gap k starts at gs[k]; its positions are numbered from base[k]. */
typedef struct bsd_gapm {
    size_t ngaps;
    int64_t *gs;    /* start in new of each gap */
    int64_t *base;  /* ngaps + 1 entries: number of the first position of each gap */
    int64_t *pos;   /* old position of the match of each gap position */
    int32_t *len;   /* its length (0: none of at least BSD_QGRAM) */
    int64_t count;  /* gap positions */
} bsd_gapm;
/* Gap positions of new[0, m) given the anchors (the work and memory the gap matcher needs). */
int64_t bsd_gap_count(const bsd_seg *anc, size_t nanc, int64_t m);
/* Builds g: one pass over old (its two halves on two threads when threads > 1; the result is
 * the same). 0, or -1 out of memory. */
int bsd_gapm_build(bsd_gapm *g, const bsd_old *o, const unsigned char *nw, int64_t m,
                   const bsd_seg *anc, size_t nanc, unsigned threads);
void bsd_gapm_free(bsd_gapm *g);
uint64_t bsd_gapm_bytes(int64_t count, size_t nanc);

#define BSD_PART_MAP_SHIFT 8

typedef struct bsd_finder {
    const bsd_old *o;
    const bsd_gapm *gm;   /* non-NULL: gap matches instead of a suffix array */
    const bsd_sa *sa;     /* NULL: anchors only (or gap matches) */
    const int64_t *part_c, *part_r, *part_len;
    const int64_t *part_map; /* [x >> BSD_PART_MAP_SHIFT]: the part holding text offset x's step */
    size_t nparts;        /* 0: sa is over all of old */
    const struct bsd_seg *anc;
    size_t nanc;
    /* non-NULL: the matcher may settle close choices by compressing both candidates, as
     * many chunks at a time as the gate has places (memory to spare for bzip2 compressors) */
    struct bsd_gate *cost_gate;
} bsd_finder;

/* At most `places` holders at once. Who holds a place changes no result, only the memory. */
typedef struct bsd_gate {
    pthread_mutex_t m;
    pthread_cond_t c;
    unsigned places;
} bsd_gate;
int bsd_gate_init(bsd_gate *g, unsigned places); /* 0, or -1 */
void bsd_gate_enter(bsd_gate *g);
void bsd_gate_leave(bsd_gate *g);
void bsd_gate_destroy(bsd_gate *g);
/* The suffix array's answer at a position (after the parts' mapping): the length of the
 * longest match, 0 for none, and an old position holding a match that long. */
typedef struct bsd_known {
    int64_t len, pos;
    int have; /* set: len and pos hold the answer */
} bsd_known;
/* cur: NULL, or the caller's cursor into the anchors (start it at 0), for searches that mostly
 * move forward; it changes no result. known: NULL; or, with have set, the answer to use
 * instead of a search (taken from an earlier search, or the classic scan's rule); or, with
 * have clear, filled in when the suffix array was searched. */
int64_t bsd_find(const bsd_finder *f, int64_t at, const unsigned char *p, int64_t plen,
                 int64_t *pos, size_t *cur, bsd_known *known);

static inline uint64_t bsd_load64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Length of the common prefix of a[0, alen) and b[0, blen). */
static inline int64_t bsd_matchlen(const unsigned char *a, int64_t alen, const unsigned char *b,
                                   int64_t blen) {
    int64_t n = alen < blen ? alen : blen, i = 0;
    while (i + 8 <= n) {
        uint64_t x = bsd_load64(a + i) ^ bsd_load64(b + i);
        if (x) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return i + (__builtin_ctzll(x) >> 3);
#else
            break;
#endif
        }
        i += 8;
    }
    while (i < n && a[i] == b[i]) i++;
    return i;
}

/* Equal bytes just before a and b (a[-1] and b[-1] first), at most n. */
static inline int64_t bsd_matchlen_back(const unsigned char *a, const unsigned char *b, int64_t n) {
    int64_t i = 0;
    while (i + 8 <= n) {
        uint64_t x = bsd_load64(a - i - 8) ^ bsd_load64(b - i - 8);
        if (x) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return i + (__builtin_clzll(x) >> 3);
#else
            break;
#endif
        }
        i += 8;
    }
    while (i < n && a[-i - 1] == b[-i - 1]) i++;
    return i;
}

/* bsd_match.c */
typedef struct bsd_scan_params {
    /* classic scan (bsd_scan_chunk) */
    int64_t min_gain; /* a new alignment must match this many more bytes than the current one */
    /* cover matcher (bsd_scan_chunk2) */
    int64_t trust;      /* a recent alignment matching this far skips the suffix array search */
    int64_t margin;     /* the suffix array's match must be this much longer to win over it */
    int64_t min_cover;  /* shortest exact match kept as a cover */
    int64_t stride_max; /* largest step between searches in unmatched regions */
    int64_t window;     /* covers looked back at by the shortest path */
    int64_t max_merge;  /* longest gap bridged between covers on one alignment */
    /* estimated costs in 1/16 byte: a command, a literal byte, a mismatching and a matching
     * diff byte */
    int64_t c_cmd, c_lit, c_mis, c_match;
    int64_t ext_match, ext_mism; /* extension score weights of a matching and a mismatching byte */
    /* the two matchers' estimates within this many percent of each other are settled by
     * compressing both (bsd_scan_both) */
    int64_t real_close;
} bsd_scan_params;

/* For tests. 2 (the default): the classic scan takes the rest of the match it is in without
 * a search, and uses the shortcuts that change no answer (the cover matcher's searches, the
 * filter read ahead); 1: only those; 0: neither, every position it looks at is searched. */
extern int bsd_scan_shortcuts;

/* Full scan of new[cs, ce); appends segments (absolute positions). */
int bsd_scan_chunk(const bsd_finder *f, const unsigned char *nw, int64_t cs, int64_t ce,
                   const bsd_scan_params *prm, bsd_seglist *out);
/* Cover matcher over new[cs, ce) (see bsd_match.c); appends segments. memo: NULL, or where
 * its suffix array answers are kept for the classic scan over the same chunk. */
typedef struct bsd_memo bsd_memo;
int bsd_scan_chunk2(const bsd_finder *f, const unsigned char *nw, int64_t cs, int64_t ce,
                    const bsd_scan_params *prm, bsd_seglist *out, bsd_memo *memo);
/* Both matchers over new[cs, ce); keeps the result with the lower estimated cost. */
int bsd_scan_best(const bsd_finder *f, const unsigned char *nw, int64_t cs, int64_t ce,
                  const bsd_scan_params *prm, bsd_seglist *out);
/* Both results: the estimated cheaper one in out, the other in alt (both appended to). */
int bsd_scan_both(const bsd_finder *f, const unsigned char *nw, int64_t cs, int64_t ce,
                  const bsd_scan_params *prm, bsd_seglist *out, bsd_seglist *alt);
/* Block pre-match over all of new: exact anchors, sorted, not overlapping in new. Returns 1,
 * 0 when it gave up because new is mostly unlike old (anchors emptied), -1 out of memory. */
int bsd_prematch(const bsd_old *o, const unsigned char *nw, int64_t m, unsigned threads,
                 bsd_seglist *anc);

/* bsd_write.c: the serializer and the two format writers. */
typedef struct bsd_writer bsd_writer;
typedef struct bsd_write_cfg {
    bsd_format format;
    bsd_compressor comp;
    int level;
    int bz_search; /* bzip2: search each block's layout (bsd_pbz_create) */
    const unsigned char *old;
    int64_t old_size;
    const unsigned char *nw;
    int64_t new_size;
    const unsigned char *old_hash; /* 16 bytes, BSDELTA only */
    const unsigned char *new_hash;
    const bsd_sink *sink;
    struct bsd_pool *pool; /* NULL: compress inline */
    unsigned threads;
    int64_t merge_gap; /* segments on one alignment at most this far apart become one */
    const struct bsd_xform *xf; /* deflate-aware (BSDELTA): old/new above are expansions */
} bsd_write_cfg;

/* What a deflate-aware patch's header and section say about the real files. */
typedef struct bsd_xform {
    uint64_t old_size, new_size;
    unsigned char old_hash[16], new_hash[16];
    unsigned char *section; /* varint length, the section, its XXH32 */
    size_t section_len;
} bsd_xform;

/* Errors: returns a bsd_error, with a message in err. */
bsd_error bsd_writer_open(bsd_writer **w, const bsd_write_cfg *cfg, char *err, size_t errlen);
/* Feeds the next segments (sorted, after every segment fed before). */
bsd_error bsd_writer_segments(bsd_writer *w, const bsd_seg *v, size_t n, char *err,
                              size_t errlen);
/* Ends the command stream, finishes compression and (BSDIFF40) writes out the blocks. */
bsd_error bsd_writer_finish(bsd_writer *w, char *err, size_t errlen);
void bsd_writer_stats(const bsd_writer *w, uint64_t *patch, uint64_t *cmds, uint64_t *diff,
                      uint64_t *extra, double *compress_seconds);
void bsd_writer_free(bsd_writer *w);
/* Working memory of a writer with these settings (compressor states and buffers). */
uint64_t bsd_writer_bytes(bsd_format format, bsd_compressor comp, int level);

double bsd_now(void);

/* The nr (begin, length) parts of d in r with repeated content-defined chunks left out
 * (bsd_diff.c), in order, as a new array of *n_out parts holding *bytes bytes; NULL when out of
 * memory or when no part is long enough to cut (r is then to be used as it is). */
int64_t *bsd_dedupe_parts(const unsigned char *d, const int64_t *r, int64_t nr, int64_t *n_out,
                          int64_t *bytes);
/* The pieces of those parts (holding *bytes bytes on entry) that share a sampled window with
 * new's bytes outside the anchors (sorted by new position), with some context, as a new array
 * of *n_out parts holding *bytes bytes; NULL when out of memory (bsd_diff.c). */
int64_t *bsd_near_parts(const unsigned char *d, const int64_t *r, int64_t nr,
                        const unsigned char *nw, int64_t m, const bsd_seg *anc, size_t nanc,
                        unsigned threads, int64_t *n_out, int64_t *bytes);

/* bzip2 block encoder (bsd_bzenc.c). BSD_BZ_BLOCK_MAX: the most symbols libbz2's decoder takes
 * in a block of a level-9 stream (a level-L stream: 100000 L - 1). */
#define BSD_BZ_BLOCK_MAX 899999
typedef struct bsd_bzblock {
    unsigned char *bits; /* the block, most significant bit first, from its 48-bit magic on */
    uint64_t nbits;
    uint32_t crc; /* the block's CRC (for the stream's combined CRC) */
} bsd_bzblock;
/* Expansion of run-length-stage symbols back into bytes, a buffer at a time: four equal bytes
 * are followed by a count of further copies. Start with {0, -1, 0}. */
typedef struct bsd_unrle {
    size_t at; /* symbols read */
    int prev, same;
} bsd_unrle;
/* Fills buf (cap >= 255) with the bytes of the next symbols of s[0, n); returns their number,
 * 0 once every symbol is read. */
size_t bsd_unrle_next(bsd_unrle *u, const unsigned char *s, size_t n, unsigned char *buf,
                      size_t cap);
/* Suffix array of s[0, n) as libdivsufsort gives it, for the small blocks below BSD_SMALL_SA
 * (bsd_bzenc.c): 0, or -1 when out of memory. */
#define BSD_SMALL_SA 2048
int bsd_small_sa(const unsigned char *s, int32_t *sa, int32_t n);
/* Where a block of run-length-stage symbols s[0, n) may end, at or after symbol `at`: not
 * inside a run of equal bytes that the next block would go on with (the decoder starts each
 * block afresh) and not before a run's count. 0 when there is no such place before n. */
size_t bsd_bz_safe_cut(const unsigned char *s, size_t n, size_t at);
/* Encodes one block from s[0, n): the block as bzip2's first run-length stage leaves it (runs
 * of 4 to 255 equal bytes as four bytes and a count), 1 <= n <= BSD_BZ_BLOCK_MAX. Flags:
 * BSD_BZ_TABLE_SEARCH chooses the number of Huffman tables by trying each (more work on the
 * entropy stage); BSD_BZ_NO_CRC writes 0 for the block's CRC, for a block that is only
 * measured (the CRC of a run of zeros in diff bytes takes most of such a block's time).
 * Returns 0
 * (out->bits malloc'd), BSD_E_NOMEM, or 1 when s repeats a shorter string (this encoder's
 * rotation sort needs a block without equal rotations: compress it with libbz2). */
#define BSD_BZ_TABLE_SEARCH 1
#define BSD_BZ_NO_CRC 2
int bsd_bz_block(const unsigned char *s, size_t n, unsigned flags, bsd_bzblock *out);

#endif /* BSD_INTERNAL_H */
