/* bsdelta_testenc.h - a deliberately simple, test-only encoder for both patch formats
 * (docs/FORMAT.md), so the patcher's tests do not depend on the real bsdiff library.
 * It finds no matches: it plans records (add/copy/seek) from a seeded PRNG or aligned on equal
 * offsets, and computes diff bytes as new - old. Patches are valid, not small.
 * Every function returns 0 on success, -1 on failure (out of memory or bzip2 error); output
 * buffers are malloc'ed and owned by the caller. */
#ifndef BSDELTA_TESTENC_H
#define BSDELTA_TESTENC_H

#include <stddef.h>
#include <stdint.h>

/* Growable byte buffer. */
typedef struct tenc_buf {
    unsigned char *data;
    size_t len, cap;
} tenc_buf;
int tenc_buf_put(tenc_buf *b, const void *p, size_t n);
int tenc_buf_varint(tenc_buf *b, uint64_t v); /* minimal LEB128 */
void tenc_buf_free(tenc_buf *b);

/* splitmix64: deterministic PRNG for plans and test data. */
uint64_t tenc_rand(uint64_t *state);
/* Uniform-ish value in [0, n] (n inclusive). */
uint64_t tenc_rand_upto(uint64_t *state, uint64_t n);

/* XXH3-128 of data in canonical (big-endian) form. */
void tenc_hash(const void *data, size_t len, unsigned char out[16]);

/* Writes a BSDELTA v1 header; the checksum at byte 60 is computed. */
/* BSDELTA version the encoder writes (1 or 2; default 1). */
extern unsigned tenc_version;

void tenc_header(unsigned char hdr[64], uint64_t old_size, const unsigned char old_hash[16],
                 uint64_t new_size, const unsigned char new_hash[16], unsigned compressor);
/* Recomputes the header checksum after a field was changed. */
void tenc_reseal(unsigned char hdr[64]);

/* Compresses in into exactly one bzip2 stream (an empty input gives the 14-byte empty stream). */
int tenc_bzip2(const void *in, size_t len, unsigned char **out, size_t *outlen);
/* Compresses in into exactly one zstd frame (level 3, content size recorded). */
int tenc_zstd(const void *in, size_t len, unsigned char **out, size_t *outlen);

/* Plans for the random record splitter. seed 0: aligned plan (old and new read at the same
 * offset: one add over the common length, then one copy of the rest). Otherwise random:
 * several records mixing adds, copies and seeks, every one valid. */
typedef struct tenc_record {
    uint64_t diff_len, extra_len;
    int64_t seek;
    uint64_t oldpos; /* where the add reads (informational) */
} tenc_record;
int tenc_plan(size_t old_len, size_t new_len, uint64_t seed, tenc_record **recs, size_t *n);

/* Encodes the command stream of a plan as segments (docs/FORMAT.md), uncompressed. */
int tenc_commands(const unsigned char *old, size_t old_len, const unsigned char *nw, size_t new_len,
                  const tenc_record *recs, size_t n, tenc_buf *out);

/* Header (with the true hashes of old and new) + body: cmds compressed with compressor
 * (0 none, 1 bzip2, 2 zstd). Lets tests wrap a hand-crafted command stream. */
int tenc_wrap(const unsigned char *old, size_t old_len, const unsigned char *nw, size_t new_len,
              unsigned compressor, const void *cmds, size_t cmds_len, unsigned char **patch,
              size_t *patch_len);

/* A complete BSDELTA v1 patch from old to new. */
int tenc_encode(const unsigned char *old, size_t old_len, const unsigned char *nw, size_t new_len,
                unsigned compressor, uint64_t seed, unsigned char **patch, size_t *patch_len);

/* BSDIFF40 from explicit blocks: ctrl holds ncmd (diff, extra, seek) triples written as offtin;
 * diff and extra are the uncompressed diff and extra blocks. new_size goes in the header.
 * INT64_MIN, which offtin cannot hold, is written as "negative zero" (0x8000000000000000) so
 * hostile tests can produce it. */
int tenc_bsdiff40_raw(const int64_t *ctrl, size_t ncmd, const void *diff, size_t diff_len,
                      const void *extra, size_t extra_len, int64_t new_size,
                      unsigned char **patch, size_t *patch_len);

/* A complete BSDIFF40 patch from old to new, following the same plans as tenc_encode. */
int tenc_bsdiff40(const unsigned char *old, size_t old_len, const unsigned char *nw, size_t new_len,
                  uint64_t seed, unsigned char **patch, size_t *patch_len);

#endif /* BSDELTA_TESTENC_H */
