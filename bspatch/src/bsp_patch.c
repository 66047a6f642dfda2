/* bsp_patch.c - the patcher: BSDELTA v1/v2 (push/pull, one pass) and BSDIFF40 (three streams),
 * with fixed memory and every patch value validated before use. See docs/FORMAT.md. */
#include "bspatch.h"
#include "bsdelta_format.h"
#include "bsdelta_deflate.h"

#include <bzlib.h>
#include <zstd.h>
#include <zstd_errors.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#define BUF_SIZE ((size_t)64 * 1024)   /* each of the four working buffers */
#define BZ_IN_SIZE ((size_t)16 * 1024) /* input buffer of each BSDIFF40 stream */

/* RS_XSECT: reading a deflate-aware patch's deflate section (between header and body). */
enum run_state { RS_IDLE, RS_HEADER, RS_XSECT, RS_BODY, RS_FAILED };
/* Where the BSDELTA interpreter is inside a segment (docs/FORMAT.md). */
/* C_PLIT and C_PZERO (version 2): the varint lengths of a diff piece's literal bytes and of the
 * zero run that follows them. */
enum cmd_state { C_COUNT, C_DIFF_LENS, C_EXTRA_LENS, C_SEEKS, C_EXTRA, C_DIFF, C_PLIT, C_PZERO };

/* One of the three bzip2 streams of a BSDIFF40 patch, reading [pos, end) of the patch. */
typedef struct bz_block {
    const char *name;
    bz_stream bz;
    int inited, ended;
    uint64_t pos, end;
    unsigned char in[BZ_IN_SIZE];
} bz_block;

struct bsp_ctx {
    bsp_error err; /* sticky error of the stream in progress */
    char detail[640];
    uint64_t max_new;
    int low_mem;
    bsp_stats stats;

    /* working buffers, allocated once on first use */
    unsigned char *ibuf; /* patch input (pull interface) */
    unsigned char *dbuf; /* decompressed command bytes */
    unsigned char *obuf; /* old bytes */
    unsigned char *nbuf; /* new bytes awaiting write */
    size_t nlen;

    /* BSDELTA stream state */
    enum run_state rs;
    bsp_source old;
    bsp_sink out;
    unsigned char hdr[BSDL_HEADER_LEN];
    size_t hdr_len;
    bsp_header h;
    bz_stream bz;
    int bz_inited, bz_ended; /* bz_ended: the body's compressed stream (either kind) ended */
    ZSTD_DStream *zd;        /* zstd bodies; kept between patches */
    unsigned char zh[18];    /* the zstd frame header, gathered before decoding starts */
    size_t zh_len;
    int zh_done;
    enum cmd_state cs;
    uint64_t vacc;
    unsigned vbytes;
    uint64_t oldpos, newpos;
    /* the current segment: control block, extra bytes, execution cursor */
    uint64_t *seg_diff;
    uint32_t *seg_extra;
    int64_t *seg_seek;
    unsigned char *xbuf;
    uint32_t seg_n, seg_i, cur;
    size_t xneed, xlen, xpos;
    uint64_t left; /* diff bytes still to come for command cur */
    uint64_t seg_dleft; /* diff bytes still to come in the segment */
    uint64_t plit;      /* version 2: literal diff bytes left in the current piece */
    uint64_t plit_was;  /* version 2: the current piece's literal length */
    XXH3_state_t *hash;

    /* Size of the new data the commands produce: the header's, or for a deflate-aware patch the
     * expansion's (the old data's is old.size: the file's, checked, or the expansion's). */
    uint64_t cnew;
    /* deflate-aware patches (BSDL_FLAG_DEFLATE) */
    bsp_scratch scratch;
    int have_scratch;
    int xform;               /* this patch is deflate-aware */
    unsigned char *xsec;     /* the deflate section and its check, once its length is known */
    size_t xsec_need, xsec_len;
    uint64_t xsec_vacc;      /* the section's varint length being read */
    unsigned xsec_vbytes;
    size_t xsec_pos;         /* stream-list reader: next byte of xsec */
    uint64_t xsec_prev_end, xsec_left;
    bsp_dfl_enc *enc;        /* expansion -> new file */
    bsp_sink user_out;       /* the caller's sink, behind the encoder */
    XXH3_state_t *rhash;     /* hash of the bytes the encoder produces */
    uint64_t raw_written;
    bsp_error enc_err;       /* why the encoder sink refused bytes */

    /* BSDIFF40 streams (allocated on first BSDIFF40 patch) */
    bz_block *blk;
};

/* ---------------------------------------------------------------- errors */

const char *bsp_strerror(bsp_error err) {
    switch (err) {
    case BSP_OK: return "success";
    case BSP_E_MISUSE: return "invalid argument or call order";
    case BSP_E_NOMEM: return "out of memory";
    case BSP_E_NOT_PATCH: return "not a patch (unknown magic)";
    case BSP_E_UNSUPPORTED: return "unsupported patch version, compressor or flags";
    case BSP_E_CORRUPT: return "corrupt patch";
    case BSP_E_TRUNCATED: return "truncated patch";
    case BSP_E_WRONG_BASE: return "wrong old file for this patch";
    case BSP_E_RESULT_MISMATCH: return "patched file does not match the expected hash";
    case BSP_E_LIMIT: return "patch exceeds a configured limit";
    case BSP_E_READ_OLD: return "cannot read the old file";
    case BSP_E_READ_PATCH: return "cannot read the patch";
    case BSP_E_WRITE: return "cannot write the new file";
    }
    return "unknown error";
}

static bsp_error fail(bsp_ctx *c, bsp_error e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof c->detail, fmt, ap);
    va_end(ap);
    c->err = e;
    if (c->rs != RS_IDLE) c->rs = RS_FAILED;
    return e;
}

const char *bsp_detail(const bsp_ctx *ctx) { return ctx ? ctx->detail : ""; }

void bsp_hash_hex(const unsigned char hash[16], char out[33]) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[hash[i] >> 4];
        out[2 * i + 1] = hex[hash[i] & 15];
    }
    out[32] = '\0';
}

/* ---------------------------------------------------------------- context */

bsp_ctx *bsp_create(void) {
    bsp_ctx *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->max_new = BSDL_MAX_FILE_SIZE;
    return c;
}

static void stream_release(bsp_ctx *c) {
    if (c->bz_inited) BZ2_bzDecompressEnd(&c->bz);
    c->bz_inited = 0;
    bsp_dfl_enc_free(c->enc);
    c->enc = NULL;
    free(c->xsec);
    c->xsec = NULL;
}

/* Unlike bzip2's, the zstd decoder (about 2.3 MiB with its window) is kept for the next
 * patch: bsp_free releases it. */

static void blocks_release(bsp_ctx *c) {
    if (!c->blk) return;
    for (int i = 0; i < 3; i++) {
        if (c->blk[i].inited) BZ2_bzDecompressEnd(&c->blk[i].bz);
        c->blk[i].inited = 0;
    }
}

void bsp_free(bsp_ctx *c) {
    if (!c) return;
    stream_release(c);
    blocks_release(c);
    ZSTD_freeDStream(c->zd);
    free(c->blk);
    free(c->ibuf);
    free(c->dbuf);
    free(c->obuf);
    free(c->nbuf);
    free(c->seg_diff);
    free(c->seg_extra);
    free(c->seg_seek);
    free(c->xbuf);
    if (c->hash) XXH3_freeState(c->hash);
    if (c->rhash) XXH3_freeState(c->rhash);
    bsp_dfl_enc_free(c->enc);
    free(c->xsec);
    free(c);
}

void bsp_set_max_new_size(bsp_ctx *c, uint64_t max) {
    if (c) c->max_new = max > BSDL_MAX_FILE_SIZE ? BSDL_MAX_FILE_SIZE : max;
}

void bsp_set_scratch(bsp_ctx *c, const bsp_scratch *s) {
    if (!c) return;
    c->have_scratch = s && s->reset && s->write && s->read_at;
    if (c->have_scratch) c->scratch = *s;
}

