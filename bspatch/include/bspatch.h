/* bspatch.h - the bsdelta streaming patcher: applies BSDELTA (streaming) and BSDIFF40 patches
 * with fixed memory, treating every patch as hostile input.
 *
 * Model: the old file is read through a random-access callback, the patch through a sequential
 * reader (or pushed chunk by chunk as it arrives), and the new file is produced through a
 * strictly sequential write callback. Working memory does not depend on any file size:
 *   - BSDELTA: about 400 KiB of buffers plus one bzip2 decoder (~3.6 MiB, ~2.3 MiB in low-memory
 *     mode);
 *   - BSDIFF40: three bzip2 decoders and their input buffers; the patch must be random-access
 *     (the three streams are read at three offsets), so it cannot be read from a pipe.
 *
 * Threading: a bsp_ctx is used by one thread at a time; distinct contexts are independent.
 * The library never prints, aborts or exits; every failure is a bsp_error plus a detail message
 * kept on the context (bsp_detail). */
#ifndef BSPATCH_H
#define BSPATCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define BSP_API
#elif defined(__GNUC__) && (__GNUC__ >= 4)
#define BSP_API __attribute__((visibility("default")))
#else
#define BSP_API
#endif

/* Error codes. Values are pinned: they are part of the ABI and never renumbered. */
typedef enum bsp_error {
    BSP_OK = 0,
    BSP_E_MISUSE = 1,          /* invalid argument or call out of order (a caller bug) */
    BSP_E_NOMEM = 2,           /* an allocation failed */
    BSP_E_NOT_PATCH = 3,       /* the data starts with no known patch magic */
    BSP_E_UNSUPPORTED = 4,     /* known magic, but a version/compressor/flag we do not handle */
    BSP_E_CORRUPT = 5,         /* the patch is malformed (bad field, bad stream, bad command) */
    BSP_E_TRUNCATED = 6,       /* the patch ended before the new file was complete */
    BSP_E_WRONG_BASE = 7,      /* the old data is not the file the patch was made from */
    BSP_E_RESULT_MISMATCH = 8, /* the produced file does not hash to the value in the patch */
    BSP_E_LIMIT = 9,           /* a size exceeds a limit the caller set (bsp_set_max_new_size) */
    BSP_E_READ_OLD = 10,       /* the old-data callback failed */
    BSP_E_READ_PATCH = 11,     /* the patch callback failed */
    BSP_E_WRITE = 12           /* the output callback failed */
} bsp_error;

/* A static English description of an error code ("unknown error" for values not listed). */
BSP_API const char *bsp_strerror(bsp_error err);

/* ---- Caller-supplied I/O ----
 * Every callback returns 0 on success and non-zero on failure; a read either delivers exactly
 * the bytes asked for or fails. The library never calls them after returning an error. */

/* Random-access source: used for the old file (and for a BSDIFF40 patch). */
typedef struct bsp_source {
    void *opaque;
    uint64_t size; /* total size in bytes */
    int (*read_at)(void *opaque, uint64_t offset, void *buf, size_t len);
} bsp_source;

/* Sequential patch reader: stores in *got between 1 and cap bytes, or 0 at end of data. */
typedef struct bsp_reader {
    void *opaque;
    int (*read)(void *opaque, void *buf, size_t cap, size_t *got);
} bsp_reader;

/* Sequential sink for the new file; called with len > 0, in output order. */
typedef struct bsp_sink {
    void *opaque;
    int (*write)(void *opaque, const void *buf, size_t len);
} bsp_sink;

/* Scratch store for deflate-aware patches (docs/FORMAT.md, "Deflate-aware patches"): their
 * commands read the old file's *expansion* (its deflate streams rewritten as tokens, about 1.6
 * times their size), which the patcher writes once, in order, then reads at random. reset
 * empties the store and is called once per such patch before the first write; write appends.
 * Each returns 0 on success, non-zero on failure. */
