/* bsdelta_deflate.h - the deflate expansion behind deflate-aware BSDELTA patches
 * (docs/FORMAT.md, "Deflate-aware patches").
 *
 * A gzip file or a zip archive changes almost everywhere when one file inside it changes: the
 * deflate bit stream shifts and its Huffman tables differ, so a byte diff finds little to match.
 * The *expansion* of a file rewrites each deflate stream in it as the sequence of tokens the
 * stream encodes (literal bytes, length/distance pairs, block headers kept bit for bit) and
 * keeps every other byte as is. Two expansions of nearly equal archives are nearly equal, and
 * the expansion turns back into the original file exactly, bit for bit, without inflating
 * anything and with no window: whichever encoder wrote the stream.
 *
 * Memory: expanding holds about 200 KiB; the encoder (expansion -> original bytes) about
 * 80 KiB. Neither depends on file sizes. Every function is safe on hostile input: a damaged
 * expansion is BSP_E_CORRUPT, never a crash. Threading: no shared state. */
#ifndef BSDELTA_DEFLATE_H
#define BSDELTA_DEFLATE_H

#include "bspatch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A deflate stream inside a file: bytes [offset, offset + length). */
typedef struct bsp_dfl_range {
    uint64_t offset;
    uint64_t length;
} bsp_dfl_range;

/* Finds the deflate streams of data[0, size): the members of a gzip file (chained from offset
 * 0), or else the method-8 entries of zip local file headers anywhere in the data. A candidate
 * is kept only when it parses completely as a stream this module can rewrite exactly.
 * On success *ranges (free with bsp_dfl_free; NULL when *count is 0) holds them in file order.
 * Errors: BSP_E_NOMEM. */
BSP_API bsp_error bsp_dfl_find(const void *data, size_t size, bsp_dfl_range **ranges,
                               size_t *count);
BSP_API void bsp_dfl_free(void *p);

/* Writes the expansion of src, whose deflate streams are ranges[0, count) (sorted, disjoint),
 * to out; *expanded_size (may be NULL) receives its length. A range that is not exactly one
 * deflate stream this module rewrites gives BSP_E_CORRUPT; src failing BSP_E_READ_OLD; out
 * failing BSP_E_WRITE. detail (may be NULL) receives a message. */
BSP_API bsp_error bsp_dfl_expand(const bsp_source *src, const bsp_dfl_range *ranges, size_t count,
                                 const bsp_sink *out, uint64_t *expanded_size, char *detail,
                                 size_t detail_len);

/* ---- Encoder: an expansion, pushed in pieces of any size, back to the original bytes ---- */
typedef struct bsp_dfl_enc bsp_dfl_enc;

/* Creates an encoder writing to *out (copied; the sink must outlive the encoder). NULL when
 * out of memory. */
BSP_API bsp_dfl_enc *bsp_dfl_enc_create(const bsp_sink *out);
/* Takes the next len bytes of the expansion. BSP_E_CORRUPT for bytes that cannot be part of an
 * expansion, BSP_E_WRITE when the sink fails. Errors are sticky. */
BSP_API bsp_error bsp_dfl_enc_write(bsp_dfl_enc *enc, const void *buf, size_t len);
/* The expansion has ended: BSP_E_TRUNCATED unless it ended between two items; flushes. */
BSP_API bsp_error bsp_dfl_enc_finish(bsp_dfl_enc *enc);
/* Bytes produced so far: handed to the sink, or still in the encoder's buffer (the sink gets
 * them by the next write or by finish). */
BSP_API uint64_t bsp_dfl_enc_written(const bsp_dfl_enc *enc);
/* The message of the last error ("" when none). */
BSP_API const char *bsp_dfl_enc_detail(const bsp_dfl_enc *enc);
BSP_API void bsp_dfl_enc_free(bsp_dfl_enc *enc);

/* The patcher's own use: expands src reading the stream list from a callback, which stores the
 * next range and returns 1, returns 0 at the end, or -1 on a malformed list. */
typedef int (*bsp_dfl_next_fn)(void *opaque, bsp_dfl_range *r);
BSP_API bsp_error bsp_dfl_expand_list(const bsp_source *src, bsp_dfl_next_fn next, void *opaque,
                                      const bsp_sink *out, uint64_t *expanded_size, char *detail,
                                      size_t detail_len);

#ifdef __cplusplus
}
#endif
#endif /* BSDELTA_DEFLATE_H */