void bsp_set_low_memory(bsp_ctx *c, int on) {
    if (c) c->low_mem = on != 0;
}

void bsp_get_stats(const bsp_ctx *c, bsp_stats *st) {
    if (!st) return;
    if (!c) {
        memset(st, 0, sizeof *st);
        return;
    }
    *st = c->stats;
}

static bsp_error ensure_buffers(bsp_ctx *c) {
    if (!c->ibuf) c->ibuf = malloc(BUF_SIZE);
    if (!c->dbuf) c->dbuf = malloc(BUF_SIZE);
    if (!c->obuf) c->obuf = malloc(BUF_SIZE);
    if (!c->nbuf) c->nbuf = malloc(BUF_SIZE);
    if (!c->hash) c->hash = XXH3_createState();
    if (!c->seg_diff) c->seg_diff = malloc(BSDL_SEG_MAX_CMDS * sizeof *c->seg_diff);
    if (!c->seg_extra) c->seg_extra = malloc(BSDL_SEG_MAX_CMDS * sizeof *c->seg_extra);
    if (!c->seg_seek) c->seg_seek = malloc(BSDL_SEG_MAX_CMDS * sizeof *c->seg_seek);
    if (!c->xbuf) c->xbuf = malloc(BSDL_SEG_MAX_EXTRA);
    if (!c->ibuf || !c->dbuf || !c->obuf || !c->nbuf || !c->hash || !c->seg_diff || !c->seg_extra ||
        !c->seg_seek || !c->xbuf)
        return fail(c, BSP_E_NOMEM, "cannot allocate the patcher's working buffers");
    return BSP_OK;
}

/* ---------------------------------------------------------------- header */

bsp_error bsp_parse_header(const void *data, size_t len, bsp_header *hdr) {
    const unsigned char *p = data;
    if (!p || !hdr) return BSP_E_MISUSE;
    memset(hdr, 0, sizeof *hdr);
    size_t n40 = len < BSDF40_MAGIC_LEN ? len : BSDF40_MAGIC_LEN;
    size_t nbl = len < BSDL_MAGIC_LEN ? len : BSDL_MAGIC_LEN;
    int maybe40 = memcmp(p, BSDF40_MAGIC, n40) == 0;
    int maybebl = memcmp(p, BSDL_MAGIC, nbl) == 0;
    if (!maybe40 && !maybebl) return BSP_E_NOT_PATCH;
    if (maybe40 && len >= BSDF40_MAGIC_LEN) {
        if (len < BSDF40_HEADER_LEN) return BSP_E_TRUNCATED;
        int64_t ctrl, diff, newsz;
        if (bsdf40_decode_off(p + 8, &ctrl) || bsdf40_decode_off(p + 16, &diff) ||
            bsdf40_decode_off(p + 24, &newsz) || ctrl < 0 || diff < 0 || newsz < 0 ||
            (uint64_t)newsz > BSDL_MAX_FILE_SIZE)
            return BSP_E_CORRUPT;
        hdr->format = BSP_FORMAT_BSDIFF40;
        hdr->new_size = (uint64_t)newsz;
        return BSP_OK;
    }
    if (!maybebl || len < BSDL_HEADER_LEN) return BSP_E_TRUNCATED;
    if (p[BSDL_OFF_VERSION] < BSDL_VERSION_MIN || p[BSDL_OFF_VERSION] > BSDL_VERSION)
        return BSP_E_UNSUPPORTED;
    if (XXH32(p, BSDL_HEADER_CHECKED_LEN, 0) != bsdl_load_le32(p + BSDL_OFF_HEADER_CHECK))
        return BSP_E_CORRUPT;
    hdr->format = BSP_FORMAT_BSDELTA;
    hdr->version = p[BSDL_OFF_VERSION];
    hdr->old_size = bsdl_load_le64(p + BSDL_OFF_OLD_SIZE);
    hdr->new_size = bsdl_load_le64(p + BSDL_OFF_NEW_SIZE);
    memcpy(hdr->old_hash, p + BSDL_OFF_OLD_HASH, 16);
    memcpy(hdr->new_hash, p + BSDL_OFF_NEW_HASH, 16);
    hdr->compressor = p[BSDL_OFF_COMPRESSOR];
    hdr->flags = p[BSDL_OFF_FLAGS];
    if (hdr->old_size > BSDL_MAX_FILE_SIZE || hdr->new_size > BSDL_MAX_FILE_SIZE)
        return BSP_E_CORRUPT;
    unsigned known_flags = hdr->version >= 2 ? BSDL_FLAG_DEFLATE : 0;
    if (hdr->compressor > BSDL_COMP_ZSTD ||
        (hdr->flags & ~known_flags) != 0 || p[BSDL_OFF_RESERVED] != 0 || p[BSDL_OFF_RESERVED + 1] != 0)
        return BSP_E_UNSUPPORTED;
    return BSP_OK;
}

/* ---------------------------------------------------------------- output */

static bsp_error flush_new(bsp_ctx *c) {
    if (c->nlen == 0) return BSP_OK;
    if (c->out.write(c->out.opaque, c->nbuf, c->nlen) != 0) {
        if (c->xform && c->enc_err == BSP_E_CORRUPT && c->raw_written == c->h.new_size)
            return fail(c, BSP_E_CORRUPT, "the patch makes the new file longer than %llu bytes",
                        (unsigned long long)c->h.new_size);
        if (c->xform && c->enc_err != BSP_E_WRITE)
            return fail(c, c->enc_err ? c->enc_err : BSP_E_CORRUPT, "%s",
                        bsp_dfl_enc_detail(c->enc));
        return fail(c, BSP_E_WRITE, "the output callback failed after %llu bytes",
                    (unsigned long long)(c->xform ? c->raw_written : c->newpos - c->nlen));
    }
    c->nlen = 0;
    return BSP_OK;
}

static bsp_error read_old(bsp_ctx *c, uint64_t off, size_t len) {
    if (c->old.read_at(c->old.opaque, off, c->obuf, len) != 0)
        return fail(c, BSP_E_READ_OLD, "cannot read %zu bytes of the old file at offset %llu", len,
                    (unsigned long long)off);
    return BSP_OK;
}

enum emit_mode { E_COPY, E_ADD, E_EXACT };

/* Appends n bytes to the new file through the output buffer: src itself (E_COPY),
 * src + old[oldpos..] bytewise (E_ADD), or old[oldpos..] unchanged (E_EXACT: a run of zero diff
 * bytes; src is unused). Adds and exact runs advance oldpos. The caller has checked every
 * range. */
static bsp_error emit(bsp_ctx *c, const unsigned char *src, size_t n, enum emit_mode mode) {
    bsp_error e;
    while (n > 0) {
        size_t room = BUF_SIZE - c->nlen;
        size_t k = n < room ? n : room;
        unsigned char *dst = c->nbuf + c->nlen;
        if (mode == E_ADD) {
            if ((e = read_old(c, c->oldpos, k)) != BSP_OK) return e;
            const unsigned char *o = c->obuf;
            for (size_t i = 0; i < k; i++) dst[i] = (unsigned char)(o[i] + src[i]);
            c->oldpos += k;
        } else if (mode == E_EXACT) {
            if ((e = read_old(c, c->oldpos, k)) != BSP_OK) return e;
            memcpy(dst, c->obuf, k);
            c->oldpos += k;
        } else {
            memcpy(dst, src, k);
        }
        XXH3_128bits_update(c->hash, dst, k);
        c->nlen += k;
        c->newpos += k;
        if (src) src += k;
        n -= k;
        if (c->nlen == BUF_SIZE && (e = flush_new(c)) != BSP_OK) return e;
    }
    return BSP_OK;
}