typedef struct bsp_scratch {
    void *opaque;
    int (*reset)(void *opaque);
    int (*write)(void *opaque, const void *buf, size_t len);
    int (*read_at)(void *opaque, uint64_t offset, void *buf, size_t len);
} bsp_scratch;

/* ---- Patch header inspection ---- */
typedef enum bsp_format {
    BSP_FORMAT_UNKNOWN = 0,
    BSP_FORMAT_BSDELTA = 1, /* our streaming format (docs/FORMAT.md) */
    BSP_FORMAT_BSDIFF40 = 2 /* classic bsdiff 4.x */
} bsp_format;

typedef struct bsp_header {
    bsp_format format;
    uint64_t old_size;         /* BSDELTA only (0 for BSDIFF40: not recorded) */
    uint64_t new_size;         /* both formats */
    unsigned char old_hash[16]; /* BSDELTA: XXH3-128 of old, canonical big-endian bytes */
    unsigned char new_hash[16]; /* BSDELTA: XXH3-128 of new */
    unsigned compressor;       /* BSDELTA: compressor id (BSDL_COMP_*) */
    unsigned flags;            /* BSDELTA: flags byte (BSDL_FLAG_DEFLATE: deflate-aware) */
    unsigned version;          /* BSDELTA: format version (1 or 2) */
} bsp_header;

/* Minimum bytes bsp_parse_header needs: 64 (BSDELTA) or 32 (BSDIFF40). */
#define BSP_HEADER_MAX 64

/* Parses the start of a patch. Returns BSP_OK and fills *hdr; BSP_E_TRUNCATED when len is too
 * short to decide; BSP_E_NOT_PATCH, BSP_E_UNSUPPORTED or BSP_E_CORRUPT otherwise.
 * Stateless; safe from any thread. */
BSP_API bsp_error bsp_parse_header(const void *data, size_t len, bsp_header *hdr);

/* Canonical lower-case hex of a 16-byte hash into out (33 bytes incl. NUL). */
BSP_API void bsp_hash_hex(const unsigned char hash[16], char out[33]);

/* ---- Context ---- */
typedef struct bsp_ctx bsp_ctx;

/* Creates a context (NULL when out of memory). */
BSP_API bsp_ctx *bsp_create(void);
/* Frees a context and everything it holds; NULL is accepted. */
BSP_API void bsp_free(bsp_ctx *ctx);

/* The detail message of the last error on this context ("" when none). Valid until the next
 * call on ctx. */
BSP_API const char *bsp_detail(const bsp_ctx *ctx);

/* Refuse patches whose new file would exceed max bytes (BSP_E_LIMIT, before any output).
 * Default: BSDL_MAX_FILE_SIZE (2^62). */
BSP_API void bsp_set_max_new_size(bsp_ctx *ctx, uint64_t max);

/* Non-zero: bzip2 decoders use their low-memory mode (~2.3 MiB instead of ~3.6 MiB each,
 * roughly half the speed). Default 0. Takes effect at the next patch started. */
BSP_API void bsp_set_low_memory(bsp_ctx *ctx, int on);

/* Where deflate-aware patches keep the old file's expansion (copied; the store must stay valid
 * while patches run). NULL (the default): such patches fail with BSP_E_UNSUPPORTED before any
 * output. Patches without the flag never touch it. */
BSP_API void bsp_set_scratch(bsp_ctx *ctx, const bsp_scratch *scratch);

/* Statistics of the last patch applied (or in progress) on ctx. */
typedef struct bsp_stats {
    bsp_format format;
    uint64_t old_size;
    uint64_t new_size;
    uint64_t patch_bytes;   /* compressed patch bytes consumed */
    uint64_t commands;      /* control commands executed */
} bsp_stats;
BSP_API void bsp_get_stats(const bsp_ctx *ctx, bsp_stats *st);

