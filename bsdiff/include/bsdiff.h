/* bsdiff.h - the bsdelta diff engine: builds BSDELTA (streaming) and BSDIFF40 patches from an
 * old and a new file held in memory (docs/FORMAT.md).
 *
 * Model: the old file is "prepared" once (hash, block index, and - when a diff needs it - its
 * suffix array); any number of new files can then be diffed against it. The patch is produced
 * through a strictly sequential write callback, compressed as it is produced.
 *
 * Memory (inputs under 2 GiB): the caller's old and new buffers, plus 4 bytes per old byte for
 * the suffix array (8 beyond 2 GiB), plus at most about 64 MiB of working memory (match lists,
 * compressor states, spill buffers). The suffix array is not built when the new file is nearly
 * identical to the old one (the block-match fast path).
 *
 * Threading: a bsd_ctx is used by one thread at a time; distinct contexts are independent. A
 * prepared old (bsd_old) is read-only once prepared except for the suffix array built on first
 * need under an internal lock: several contexts may diff against the same bsd_old concurrently.
 * The library starts its own worker threads (bsd_options.threads) and joins them before any
 * call returns. The patch bytes depend only on the inputs and options other than threads and
 * progress: every thread count, on every machine, gives the same patch.
 * The library never prints, aborts or exits; every failure is a bsd_error plus a detail
 * message kept on the context (bsd_detail). */
#ifndef BSDIFF_H
#define BSDIFF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define BSD_API
#elif defined(__GNUC__) && (__GNUC__ >= 4)
#define BSD_API __attribute__((visibility("default")))
#else
#define BSD_API
#endif

/* Error codes. Values are pinned: they are part of the ABI and never renumbered. */
typedef enum bsd_error {
    BSD_OK = 0,
    BSD_E_MISUSE = 1,      /* invalid argument or call out of order (a caller bug) */
    BSD_E_NOMEM = 2,       /* an allocation failed */
    BSD_E_LIMIT = 3,       /* the memory cap cannot be met, or a size exceeds the format's limit */
    BSD_E_UNSUPPORTED = 4, /* an option this build or this format does not offer (e.g. zstd) */
    BSD_E_WRITE = 5,       /* the output callback failed */
    BSD_E_COMPRESS = 6,    /* the compressor reported an error */
    BSD_E_CANCELLED = 7,   /* the progress callback asked to stop */
    BSD_E_THREAD = 8,      /* a worker thread could not be started */
    BSD_E_IO = 9           /* a temporary (spill) file could not be created, written or read */
} bsd_error;

/* A static English description of an error code ("unknown error" for values not listed). */
BSD_API const char *bsd_strerror(bsd_error err);

/* Patch formats; the values equal bspatch's bsp_format. */
typedef enum bsd_format {
    BSD_FORMAT_BSDELTA = 1, /* our streaming format, version 2 (the default) */
    BSD_FORMAT_BSDIFF40 = 2 /* classic bsdiff 4.x, applied by every bspatch */
} bsd_format;

/* Compressors; the values equal the BSDELTA header's compressor ids (BSDL_COMP_*).
 * BSDIFF40 is always bzip2. zstd (BSDELTA only, window at most 2 MiB) makes patches about 4%
 * smaller than bzip2 on our corpus and faster to apply, but at its default level 19 the diff
 * takes two to three times as long (docs/BENCHMARKS.md). */
typedef enum bsd_compressor {
    BSD_COMP_NONE = 0,
    BSD_COMP_BZIP2 = 1,
    BSD_COMP_ZSTD = 2
} bsd_compressor;

/* Stages reported to the progress callback, in order. */
typedef enum bsd_stage {
    BSD_STAGE_HASH = 1,  /* hashing the inputs, block pre-match */
    BSD_STAGE_SORT = 2,  /* building the suffix array of old (done: 0 or 1 of 1) */
    BSD_STAGE_SCAN = 3,  /* matching and compressing new (done/total in new bytes) */
    BSD_STAGE_FINISH = 4 /* finishing the streams and writing out spilled blocks */
} bsd_stage;