static bsp_error emit_add(bsp_ctx *c, const unsigned char *diff, size_t n) { return emit(c, diff, n, E_ADD); }
static bsp_error emit_copy(bsp_ctx *c, const unsigned char *src, size_t n) { return emit(c, src, n, E_COPY); }

/* ---------------------------------------------------------------- BSDELTA segments */

/* Checks every command of a complete segment control block against the state before any of
 * it is executed, and sums the extra bytes the segment carries. */
static bsp_error check_segment(bsp_ctx *c) {
    uint64_t newpos = c->newpos, oldpos = c->oldpos, xsum = 0, dsum = 0;
    for (uint32_t i = 0; i < c->seg_n; i++) {
        uint64_t d = c->seg_diff[i], x = c->seg_extra[i];
        int64_t s = c->seg_seek[i];
        unsigned long long k = (unsigned long long)(c->stats.commands + i);
        uint64_t rem = c->cnew - newpos;
        if (d == 0 && x == 0)
            return fail(c, BSP_E_CORRUPT, "command %llu makes no progress (empty add and copy)", k);
        if (x > bsdl_seg_max_extra(c->h.version) - xsum)
            return fail(c, BSP_E_CORRUPT, "segment at command %llu carries more than %u extra bytes",
                        (unsigned long long)c->stats.commands,
                        (unsigned)bsdl_seg_max_extra(c->h.version));
        xsum += x;
        if (d > rem || x > rem - d)
            return fail(c, BSP_E_CORRUPT,
                        "command %llu writes %llu+%llu bytes but only %llu remain of the new file", k,
                        (unsigned long long)d, (unsigned long long)x, (unsigned long long)rem);
        if (d > c->old.size - oldpos)
            return fail(c, BSP_E_CORRUPT,
                        "command %llu reads old bytes [%llu, +%llu) past the old file's end (%llu)", k,
                        (unsigned long long)oldpos, (unsigned long long)d,
                        (unsigned long long)c->old.size);
        uint64_t after = oldpos + d;
        int bad = s < 0 ? (uint64_t)0 - (uint64_t)s > after : (uint64_t)s > c->old.size - after;
        if (bad)
            return fail(c, BSP_E_CORRUPT, "command %llu seeks the old file to %lld%+lld, outside [0, %llu]",
                        k, (long long)after, (long long)s, (unsigned long long)c->old.size);
        newpos += d + x;
        dsum += d;
        oldpos = (uint64_t)((int64_t)after + s);
    }
    c->xneed = (size_t)xsum;
    c->seg_dleft = dsum;
    return BSP_OK;
}

/* Executes every command of the segment that needs no more input: the extra bytes of the
 * current command once its add is complete, its seek, and following commands without adds.
 * Leaves the state at C_DIFF (waiting for diff bytes) or, at the segment's end, C_COUNT. */
static bsp_error run_ready(bsp_ctx *c) {
    while (c->cur < c->seg_n) {
        if (c->left > 0) return BSP_OK;
        uint32_t x = c->seg_extra[c->cur];
        bsp_error e = emit_copy(c, c->xbuf + c->xpos, x);
        if (e) return e;
        c->xpos += x;
        c->oldpos = (uint64_t)((int64_t)c->oldpos + c->seg_seek[c->cur]); /* checked in check_segment */
        c->stats.commands++;
        if (++c->cur < c->seg_n) c->left = c->seg_diff[c->cur];
    }
    c->cs = C_COUNT;
    return BSP_OK;
}

static bsp_error start_segment(bsp_ctx *c) {
    c->cur = 0;
    c->xpos = 0;
    c->left = c->seg_diff[0];
    c->cs = C_DIFF;
    bsp_error e = run_ready(c);
    if (e || c->h.version < 2) return e;
    c->cs = c->seg_dleft ? C_PLIT : C_COUNT;
    return BSP_OK;
}

/* Version 2: n diff bytes of the segment, from src or (src NULL) a run of zeros, spread over
 * the commands in order; the extra bytes and seeks between them run as their turn comes. The
 * caller has checked n against the segment's diff bytes left. */
static bsp_error diff_bytes(bsp_ctx *c, const unsigned char *src, uint64_t n) {
    while (n > 0) {
        uint64_t k = c->left < n ? c->left : n;
        bsp_error e = src ? emit_add(c, src, (size_t)k) : emit(c, NULL, (size_t)k, E_EXACT);
        if (e) return e;
        if (src) src += k;
        n -= k;
        c->left -= k;
        c->seg_dleft -= k;
        if (c->left == 0 && (e = run_ready(c)) != BSP_OK) return e;
    }
    return BSP_OK;
}

static int complete(const bsp_ctx *c) {
    return c->cs == C_COUNT && c->vbytes == 0 && c->newpos == c->cnew;
}

/* Takes one complete varint of the segment's control block. */
static bsp_error take_varint(bsp_ctx *c, uint64_t v) {
    switch (c->cs) {
    case C_COUNT:
        if (v == 0 || v > bsdl_seg_max_cmds(c->h.version))
            return fail(c, BSP_E_CORRUPT, "a segment holds %llu commands (1 to %u allowed)",
                        (unsigned long long)v, (unsigned)bsdl_seg_max_cmds(c->h.version));
        c->seg_n = (uint32_t)v;
        c->seg_i = 0;
        c->cs = C_DIFF_LENS;
        return BSP_OK;
    case C_DIFF_LENS:
        c->seg_diff[c->seg_i] = v;
        break;
    case C_EXTRA_LENS:
        if (v > bsdl_seg_max_extra(c->h.version))
            return fail(c, BSP_E_CORRUPT, "command %llu copies %llu extra bytes (at most %u per segment)",
                        (unsigned long long)(c->stats.commands + c->seg_i), (unsigned long long)v,
                        (unsigned)bsdl_seg_max_extra(c->h.version));
        c->seg_extra[c->seg_i] = (uint32_t)v;
        break;
    case C_SEEKS:
        c->seg_seek[c->seg_i] = bsdl_unzigzag(v);
        break;
    case C_PLIT:
        if (v > c->seg_dleft)
            return fail(c, BSP_E_CORRUPT, "a diff piece of %llu literal bytes exceeds the %llu diff "
                        "bytes left in the segment", (unsigned long long)v,
                        (unsigned long long)c->seg_dleft);
        c->plit = c->plit_was = v;
        c->cs = v ? C_DIFF : C_PZERO;
        return BSP_OK;
    case C_PZERO: {
        if (v > c->seg_dleft)
            return fail(c, BSP_E_CORRUPT, "a zero run of %llu diff bytes exceeds the %llu left in "
                        "the segment", (unsigned long long)v, (unsigned long long)c->seg_dleft);
        if (v == 0 && c->plit_was == 0)
            return fail(c, BSP_E_CORRUPT, "an empty diff piece (no literal bytes, no zero run)");
        bsp_error e = diff_bytes(c, NULL, v);
        if (e) return e;
        c->cs = c->seg_dleft ? C_PLIT : C_COUNT;
        return BSP_OK;
    }
    default:
        return fail(c, BSP_E_CORRUPT, "internal state error");
    }
    if (++c->seg_i < c->seg_n) return BSP_OK;
    c->seg_i = 0;
    if (c->cs == C_DIFF_LENS) {
        c->cs = C_EXTRA_LENS;
        return BSP_OK;
    }
    if (c->cs == C_EXTRA_LENS) {
        c->cs = C_SEEKS;
        return BSP_OK;
    }
    bsp_error e = check_segment(c);
    if (e) return e;
    c->xlen = 0;
    if (c->xneed > 0) {
        c->cs = C_EXTRA;
        return BSP_OK;
    }
    return start_segment(c);
}