/* ---- Push interface (BSDELTA only): patch while downloading ----
 * bsp_stream_begin starts a patch; bsp_stream_feed takes the next patch bytes in order (any
 * chunk sizes); bsp_stream_finish says the patch has ended and checks the result.
 * The old file is hashed and compared with the header as soon as the header is complete,
 * before the first byte is written (BSP_E_WRONG_BASE names both hashes). After an error every
 * further call returns the same error; after finish, begin may start another patch.
 * The old source and sink must stay valid until finish returns or an error is returned. */
BSP_API bsp_error bsp_stream_begin(bsp_ctx *ctx, const bsp_source *old, const bsp_sink *out);
BSP_API bsp_error bsp_stream_feed(bsp_ctx *ctx, const void *data, size_t len);
BSP_API bsp_error bsp_stream_finish(bsp_ctx *ctx);

/* ---- Pull interfaces ---- */

/* Applies a BSDELTA patch read sequentially from patch. */
BSP_API bsp_error bsp_apply_stream(bsp_ctx *ctx, const bsp_source *old, const bsp_reader *patch,
                                   const bsp_sink *out);

/* Applies a BSDIFF40 patch; the patch must be random-access. The format has no hashes: a wrong
 * old file is detected only when the patch reads past its end (BSP_E_CORRUPT). */
BSP_API bsp_error bsp_apply_bsdiff40(bsp_ctx *ctx, const bsp_source *old, const bsp_source *patch,
                                     const bsp_sink *out);

/* Detects the format from the magic and applies either kind. */
BSP_API bsp_error bsp_apply(bsp_ctx *ctx, const bsp_source *old, const bsp_source *patch,
                            const bsp_sink *out);

/* ---- Adapters (bsp_io.c): portable C stdio and memory ---- */

/* Memory source over [data, data+size). state holds the range; state and data must outlive the
 * source's use. Reads outside the range fail. */
typedef struct bsp_memsource {
    const unsigned char *data;
    size_t size;
} bsp_memsource;
BSP_API void bsp_source_from_memory(bsp_source *src, bsp_memsource *state, const void *data,
                                    size_t size);

/* Memory sink writing into [buf, buf+cap); fails when full. */
typedef struct bsp_memsink {
    unsigned char *buf;
    size_t cap;
    size_t len; /* bytes written so far */
} bsp_memsink;
BSP_API void bsp_sink_to_memory(bsp_sink *sink, bsp_memsink *state);

/* Memory reader: hands out at most chunk bytes per call (0 = everything at once). */
typedef struct bsp_memreader {
    const unsigned char *data;
    size_t size, pos, chunk;
} bsp_memreader;
BSP_API void bsp_reader_from_memory(bsp_reader *rd, bsp_memreader *state);

/* FILE* adapters. bsp_source_from_file determines the size by seeking to the end and fails
 * (returns non-zero) when fp is not seekable. The FILE stays owned by the caller. */
#include <stdio.h>
BSP_API int bsp_source_from_file(bsp_source *src, FILE *fp);
BSP_API void bsp_reader_from_file(bsp_reader *rd, FILE *fp);
BSP_API void bsp_sink_to_file(bsp_sink *sink, FILE *fp);

/* Scratch stores. In memory: grows as needed up to max bytes (0 = no limit); free its buffer
 * with bsp_memscratch_release. On a FILE* opened for update ("w+b"), whose previous content
 * is ignored; the FILE stays owned by the caller. */
typedef struct bsp_memscratch {
    unsigned char *buf;
    size_t len, cap, max;
} bsp_memscratch;
BSP_API void bsp_scratch_in_memory(bsp_scratch *s, bsp_memscratch *state, size_t max);
BSP_API void bsp_memscratch_release(bsp_memscratch *state);
typedef struct bsp_filescratch {
    FILE *fp;
    uint64_t len;
    int reading; /* the stream's last operation was a read: seek before writing */
} bsp_filescratch;
BSP_API void bsp_scratch_from_file(bsp_scratch *s, bsp_filescratch *state, FILE *fp);

#ifdef __cplusplus
}
#endif
#endif /* BSPATCH_H */
