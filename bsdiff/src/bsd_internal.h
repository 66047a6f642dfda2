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

struct bsd_old {
    const unsigned char *data;
    int64_t size;
    unsigned char hash[16]; /* XXH3-128 canonical */

    /* Block index for the near-identical fast path: hashes of BSD_BLOCK bytes at old positions
     * that are multiples of blk_stride; open addressing, slot = position / blk_stride + 1. */
    uint32_t *blk_table;
    size_t blk_mask;
    int64_t blk_stride;

    /* Suffix array, built on first need under lock. */
    pthread_mutex_t lock;
    int index_built;
    int sa64;        /* 1: int64_t entries (divsufsort64), 0: int32_t */
    void *sa;
    int64_t *bucket; /* 65537 entries: SA range of each first-two-bytes prefix */
    uint64_t *bloom; /* presence filter of old's BSD_QGRAM-grams */
    unsigned bloom_bits; /* log2 of the number of bits */
    double sort_seconds;
};

#define BSD_BLOCK 32

/* Memory the index of an old of n bytes takes (suffix array, bucket table, filter). */
uint64_t bsd_index_bytes(int64_t n);
uint64_t bsd_blockindex_bytes(int64_t n);

/* bsd_index.c */
int bsd_blockindex_build(bsd_old *o);                 /* 0 or -1 (no memory) */
int bsd_index_build(bsd_old *o, char *err, size_t errlen); /* 0, -1 no memory, -2 sort failed */
/* Longest match of p[0, plen) in old: returns its length (0 when shorter than BSD_QGRAM or
 * when the filter rules it out) and stores its position in *pos. */
int64_t bsd_index_find(const bsd_old *o, const unsigned char *p, int64_t plen, int64_t *pos);
/* Old position whose block hashes like new[p, p+BSD_BLOCK), or -1. */
int64_t bsd_block_lookup(const bsd_old *o, const unsigned char *p);

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

/* bsd_match.c */
typedef struct bsd_scan_params {
    int64_t min_gain; /* a new alignment must match this many more bytes than the current one */
} bsd_scan_params;

/* Full scan of new[cs, ce) against the suffix array; appends segments (absolute positions). */
int bsd_scan_chunk(const bsd_old *o, const unsigned char *nw, int64_t cs, int64_t ce,
                   const bsd_scan_params *prm, bsd_seglist *out);
/* Block pre-match over all of new: anchors extended into segments. Returns 1 when new is
 * covered well enough for the fast path (segments in *out), 0 when not (out emptied), -1 when
 * out of memory. */
int bsd_fast_match(const bsd_old *o, const unsigned char *nw, int64_t m, bsd_seglist *out);

/* bsd_write.c: the serializer and the two format writers. */
typedef struct bsd_writer bsd_writer;
typedef struct bsd_write_cfg {
    bsd_format format;
    bsd_compressor comp;
    int level;
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
} bsd_write_cfg;

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

#endif /* BSD_INTERNAL_H */