/* Runs the segment interpreter over n decompressed bytes. */
static bsp_error run_commands(bsp_ctx *c, const unsigned char *p, size_t n) {
    bsp_error e;
    while (n > 0) {
        switch (c->cs) {
        case C_COUNT:
        case C_DIFF_LENS:
        case C_EXTRA_LENS:
        case C_SEEKS:
        case C_PLIT:
        case C_PZERO: {
            if (complete(c))
                return fail(c, BSP_E_CORRUPT, "command data continues after the new file is complete");
            unsigned char b = *p++;
            n--;
            if (c->vbytes == BSDL_VARINT_MAX_LEN)
                return fail(c, BSP_E_CORRUPT, "varint longer than %d bytes", BSDL_VARINT_MAX_LEN);
            if (b == 0 && c->vbytes > 0) return fail(c, BSP_E_CORRUPT, "non-minimal varint");
            c->vacc |= (uint64_t)(b & 0x7f) << (7 * c->vbytes);
            c->vbytes++;
            if (b & 0x80) break;
            uint64_t v = c->vacc;
            c->vacc = 0;
            c->vbytes = 0;
            if ((e = take_varint(c, v)) != BSP_OK) return e;
            break;
        }
        case C_EXTRA: {
            size_t k = c->xneed - c->xlen;
            if (k > n) k = n;
            memcpy(c->xbuf + c->xlen, p, k);
            c->xlen += k;
            p += k;
            n -= k;
            if (c->xlen == c->xneed && (e = start_segment(c)) != BSP_OK) return e;
            break;
        }
        case C_DIFF: {
            if (c->h.version >= 2) {
                size_t k = c->plit < n ? (size_t)c->plit : n;
                if ((e = diff_bytes(c, p, k)) != BSP_OK) return e;
                p += k;
                n -= k;
                c->plit -= k;
                if (c->plit == 0) c->cs = C_PZERO;
                break;
            }
            size_t k = c->left < n ? (size_t)c->left : n;
            if ((e = emit_add(c, p, k)) != BSP_OK) return e;
            p += k;
            n -= k;
            c->left -= k;
            if (c->left == 0 && (e = run_ready(c)) != BSP_OK) return e;
            break;
        }
        }
    }
    return BSP_OK;
}

/* ---------------------------------------------------------------- BSDELTA push interface */

bsp_error bsp_stream_begin(bsp_ctx *c, const bsp_source *old, const bsp_sink *out) {
    if (!c) return BSP_E_MISUSE;
    if (!old || !old->read_at || !out || !out->write) {
        c->rs = RS_IDLE;
        return fail(c, BSP_E_MISUSE, "bsp_stream_begin needs an old source and an output sink");
    }
    stream_release(c);
    c->rs = RS_IDLE;
    c->err = BSP_OK;
    c->detail[0] = '\0';
    bsp_error e = ensure_buffers(c);
    if (e) return e;
    c->old = *old;
    c->out = *out;
    c->xform = 0;
    c->hdr_len = 0;
    c->nlen = 0;
    c->bz_ended = 0;
    c->cs = C_COUNT;
    c->vacc = 0;
    c->vbytes = 0;
    c->oldpos = c->newpos = 0;
    memset(&c->stats, 0, sizeof c->stats);
    c->stats.format = BSP_FORMAT_BSDELTA;
    c->stats.old_size = old->size;
    c->rs = RS_HEADER;
    return BSP_OK;
}

/* Hashes the whole old file and compares size and hash with the header. The file is hashed
 * even when its size already differs, so the message names both hashes (FORMAT.md, step 2). */
static bsp_error check_base(bsp_ctx *c) {
    char want[33], got[33];
    bsp_hash_hex(c->h.old_hash, want);
    XXH3_128bits_reset(c->hash);
    for (uint64_t off = 0; off < c->old.size;) {
        uint64_t left = c->old.size - off;
        size_t k = left < BUF_SIZE ? (size_t)left : BUF_SIZE;
        bsp_error e = read_old(c, off, k);
        if (e) return e;
        XXH3_128bits_update(c->hash, c->obuf, k);
        off += k;
    }
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(c->hash));
    bsp_hash_hex(canon.digest, got);
    if (c->old.size != c->h.old_size)
        return fail(c, BSP_E_WRONG_BASE,
                    "the old file has %llu bytes and XXH3-128 %s; this patch was made from a file "
                    "of %llu bytes with XXH3-128 %s",
                    (unsigned long long)c->old.size, got, (unsigned long long)c->h.old_size, want);
    if (memcmp(canon.digest, c->h.old_hash, 16) != 0) {
        return fail(c, BSP_E_WRONG_BASE,
                    "the old file's XXH3-128 is %s; this patch was made from %s", got, want);
    }
    XXH3_128bits_reset(c->hash); /* from now on: the hash of the new file */
    return BSP_OK;
}

static bsp_error take_header(bsp_ctx *c) {
    bsp_error e = bsp_parse_header(c->hdr, BSDL_HEADER_LEN, &c->h);
    if (e == BSP_E_NOT_PATCH) return fail(c, e, "the data does not start with a known patch magic");
    if (e == BSP_OK && c->h.format == BSP_FORMAT_BSDIFF40) e = BSP_E_UNSUPPORTED;
    if (e == BSP_E_UNSUPPORTED) {
        if (memcmp(c->hdr, BSDF40_MAGIC, BSDF40_MAGIC_LEN) == 0)
            return fail(c, e, "a BSDIFF40 patch needs random access to the patch; it cannot be "
                              "applied from a stream");
        return fail(c, e, "BSDELTA version %u, compressor %u, flags 0x%02x, reserved %02x%02x: "
                          "this patcher handles versions 1-2, compressors 0-2, flag 0x01 (v2)",
                    c->hdr[BSDL_OFF_VERSION], c->hdr[BSDL_OFF_COMPRESSOR], c->hdr[BSDL_OFF_FLAGS],
                    c->hdr[BSDL_OFF_RESERVED], c->hdr[BSDL_OFF_RESERVED + 1]);
    }
    if (e == BSP_E_CORRUPT) return fail(c, e, "the BSDELTA header is damaged (checksum or size field)");
    if (e) return fail(c, e, "bad BSDELTA header");
    c->stats.new_size = c->h.new_size;
    if (c->h.new_size > c->max_new)
        return fail(c, BSP_E_LIMIT, "the new file would have %llu bytes; the limit is %llu",
                    (unsigned long long)c->h.new_size, (unsigned long long)c->max_new);
    c->cnew = c->h.new_size;
    c->xform = (c->h.flags & BSDL_FLAG_DEFLATE) != 0;
    if (c->xform && !c->have_scratch)
        return fail(c, BSP_E_UNSUPPORTED, "this patch is deflate-aware: it needs a scratch store "
                    "for the old file's expansion, and none was given (bsp_set_scratch)");
    if ((e = check_base(c)) != BSP_OK) return e;
    if (c->h.compressor == BSDL_COMP_BZIP2) {
        memset(&c->bz, 0, sizeof c->bz);
        int r = BZ2_bzDecompressInit(&c->bz, 0, c->low_mem);
        if (r != BZ_OK) return fail(c, BSP_E_NOMEM, "cannot start the bzip2 decoder (code %d)", r);
        c->bz_inited = 1;
    } else if (c->h.compressor == BSDL_COMP_ZSTD) {
        if (!c->zd && !(c->zd = ZSTD_createDStream()))
            return fail(c, BSP_E_NOMEM, "cannot start the zstd decoder");
        if (ZSTD_isError(ZSTD_DCtx_reset(c->zd, ZSTD_reset_session_and_parameters)) ||
            ZSTD_isError(ZSTD_DCtx_setParameter(c->zd, ZSTD_d_windowLogMax,
                                                BSDL_ZSTD_WINDOW_LOG_MAX)))
            return fail(c, BSP_E_NOMEM, "cannot set up the zstd decoder");
        c->zh_len = 0;
        c->zh_done = 0;
    }
    if (c->xform) {
        c->xsec_vacc = 0;
        c->xsec_vbytes = 0;
        c->xsec_need = c->xsec_len = 0;
        c->rs = RS_XSECT;
        return BSP_OK;
    }
    c->rs = RS_BODY;
    return BSP_OK;
}

