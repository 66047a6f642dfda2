/* bsdelta_format.h - byte-level definitions of the two patch formats (see docs/FORMAT.md).
 * Shared by the patcher (bspatch) and the encoder (bsdiff); header-only, no dependencies. */
#ifndef BSDELTA_FORMAT_H
#define BSDELTA_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* ---- BSDIFF40 (classic bsdiff 4.x) ---- */
#define BSDF40_MAGIC "BSDIFF40"
#define BSDF40_MAGIC_LEN 8
#define BSDF40_HEADER_LEN 32 /* magic, ctrl_len, diff_len, new_size (offtin each) */
/* Commands (0, 0, seek) allowed in a row before the patch is judged corrupt. */
#define BSDF40_MAX_IDLE_COMMANDS 1024

/* ---- BSDELTA stream format, versions 1 and 2 ---- */
#define BSDL_MAGIC "BSDELTA" /* 7 bytes, followed by the version byte */
#define BSDL_MAGIC_LEN 7
#define BSDL_VERSION 2     /* the version bsdiff writes */
#define BSDL_VERSION_MIN 1 /* the oldest version bspatch applies */
#define BSDL_HEADER_LEN 64
#define BSDL_HEADER_CHECKED_LEN 60 /* XXH32 (seed 0) of bytes [0,60) is stored at 60 */

/* Header field offsets. */
#define BSDL_OFF_VERSION 7
#define BSDL_OFF_OLD_SIZE 8
#define BSDL_OFF_NEW_SIZE 16
#define BSDL_OFF_OLD_HASH 24 /* XXH3-128, canonical (big-endian) form, 16 bytes */
#define BSDL_OFF_NEW_HASH 40
#define BSDL_OFF_COMPRESSOR 56
#define BSDL_OFF_FLAGS 57
#define BSDL_OFF_RESERVED 58 /* 2 bytes, must be zero */
#define BSDL_OFF_HEADER_CHECK 60

/* Compressor ids (byte 56). Pinned: never renumber. */
#define BSDL_COMP_NONE 0  /* body is the raw command stream */
#define BSDL_COMP_BZIP2 1 /* body is exactly one bzip2 stream */
#define BSDL_COMP_ZSTD 2  /* body is exactly one zstd frame, window at most 2^21 bytes */

/* Flags (byte 57). Bit 0, version 2 and later: deflate-aware - a deflate section follows the
 * header and the commands turn the old file's expansion into the new file's expansion
 * (bsdelta_deflate.h). Every other bit must be zero. */
#define BSDL_FLAG_DEFLATE 0x01u
/* The deflate section (varint length, that many bytes, XXH32 of them) holds at most this many
 * bytes: the patcher buffers it. About 100,000 deflate streams in old. */
#define BSDL_XSECT_MAX ((size_t)1 << 20)

/* A zstd body's frame may declare a window of at most 2 MiB: the patcher holds the window. */
#define BSDL_ZSTD_WINDOW_LOG_MAX 21

/* Largest size either file may declare: 2^62. Keeps every sum of two sizes inside int64. */
#define BSDL_MAX_FILE_SIZE ((uint64_t)1 << 62)

/* A BSDELTA body is a sequence of segments; each holds 1..bsdl_seg_max_cmds(version) commands
 * and at most bsdl_seg_max_extra(version) extra bytes in all (the patcher buffers them). The
 * patcher's buffers are sized for the largest: version 2's. */
#define BSDL_SEG_MAX_CMDS_V1 4096u
#define BSDL_SEG_MAX_EXTRA_V1 65536u
#define BSDL_SEG_MAX_CMDS 65536u     /* version 2 */
#define BSDL_SEG_MAX_EXTRA 1048576u  /* version 2 */

static inline uint32_t bsdl_seg_max_cmds(unsigned version) {
    return version >= 2 ? BSDL_SEG_MAX_CMDS : BSDL_SEG_MAX_CMDS_V1;
}
static inline uint32_t bsdl_seg_max_extra(unsigned version) {
    return version >= 2 ? BSDL_SEG_MAX_EXTRA : BSDL_SEG_MAX_EXTRA_V1;
}

/* A varint is unsigned LEB128, minimal, value < 2^63: so at most 9 bytes. */
#define BSDL_VARINT_MAX_LEN 9

/* ---- Little-endian helpers (never struct I/O) ---- */
static inline uint64_t bsdl_load_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static inline void bsdl_store_le64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) { p[i] = (unsigned char)(v & 0xff); v >>= 8; }
}
static inline uint32_t bsdl_load_le32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void bsdl_store_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) { p[i] = (unsigned char)(v & 0xff); v >>= 8; }
}

/* BSDIFF40 integers: 8 bytes little-endian sign-magnitude (bit 63 = sign).
 * bsdf40_decode_off returns 0 and stores the value, or -1 for "negative zero" (never written
 * by bsdiff; treated as corrupt so every value has exactly one encoding). */
static inline int bsdf40_decode_off(const unsigned char *p, int64_t *out) {
    uint64_t raw = bsdl_load_le64(p);
    uint64_t mag = raw & ~((uint64_t)1 << 63);
    if (raw >> 63) {
        if (mag == 0) return -1;
        *out = -(int64_t)mag;
    } else {
        *out = (int64_t)mag;
    }
    return 0;
}
/* v must not be INT64_MIN. */
static inline void bsdf40_encode_off(unsigned char *p, int64_t v) {
    uint64_t mag = v < 0 ? (uint64_t)(-v) : (uint64_t)v;
    if (v < 0) mag |= (uint64_t)1 << 63;
    bsdl_store_le64(p, mag);
}

/* Writes v (< 2^63) as a varint; returns the number of bytes (1..10). */
static inline size_t bsdl_put_varint(unsigned char *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) { p[n++] = (unsigned char)(v | 0x80); v >>= 7; }
    p[n++] = (unsigned char)v;
    return n;
}
/* Zig-zag mapping of a signed seek to an unsigned varint value and back. */
static inline uint64_t bsdl_zigzag(int64_t s) {
    return s < 0 ? ((~(uint64_t)s) << 1) | 1u : (uint64_t)s << 1;
}
static inline int64_t bsdl_unzigzag(uint64_t u) {
    return (u & 1u) ? (int64_t)~(u >> 1) : (int64_t)(u >> 1);
}

#endif /* BSDELTA_FORMAT_H */
