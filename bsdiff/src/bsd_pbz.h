/* bsd_pbz.h - worker pool, spill buffer, and the parallel single-stream bzip2 writer (internal
 * to the bsdiff library; the counting gate bsd_pbz.c implements is declared in bsd_internal.h). */
#ifndef BSD_PBZ_H
#define BSD_PBZ_H

#include <stdio.h>

#include "bsd_internal.h"

/* A unit of work; state 0 new, 1 queued/running, 2 done. Owned by the submitter. */
typedef struct bsd_job {
    void (*fn)(void *arg);
    void *arg;
    int state;
    struct bsd_job *next;
} bsd_job;

typedef struct bsd_pool bsd_pool;
/* NULL with *err == 0 when nthreads <= 1 (jobs then run inline at submission); NULL with
 * *err != 0 when memory or threads are missing. */
bsd_pool *bsd_pool_create(unsigned nthreads, int *err);
void bsd_pool_submit(bsd_pool *p, bsd_job *j);
void bsd_pool_wait(bsd_pool *p, bsd_job *j);
void bsd_pool_free(bsd_pool *p); /* waits for queued jobs, joins */

/* Byte sink that stays in memory up to limit bytes, then moves to an unnamed temporary file
 * (tmpfile(3), removed automatically). Used for the BSDIFF40 blocks, whose lengths must be
 * written in the header before them. */
typedef struct bsd_spill {
    unsigned char *mem;
    size_t len, cap, limit;
    FILE *fp;
    uint64_t total;
} bsd_spill;
void bsd_spill_init(bsd_spill *s, size_t mem_limit);
int bsd_spill_write(void *opaque, const void *buf, size_t len); /* 0, -1 nomem, -2 I/O */
int bsd_spill_drain(bsd_spill *s, const bsd_sink *out);         /* 0, -1 sink, -2 I/O */
void bsd_spill_free(bsd_spill *s);

/* One bzip2 stream written to write(opaque, ...). Modes (or'ed):
 * - BSD_PBZ_SEARCH: every block is also tried as the blocks of its halves (recursively, while
 *   halves win) and with every Huffman table count, and the smallest is kept: 2-4% smaller on
 *   binaries' diff and extra bytes, for about four times the compression work;
 * - BSD_PBZ_MEASURE: the stream is only measured: its CRCs are left 0 (same size, less work).
 * Functions return 0 or a bsd_error; after an error every call returns it. */
#define BSD_PBZ_SEARCH 1
#define BSD_PBZ_MEASURE 2
typedef struct bsd_pbz bsd_pbz;
bsd_pbz *bsd_pbz_create(bsd_pool *pool, unsigned threads, int level, unsigned mode,
                        int (*write)(void *, const void *, size_t), void *opaque);
int bsd_pbz_write(bsd_pbz *z, const void *data, size_t len);
/* Ends the current block here: what follows starts a block of its own. */
int bsd_pbz_cut(bsd_pbz *z);
int bsd_pbz_finish(bsd_pbz *z);
uint64_t bsd_pbz_total(const bsd_pbz *z);   /* compressed bytes written so far */
double bsd_pbz_seconds(const bsd_pbz *z);   /* compressor time, summed over pieces */
uint64_t bsd_pbz_blocks(const bsd_pbz *z);  /* bzip2 blocks written so far */
void bsd_pbz_free(bsd_pbz *z);

#endif