/* ---------------------------------------------------------------- deflate-aware patches */

/* The encoder's sink: hashes and counts what it produces, then hands it to the caller. */
static int raw_write(void *opaque, const void *buf, size_t len) {
    bsp_ctx *c = opaque;
    if (len > c->h.new_size - c->raw_written) {
        c->enc_err = BSP_E_CORRUPT;
        return -1;
    }
    XXH3_128bits_update(c->rhash, buf, len);
    c->raw_written += len;
    if (c->user_out.write(c->user_out.opaque, buf, len) != 0) {
        c->enc_err = BSP_E_WRITE;
        return -1;
    }
    return 0;
}

/* The commands' sink: the new file's expansion goes to the encoder. */
static int xnew_write(void *opaque, const void *buf, size_t len) {
    bsp_ctx *c = opaque;
    bsp_error e = bsp_dfl_enc_write(c->enc, buf, len);
    if (e == BSP_OK) return 0;
    if (!c->enc_err) c->enc_err = e;
    return -1;
}

static int xsec_varint(bsp_ctx *c, uint64_t *v) {
    uint64_t acc = 0;
    for (unsigned i = 0; i < BSDL_VARINT_MAX_LEN; i++) {
        if (c->xsec_pos >= c->xsec_need) return -1;
        unsigned char b = c->xsec[c->xsec_pos++];
        if (i > 0 && b == 0) return -1;
        acc |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = acc;
            return 0;
        }
    }
    return -1;
}

/* Stream list for the expander: (gap, length) pairs from the section. */
static int xsec_next(void *opaque, bsp_dfl_range *r) {
    bsp_ctx *c = opaque;
    if (c->xsec_left == 0) return 0;
    uint64_t gap, len;
    if (xsec_varint(c, &gap) || xsec_varint(c, &len) || gap > c->old.size - c->xsec_prev_end ||
        len == 0 || len > c->old.size - c->xsec_prev_end - gap)
        return -1;
    r->offset = c->xsec_prev_end + gap;
    r->length = len;
    c->xsec_prev_end = r->offset + len;
    c->xsec_left--;
    return 1;
}

static int scratch_write(void *opaque, const void *buf, size_t len) {
    bsp_ctx *c = opaque;
    return c->scratch.write(c->scratch.opaque, buf, len);
}

/* The whole section is in xsec: check it, expand old into the scratch store, and switch the
 * commands over to the expansions. */
static bsp_error start_xform(bsp_ctx *c) {
    size_t n = c->xsec_need;
    if (XXH32(c->xsec, n, 0) != bsdl_load_le32(c->xsec + n))
        return fail(c, BSP_E_CORRUPT, "the deflate section is damaged (checksum)");
    c->xsec_pos = 0;
    uint64_t xold, xnew, k;
    if (xsec_varint(c, &xold) || xsec_varint(c, &xnew) || xsec_varint(c, &k) ||
        xold > BSDL_MAX_FILE_SIZE || xnew > BSDL_MAX_FILE_SIZE || k > n)
        return fail(c, BSP_E_CORRUPT, "the deflate section's sizes are malformed");
    c->xsec_prev_end = 0;
    c->xsec_left = k;
    if (c->scratch.reset(c->scratch.opaque) != 0)
        return fail(c, BSP_E_WRITE, "cannot reset the scratch store for the old file's expansion");
    bsp_sink to_scratch = {c, scratch_write};
    uint64_t got = 0;
    char det[200];
    bsp_error e = bsp_dfl_expand_list(&c->old, xsec_next, c, &to_scratch, &got, det, sizeof det);
    if (e == BSP_E_WRITE)
        return fail(c, e, "writing the old file's expansion to the scratch store failed (%llu "
                    "bytes needed)", (unsigned long long)xold);
    if (e == BSP_E_READ_OLD) return fail(c, e, "%s", det);
    if (e) return fail(c, e, "deflate section: %s", det);
    if (c->xsec_pos != n || c->xsec_left != 0)
        return fail(c, BSP_E_CORRUPT, "the deflate section has bytes after its stream list");
    if (got != xold)
        return fail(c, BSP_E_CORRUPT, "the old file expands to %llu bytes; the patch expects %llu",
                    (unsigned long long)got, (unsigned long long)xold);
    free(c->xsec);
    c->xsec = NULL;
    if (!c->rhash && !(c->rhash = XXH3_createState()))
        return fail(c, BSP_E_NOMEM, "cannot allocate a hash state");
    XXH3_128bits_reset(c->rhash);
    c->raw_written = 0;
    c->enc_err = BSP_OK;
    c->user_out = c->out;
    bsp_sink raw = {c, raw_write};
    if (!(c->enc = bsp_dfl_enc_create(&raw)))
        return fail(c, BSP_E_NOMEM, "cannot allocate the deflate encoder");
    c->out.opaque = c;
    c->out.write = xnew_write;
    c->old.opaque = c->scratch.opaque;
    c->old.read_at = c->scratch.read_at;
    c->old.size = xold;
    c->cnew = xnew;
    c->rs = RS_BODY;
    return BSP_OK;
}

/* Takes deflate-section bytes; returns how many it used in *used. */
static bsp_error feed_xsect(bsp_ctx *c, const unsigned char *p, size_t n, size_t *used) {
    size_t i = 0;
    while (!c->xsec && i < n) {
        unsigned char b = p[i++];
        if (c->xsec_vbytes == BSDL_VARINT_MAX_LEN || (c->xsec_vbytes > 0 && b == 0))
            return fail(c, BSP_E_CORRUPT, "the deflate section's length is malformed");
        c->xsec_vacc |= (uint64_t)(b & 0x7f) << (7 * c->xsec_vbytes++);
        if (b & 0x80) continue;
        if (c->xsec_vacc == 0 || c->xsec_vacc > BSDL_XSECT_MAX)
            return fail(c, BSP_E_CORRUPT, "the deflate section claims %llu bytes (1 to %zu allowed)",
                        (unsigned long long)c->xsec_vacc, BSDL_XSECT_MAX);
        c->xsec_need = (size_t)c->xsec_vacc;
        if (!(c->xsec = malloc(c->xsec_need + 4)))
            return fail(c, BSP_E_NOMEM, "cannot allocate %zu bytes for the deflate section",
                        c->xsec_need + 4);
        c->xsec_len = 0;
    }
    if (c->xsec) {
        size_t k = c->xsec_need + 4 - c->xsec_len;
        if (k > n - i) k = n - i;
        memcpy(c->xsec + c->xsec_len, p + i, k);
        c->xsec_len += k;
        i += k;
        if (c->xsec_len == c->xsec_need + 4) {
            bsp_error e = start_xform(c);
            if (e) return e;
        }
    }
    *used = i;
    return BSP_OK;
}

/* Bytes of a zstd frame header's Frame_Content_Size field, from its descriptor (RFC 8878,
 * 3.1.1.1.1): flag 0 means none, or 1 byte in a single-segment frame. */
static size_t zstd_fcs_size(unsigned fhd) {
    static const size_t len[4] = {0, 2, 4, 8};
    return fhd >> 6 ? len[fhd >> 6] : (fhd >> 5) & 1;
}

/* Size of a zstd frame header from its first 5 bytes, 0 when the magic or the reserved bit is
 * wrong. */
static size_t zstd_header_size(const unsigned char *h) {
    if (bsdl_load_le32(h) != 0xFD2FB528u || (h[4] & 0x08)) return 0;
    static const size_t did_len[4] = {0, 1, 2, 4};
    unsigned single = (h[4] >> 5) & 1;
    return 5 + !single + did_len[h[4] & 3] + zstd_fcs_size(h[4]);
}

/* The window a whole frame header declares: its Window_Descriptor, or in a single-segment frame
 * its content size (the field that ends the header). */