/* Progress: called from the thread that called the library, never from a worker, at most a
 * few hundred times per diff. Return 0 to continue, non-zero to stop with BSD_E_CANCELLED. */
typedef int (*bsd_progress_fn)(void *opaque, bsd_stage stage, uint64_t done, uint64_t total);

/* Deflate-aware patches (BSDELTA only; docs/FORMAT.md): when both files hold deflate streams
 * (a gzip file, zip entries), diff their token expansions instead of the compressed bytes, so
 * that a changed file inside an archive costs its change instead of the rest of the stream.
 * The patch is held in memory until it is complete; when it comes out over half the size of
 * new (new shares little with old), the plain patch is made too and the smaller one written.
 * Applying such a patch needs a scratch store for the old file's expansion (bsp_set_scratch;
 * the bspatch command uses a temporary file next to its output). Only bsd_diff_buffers and
 * bsd_diff_to_file use it: a prepared old (bsd_diff) is always diffed as is. */
typedef enum bsd_deflate_mode {
    BSD_DEFLATE_AUTO = 0, /* deflate-aware when both files have deflate streams */
    BSD_DEFLATE_OFF = 1   /* always diff the bytes as they are */
} bsd_deflate_mode;

/* How much work the bzip2 compressor puts into its blocks. A search tries every block whole
 * and as the blocks of its two halves (and so on, down to 1/64 of a block where halves keep
 * winning), each with every Huffman table count, and keeps the smallest: on the corpus's
 * binaries 1.6-4.4% smaller BSDIFF40 patches, for about four times the compression work (their
 * diffs take 30-50% longer). The output is a standard bzip2 stream either way. */
typedef enum bsd_bz_effort {
    BSD_BZ_AUTO = 0,  /* SEARCH for BSDIFF40 (the compatibility format: its bytes are all a
                       * classic client can save), FAST for BSDELTA */
    BSD_BZ_FAST = 1,
    BSD_BZ_SEARCH = 2
} bsd_bz_effort;

typedef struct bsd_options {
    bsd_format format;         /* default BSD_FORMAT_BSDELTA */
    bsd_compressor compressor; /* default BSD_COMP_BZIP2; BSDIFF40 accepts only bzip2 */
    int level;                 /* 0 = default (bzip2: 9, zstd: 19); bzip2 1..9, zstd 1..22 */
    unsigned threads;          /* 0 = number of online cores; 1 = no worker threads */
    uint64_t mem_limit;        /* bytes, 0 = none: fail with BSD_E_LIMIT before working when the
                                * estimated peak (including the caller's old and new buffers)
                                * would exceed it */
    bsd_progress_fn progress;  /* NULL = none */
    void *progress_opaque;
    bsd_deflate_mode deflate;  /* default BSD_DEFLATE_AUTO */
    bsd_bz_effort bz_effort;   /* default BSD_BZ_AUTO; bzip2 only */
} bsd_options;

/* Fills *opt with the defaults above. */
BSD_API void bsd_options_init(bsd_options *opt);

/* 1 when this build can write zstd bodies (always, since libzstd is required), else 0. */
BSD_API int bsd_have_zstd(void);

/* Sequential sink for the patch; called with len > 0, in output order. Returns 0 on success,
 * non-zero on failure (the diff then stops with BSD_E_WRITE; bytes already written remain the
 * caller's to discard). */
typedef struct bsd_sink {
    void *opaque;
    int (*write)(void *opaque, const void *buf, size_t len);
} bsd_sink;

/* ---- Context ---- */
typedef struct bsd_ctx bsd_ctx;

/* Creates a context with default options (NULL when out of memory). */
BSD_API bsd_ctx *bsd_create(void);
/* Frees a context; NULL is accepted. Prepared olds are independent of the context that
 * prepared them and must be freed with bsd_old_free. */
BSD_API void bsd_free(bsd_ctx *ctx);

/* The detail message of the last error on this context ("" when none). Valid until the next
 * call on ctx. */
BSD_API const char *bsd_detail(const bsd_ctx *ctx);