static uint64_t zstd_header_window(const unsigned char *h, size_t len) {
    if (!((h[4] >> 5) & 1)) {
        unsigned exp = h[5] >> 3, mant = h[5] & 7;
        uint64_t base = (uint64_t)1 << (10 + exp);
        return base + base / 8 * mant;
    }
    size_t k = zstd_fcs_size(h[4]);
    const unsigned char *f = h + len - k;
    if (k == 1) return f[0];
    if (k == 2) return (uint64_t)(f[0] | f[1] << 8) + 256;
    return k == 4 ? bsdl_load_le32(f) : bsdl_load_le64(f);
}

/* zstd body: exactly one frame. Its header is read here first: a frame that declares a window
 * above the format's limit is refused before the decoder sees it (the decoder alone would
 * accept it when the whole frame fits the output, and refuse it otherwise: the result would
 * depend on how the patch arrives). */
static bsp_error feed_zstd(bsp_ctx *c, const unsigned char *p, size_t n) {
    bsp_error e;
    if (!c->zh_done) {
        size_t need = c->zh_len < 5 ? 5 : zstd_header_size(c->zh);
        while (c->zh_len < need && n > 0) {
            c->zh[c->zh_len++] = *p++;
            n--;
            if (c->zh_len == 5) {
                need = zstd_header_size(c->zh);
                if (!need)
                    return fail(c, BSP_E_CORRUPT, "the body is not a zstd frame (magic or header)");
            }
        }
        if (c->zh_len < need) return BSP_OK;
        uint64_t win = zstd_header_window(c->zh, c->zh_len);
        if (win > (uint64_t)1 << BSDL_ZSTD_WINDOW_LOG_MAX)
            return fail(c, BSP_E_UNSUPPORTED, "the zstd body needs a window of %llu bytes; the "
                        "format allows %u", (unsigned long long)win, 1u << BSDL_ZSTD_WINDOW_LOG_MAX);
        c->zh_done = 1;
        if ((e = feed_zstd(c, c->zh, c->zh_len)) != BSP_OK) return e;
        if (n == 0) return BSP_OK;
    }
    ZSTD_inBuffer in = {p, n, 0};
    for (;;) {
        ZSTD_outBuffer out = {c->dbuf, BUF_SIZE, 0};
        size_t r = ZSTD_decompressStream(c->zd, &out, &in);
        if (ZSTD_isError(r)) {
            ZSTD_ErrorCode code = ZSTD_getErrorCode(r);
            if (code == ZSTD_error_frameParameter_windowTooLarge)
                return fail(c, BSP_E_UNSUPPORTED, "the zstd body needs a window above %u bytes (the "
                            "format's limit)", 1u << BSDL_ZSTD_WINDOW_LOG_MAX);
            if (code == ZSTD_error_memory_allocation)
                return fail(c, BSP_E_NOMEM, "the zstd decoder ran out of memory");
            return fail(c, BSP_E_CORRUPT, "the compressed body is damaged (zstd: %s)",
                        ZSTD_getErrorName(r));
        }
        if (out.pos && (e = run_commands(c, c->dbuf, out.pos)) != BSP_OK) return e;
        if (r == 0) { /* the frame is complete and flushed */
            c->bz_ended = 1;
            if (in.pos < in.size)
                return fail(c, BSP_E_CORRUPT, "%zu bytes follow the end of the compressed stream",
                            in.size - in.pos);
            return BSP_OK;
        }
        if (in.pos == in.size && out.pos < out.size) return BSP_OK;
    }
}

static bsp_error feed_body(bsp_ctx *c, const unsigned char *p, size_t n) {
    if (c->h.compressor == BSDL_COMP_NONE) return run_commands(c, p, n);
    if (c->bz_ended)
        return fail(c, BSP_E_CORRUPT, "%zu bytes follow the end of the compressed stream", n);
    if (c->h.compressor == BSDL_COMP_ZSTD) return feed_zstd(c, p, n);
    c->bz.next_in = (char *)(uintptr_t)p;
    c->bz.avail_in = 0;
    bsp_error e;
    for (;;) {
        if (c->bz.avail_in == 0 && n > 0) {
            unsigned take = n > 0x40000000u ? 0x40000000u : (unsigned)n;
            c->bz.next_in = (char *)(uintptr_t)p;
            c->bz.avail_in = take;
            p += take;
            n -= take;
        }
        c->bz.next_out = (char *)c->dbuf;
        c->bz.avail_out = (unsigned)BUF_SIZE;
        int r = BZ2_bzDecompress(&c->bz);
        if (r != BZ_OK && r != BZ_STREAM_END) {
            if (r == BZ_MEM_ERROR) return fail(c, BSP_E_NOMEM, "the bzip2 decoder ran out of memory");
            return fail(c, BSP_E_CORRUPT, "the compressed body is damaged (bzip2 error %d)", r);
        }
        size_t produced = BUF_SIZE - c->bz.avail_out;
        if (produced && (e = run_commands(c, c->dbuf, produced)) != BSP_OK) return e;
        if (r == BZ_STREAM_END) {
            c->bz_ended = 1;
            size_t rest = c->bz.avail_in + n;
            if (rest) return fail(c, BSP_E_CORRUPT, "%zu bytes follow the end of the compressed stream", rest);
            return BSP_OK;
        }
        if (c->bz.avail_in == 0 && n == 0 && produced < BUF_SIZE) return BSP_OK;
    }
}

bsp_error bsp_stream_feed(bsp_ctx *c, const void *data, size_t len) {
    if (!c) return BSP_E_MISUSE;
    if (c->rs == RS_FAILED) return c->err;
    if (c->rs == RS_IDLE) return fail(c, BSP_E_MISUSE, "bsp_stream_feed called before bsp_stream_begin");
    if (len == 0) return BSP_OK;
    if (!data) return fail(c, BSP_E_MISUSE, "bsp_stream_feed: NULL data");
    const unsigned char *p = data;
    c->stats.patch_bytes += len;
    if (c->rs == RS_HEADER) {
        size_t k = BSDL_HEADER_LEN - c->hdr_len;
        if (k > len) k = len;
        memcpy(c->hdr + c->hdr_len, p, k);
        c->hdr_len += k;
        p += k;
        len -= k;
        /* Decide on the magic as early as possible, so a wrong file fails on its first bytes. */
        bsp_header tmp;
        bsp_error e = bsp_parse_header(c->hdr, c->hdr_len, &tmp);
        if (e == BSP_E_NOT_PATCH) return fail(c, e, "the data does not start with a known patch magic");
        if (c->hdr_len >= BSDF40_MAGIC_LEN && memcmp(c->hdr, BSDF40_MAGIC, BSDF40_MAGIC_LEN) == 0)
            return fail(c, BSP_E_UNSUPPORTED, "a BSDIFF40 patch needs random access to the patch; "
                                              "it cannot be applied from a stream");
        if (c->hdr_len < BSDL_HEADER_LEN) return BSP_OK;
        if ((e = take_header(c)) != BSP_OK) return e;
    }
    if (c->rs == RS_XSECT && len > 0) {
        size_t used = 0;
        bsp_error e = feed_xsect(c, p, len, &used);
        if (e) return e;
        p += used;
        len -= used;
    }
    if (len == 0) return BSP_OK;
    return feed_body(c, p, len);
}

bsp_error bsp_stream_finish(bsp_ctx *c) {
    if (!c) return BSP_E_MISUSE;
    if (c->rs == RS_FAILED) return c->err;
    if (c->rs == RS_IDLE) return fail(c, BSP_E_MISUSE, "bsp_stream_finish called before bsp_stream_begin");
    bsp_error e;
    if (c->rs == RS_HEADER)
        return fail(c, BSP_E_TRUNCATED, "the patch ends after %zu bytes, inside its %d-byte header",
                    c->hdr_len, BSDL_HEADER_LEN);
    if (c->rs == RS_XSECT)
        return fail(c, BSP_E_TRUNCATED, "the patch ends inside its deflate section");
    if (!complete(c))
        return fail(c, BSP_E_TRUNCATED, "the patch ends before the new file is complete "
                                        "(%llu of %llu bytes produced)",
                    (unsigned long long)c->newpos, (unsigned long long)c->cnew);
    if (c->h.compressor != BSDL_COMP_NONE && !c->bz_ended)
        return fail(c, BSP_E_TRUNCATED, "the compressed body has no end mark");
    if ((e = flush_new(c)) != BSP_OK) return e;
    if (c->xform) {
        e = bsp_dfl_enc_finish(c->enc);
        if (e == BSP_E_TRUNCATED)
            return fail(c, BSP_E_CORRUPT, "the new file's expansion ends inside an item");
        if (e) return fail(c, c->enc_err ? c->enc_err : e, "%s", bsp_dfl_enc_detail(c->enc));
        if (c->raw_written != c->h.new_size)
            return fail(c, BSP_E_RESULT_MISMATCH, "the patch produced %llu bytes; the new file has "
                        "%llu", (unsigned long long)c->raw_written,
                        (unsigned long long)c->h.new_size);
    }
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, XXH3_128bits_digest(c->xform ? c->rhash : c->hash));
    if (memcmp(canon.digest, c->h.new_hash, 16) != 0) {
        char want[33], got[33];
        bsp_hash_hex(c->h.new_hash, want);
        bsp_hash_hex(canon.digest, got);
        return fail(c, BSP_E_RESULT_MISMATCH, "the new file's XXH3-128 is %s; the patch promises %s",
                    got, want);
    }
    stream_release(c);
    c->rs = RS_IDLE;
    return BSP_OK;
}

bsp_error bsp_apply_stream(bsp_ctx *c, const bsp_source *old, const bsp_reader *patch,
                           const bsp_sink *out) {
    if (!c) return BSP_E_MISUSE;
    if (!patch || !patch->read) return fail(c, BSP_E_MISUSE, "bsp_apply_stream needs a patch reader");
    bsp_error e = bsp_stream_begin(c, old, out);
    if (e) return e;
    for (;;) {
        size_t got = 0;
        if (patch->read(patch->opaque, c->ibuf, BUF_SIZE, &got) != 0 || got > BUF_SIZE)
            return fail(c, BSP_E_READ_PATCH, "cannot read the patch after %llu bytes",
                        (unsigned long long)c->stats.patch_bytes);
        if (got == 0) return bsp_stream_finish(c);
        if ((e = bsp_stream_feed(c, c->ibuf, got)) != BSP_OK) return e;
    }
}

/* ---------------------------------------------------------------- BSDIFF40 */

static bsp_error blk_open(bsp_ctx *c, bz_block *b, const char *name, uint64_t pos, uint64_t end) {
    memset(&b->bz, 0, sizeof b->bz);
    b->name = name;
    b->pos = pos;
    b->end = end;
    b->ended = 0;
    int r = BZ2_bzDecompressInit(&b->bz, 0, c->low_mem);
    if (r != BZ_OK) return fail(c, BSP_E_NOMEM, "cannot start a bzip2 decoder (code %d)", r);
    b->inited = 1;
    return BSP_OK;
}

/* Gives the block's decoder its next input from the patch when it has used up the last. */
static bsp_error blk_refill(bsp_ctx *c, const bsp_source *patch, bz_block *b) {
    if (b->bz.avail_in != 0 || b->pos >= b->end) return BSP_OK;
    uint64_t left = b->end - b->pos;
    size_t k = left < BZ_IN_SIZE ? (size_t)left : BZ_IN_SIZE;
    if (patch->read_at(patch->opaque, b->pos, b->in, k) != 0)
        return fail(c, BSP_E_READ_PATCH, "cannot read the patch at offset %llu", (unsigned long long)b->pos);
    b->pos += k;
    c->stats.patch_bytes += k;
    b->bz.next_in = (char *)b->in;
    b->bz.avail_in = (unsigned)k;
    return BSP_OK;
}

/* Reads exactly n bytes from a block's stream into dst. */
static bsp_error blk_read(bsp_ctx *c, const bsp_source *patch, bz_block *b, unsigned char *dst, size_t n) {
    while (n > 0) {
        if (b->ended)
            return fail(c, BSP_E_TRUNCATED, "the %s block ends before the data a command needs", b->name);
        bsp_error e = blk_refill(c, patch, b);
        if (e) return e;
        unsigned want = n > 0x40000000u ? 0x40000000u : (unsigned)n;
        b->bz.next_out = (char *)dst;
        b->bz.avail_out = want;
        int r = BZ2_bzDecompress(&b->bz);
        if (r != BZ_OK && r != BZ_STREAM_END) {
            if (r == BZ_MEM_ERROR) return fail(c, BSP_E_NOMEM, "the bzip2 decoder ran out of memory");
            return fail(c, BSP_E_CORRUPT, "the %s block is damaged (bzip2 error %d)", b->name, r);
        }
        size_t got = want - b->bz.avail_out;
        dst += got;
        n -= got;
        if (r == BZ_STREAM_END) b->ended = 1;
        else if (got == 0 && b->bz.avail_in == 0 && b->pos == b->end)
            return fail(c, BSP_E_TRUNCATED, "the %s block ends inside its bzip2 stream", b->name);
    }
    return BSP_OK;
}

/* After the last command: the block's stream must end here, and fill the block exactly. */
static bsp_error blk_finish(bsp_ctx *c, const bsp_source *patch, bz_block *b) {
    unsigned char probe;
    while (!b->ended) {
        bsp_error e = blk_refill(c, patch, b);
        if (e) return e;
        b->bz.next_out = (char *)&probe;
        b->bz.avail_out = 1;
        int r = BZ2_bzDecompress(&b->bz);
        if (r != BZ_OK && r != BZ_STREAM_END)
            return fail(c, BSP_E_CORRUPT, "the %s block is damaged (bzip2 error %d)", b->name, r);
        if (b->bz.avail_out == 0)
            return fail(c, BSP_E_CORRUPT, "the %s block holds data beyond the last command", b->name);
        if (r == BZ_STREAM_END) b->ended = 1;
        else if (b->bz.avail_in == 0 && b->pos == b->end)
            return fail(c, BSP_E_TRUNCATED, "the %s block ends inside its bzip2 stream", b->name);
    }
    if (b->bz.avail_in != 0 || b->pos != b->end)
        return fail(c, BSP_E_CORRUPT, "bytes follow the bzip2 stream of the %s block", b->name);
    return BSP_OK;
}