/* Sets the options for the following calls on ctx (copied). BSD_E_MISUSE for an unknown
 * format or compressor or a level out of range; BSD_E_UNSUPPORTED for zstd in a build without
 * it or with BSDIFF40. On error the previous options remain. */
BSD_API bsd_error bsd_set_options(bsd_ctx *ctx, const bsd_options *opt);

/* ---- Prepared old ---- */
typedef struct bsd_old bsd_old;

/* Prepares old[0, old_size) for diffing: hashes it (XXH3-128) and indexes its blocks; the
 * suffix array is built by the first bsd_diff that needs it and kept for later ones. The
 * bytes are NOT copied: they must stay valid and unchanged until bsd_old_free. Uses ctx's
 * options (mem_limit, progress) and reports errors on ctx. *out is NULL after an error. */
BSD_API bsd_error bsd_prepare_old(bsd_ctx *ctx, const void *old, size_t old_size, bsd_old **out);

/* Builds the suffix array now (e.g. before timing or before sharing between threads). Optional:
 * bsd_diff builds it on first need. */
BSD_API bsd_error bsd_old_build_index(bsd_ctx *ctx, bsd_old *old);

/* Frees a prepared old (not the caller's bytes); NULL is accepted. No diff may be running on
 * it. */
BSD_API void bsd_old_free(bsd_old *old);

/* ---- Diffing ---- */

/* Writes a patch turning the prepared old into new[0, new_size) to out, in ctx's format.
 * new must stay valid and unchanged during the call. On error the sink has received a prefix
 * of a patch (or nothing): the caller discards it. */
BSD_API bsd_error bsd_diff(bsd_ctx *ctx, bsd_old *old, const void *new_data, size_t new_size,
                           const bsd_sink *out);

/* Convenience: diffs two memory buffers into a newly allocated buffer (*patch, *patch_size;
 * free it with bsd_buffer_free). *patch is NULL after an error. */
BSD_API bsd_error bsd_diff_buffers(bsd_ctx *ctx, const void *old_data, size_t old_size,
                                   const void *new_data, size_t new_size, unsigned char **patch,
                                   size_t *patch_size);
BSD_API void bsd_buffer_free(void *buf);

/* Convenience: diffs two memory buffers into fp (written sequentially from its current
 * position; not flushed, not closed). */
BSD_API bsd_error bsd_diff_to_file(bsd_ctx *ctx, const void *old_data, size_t old_size,
                                   const void *new_data, size_t new_size, FILE *fp);

/* Statistics of the last diff on ctx. Times are wall-clock seconds. */
typedef struct bsd_stats {
    uint64_t old_size, new_size;
    uint64_t patch_size;      /* bytes written to the sink */
    uint64_t commands;        /* control records */
    uint64_t diff_bytes;      /* bytes of new produced by adds */
    uint64_t extra_bytes;     /* bytes of new copied literally */
    int fast_path;            /* 1 when the block pre-match made the suffix array unnecessary */
    double hash_seconds;      /* hashing and block pre-match */
    double sort_seconds;      /* suffix array (0 when it was already built or not needed) */
    double scan_seconds;      /* matching (with worker threads: and the compression that ran
                               * alongside it) */
    double compress_seconds;  /* with worker threads: finishing the streams after the scan;
                               * with one thread: all compression */
    uint64_t peak_estimate;   /* estimated peak bytes, including old and new */
    /* deflate-aware patches: streams found, and the expansions' sizes (0 when not used) */
    uint64_t deflate_old_streams, deflate_new_streams;
    uint64_t deflate_old_expanded, deflate_new_expanded;
    double deflate_seconds;   /* finding, expanding and checking the streams */
    int deflate_skipped_for_memory; /* 1: the deflate-aware diff would exceed mem_limit; the
                                     * patch was made from the bytes as they are */
    int deflate_not_smaller;  /* 1: the deflate-aware patch came out over half of new and the
                               * plain one was smaller: the plain one was written */
} bsd_stats;
BSD_API void bsd_get_stats(const bsd_ctx *ctx, bsd_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* BSDIFF_H */