static bsp_error bsdiff40_run(bsp_ctx *c, const bsp_source *old, const bsp_source *patch,
                              const bsp_sink *out) {
    unsigned char h[BSDF40_HEADER_LEN];
    bsp_error e;
    if (patch->size < BSDF40_HEADER_LEN) {
        size_t k = (size_t)patch->size;
        if (k && patch->read_at(patch->opaque, 0, h, k) != 0)
            return fail(c, BSP_E_READ_PATCH, "cannot read the patch header");
        size_t m = k < BSDF40_MAGIC_LEN ? k : BSDF40_MAGIC_LEN;
        if (memcmp(h, BSDF40_MAGIC, m) != 0)
            return fail(c, BSP_E_NOT_PATCH, "the data does not start with a known patch magic");
        return fail(c, BSP_E_TRUNCATED, "the patch has %zu bytes, less than the 32-byte BSDIFF40 header", k);
    }
    if (patch->read_at(patch->opaque, 0, h, sizeof h) != 0)
        return fail(c, BSP_E_READ_PATCH, "cannot read the patch header");
    if (memcmp(h, BSDF40_MAGIC, BSDF40_MAGIC_LEN) != 0)
        return fail(c, BSP_E_NOT_PATCH, "the data does not start with the BSDIFF40 magic");
    int64_t ctrl_len, diff_len, new_size;
    if (bsdf40_decode_off(h + 8, &ctrl_len) || bsdf40_decode_off(h + 16, &diff_len) ||
        bsdf40_decode_off(h + 24, &new_size) || ctrl_len < 0 || diff_len < 0 || new_size < 0)
        return fail(c, BSP_E_CORRUPT, "negative length in the BSDIFF40 header");
    if ((uint64_t)new_size > BSDL_MAX_FILE_SIZE)
        return fail(c, BSP_E_CORRUPT, "the BSDIFF40 header declares a new size of %lld bytes",
                    (long long)new_size);
    c->stats.new_size = (uint64_t)new_size;
    if ((uint64_t)new_size > c->max_new)
        return fail(c, BSP_E_LIMIT, "the new file would have %lld bytes; the limit is %llu",
                    (long long)new_size, (unsigned long long)c->max_new);
    uint64_t body = patch->size - BSDF40_HEADER_LEN;
    if ((uint64_t)ctrl_len > body || (uint64_t)diff_len > body - (uint64_t)ctrl_len)
        return fail(c, BSP_E_TRUNCATED, "the header's block lengths (%lld + %lld) exceed the %llu "
                                        "bytes that follow it",
                    (long long)ctrl_len, (long long)diff_len, (unsigned long long)body);
    if (!c->blk && !(c->blk = calloc(3, sizeof *c->blk)))
        return fail(c, BSP_E_NOMEM, "cannot allocate the BSDIFF40 stream buffers");
    uint64_t p1 = BSDF40_HEADER_LEN + (uint64_t)ctrl_len, p2 = p1 + (uint64_t)diff_len;
    bz_block *bc = &c->blk[0], *bd = &c->blk[1], *bx = &c->blk[2];
    if ((e = blk_open(c, bc, "control", BSDF40_HEADER_LEN, p1)) ||
        (e = blk_open(c, bd, "diff", p1, p2)) || (e = blk_open(c, bx, "extra", p2, patch->size)))
        return e;
    c->stats.patch_bytes = BSDF40_HEADER_LEN;
    c->out = *out;
    c->xform = 0;
    c->old = *old;
    c->nlen = 0;
    c->newpos = 0;
    XXH3_128bits_reset(c->hash); /* keeps emit_* uniform; the digest is unused */
    int64_t oldpos = 0;
    unsigned idle = 0;
    const int64_t lim = (int64_t)BSDL_MAX_FILE_SIZE;
    uint64_t nsize = (uint64_t)new_size;
    while (c->newpos < nsize) {
        unsigned char cw[24];
        int64_t add, copy, seek;
        if ((e = blk_read(c, patch, bc, cw, sizeof cw))) return e;
        unsigned long long k = (unsigned long long)c->stats.commands;
        if (bsdf40_decode_off(cw, &add) || bsdf40_decode_off(cw + 8, &copy) ||
            bsdf40_decode_off(cw + 16, &seek))
            return fail(c, BSP_E_CORRUPT, "command %llu holds a negative zero", k);
        uint64_t rem = nsize - c->newpos;
        if (add < 0 || copy < 0)
            return fail(c, BSP_E_CORRUPT, "command %llu has a negative length", k);
        /* Classic bsdiff writes (0, 0, seek) when new starts with a match; a long run of such
         * commands can only be an attempt to burn CPU. */
        if (add == 0 && copy == 0) {
            if (++idle > BSDF40_MAX_IDLE_COMMANDS)
                return fail(c, BSP_E_CORRUPT, "more than %d commands in a row make no progress",
                            BSDF40_MAX_IDLE_COMMANDS);
        } else {
            idle = 0;
        }
        if ((uint64_t)add > rem || (uint64_t)copy > rem - (uint64_t)add)
            return fail(c, BSP_E_CORRUPT, "command %llu writes %lld+%lld bytes but only %llu remain "
                                          "of the new file",
                        k, (long long)add, (long long)copy, (unsigned long long)rem);
        if (add > 0 && (oldpos < 0 || (uint64_t)oldpos > old->size ||
                        (uint64_t)add > old->size - (uint64_t)oldpos))
            return fail(c, BSP_E_CORRUPT, "command %llu reads old bytes [%lld, +%lld) outside the old "
                                          "file's %llu bytes (wrong old file, or corrupt patch)",
                        k, (long long)oldpos, (long long)add, (unsigned long long)old->size);
        c->oldpos = (uint64_t)oldpos;
        for (uint64_t left = (uint64_t)add; left > 0;) {
            size_t n = left < BUF_SIZE ? (size_t)left : BUF_SIZE;
            if ((e = blk_read(c, patch, bd, c->dbuf, n)) || (e = emit_add(c, c->dbuf, n))) return e;
            left -= n;
        }
        for (uint64_t left = (uint64_t)copy; left > 0;) {
            size_t n = left < BUF_SIZE ? (size_t)left : BUF_SIZE;
            if ((e = blk_read(c, patch, bx, c->dbuf, n)) || (e = emit_copy(c, c->dbuf, n))) return e;
            left -= n;
        }
        oldpos += add; /* |oldpos| <= 2^62 and add <= 2^62: no overflow */
        if ((seek > 0 && oldpos > lim - seek) || (seek < 0 && oldpos < -lim - seek))
            return fail(c, BSP_E_CORRUPT, "command %llu seeks the old file out of range", k);
        oldpos += seek;
        c->stats.commands++;
    }
    if ((e = blk_finish(c, patch, bc)) || (e = blk_finish(c, patch, bd)) || (e = blk_finish(c, patch, bx)))
        return e;
    c->stats.patch_bytes = patch->size;
    return flush_new(c);
}

bsp_error bsp_apply_bsdiff40(bsp_ctx *c, const bsp_source *old, const bsp_source *patch,
                             const bsp_sink *out) {
    if (!c) return BSP_E_MISUSE;
    c->err = BSP_OK;
    c->detail[0] = '\0';
    stream_release(c);
    c->rs = RS_IDLE;
    if (!old || !old->read_at || !patch || !patch->read_at || !out || !out->write)
        return fail(c, BSP_E_MISUSE, "bsp_apply_bsdiff40 needs old, patch and output");
    memset(&c->stats, 0, sizeof c->stats);
    c->stats.format = BSP_FORMAT_BSDIFF40;
    c->stats.old_size = old->size;
    bsp_error e = ensure_buffers(c);
    if (!e) e = bsdiff40_run(c, old, patch, out);
    blocks_release(c);
    return e;
}

/* A sequential reader over a random-access source, for applying BSDELTA from a bsp_source. */
typedef struct src_cursor {
    const bsp_source *src;
    uint64_t pos;
} src_cursor;

static int cursor_read(void *opaque, void *buf, size_t cap, size_t *got) {
    src_cursor *cur = opaque;
    uint64_t left = cur->src->size - cur->pos;
    size_t k = left < cap ? (size_t)left : cap;
    *got = k;
    if (k == 0) return 0;
    if (cur->src->read_at(cur->src->opaque, cur->pos, buf, k) != 0) return -1;
    cur->pos += k;
    return 0;
}

bsp_error bsp_apply(bsp_ctx *c, const bsp_source *old, const bsp_source *patch, const bsp_sink *out) {
    if (!c) return BSP_E_MISUSE;
    if (!patch || !patch->read_at) return fail(c, BSP_E_MISUSE, "bsp_apply needs a patch source");
    unsigned char magic[BSDF40_MAGIC_LEN] = {0};
    size_t k = patch->size < sizeof magic ? (size_t)patch->size : sizeof magic;
    if (k && patch->read_at(patch->opaque, 0, magic, k) != 0)
        return fail(c, BSP_E_READ_PATCH, "cannot read the patch header");
    if (k == sizeof magic && memcmp(magic, BSDF40_MAGIC, BSDF40_MAGIC_LEN) == 0)
        return bsp_apply_bsdiff40(c, old, patch, out);
    src_cursor cur = {patch, 0};
    bsp_reader rd = {&cur, cursor_read};
    return bsp_apply_stream(c, old, &rd, out);
}
