/* test_bspatch_hostile.c - the patcher against hostile input, both formats: truncation at every
 * byte, seeded random bit flips, header fields at 0 / all-ones / negative, hand-crafted malicious
 * command streams, the wrong old file, failing I/O callbacks and the new-size limit. Every case
 * must end with the documented error class, write nothing it should not, and never crash (run it
 * under ASan+UBSan to make "never crash" mean something). */
#define _POSIX_C_SOURCE 200809L
#include "bsdelta_format.h"
#include "bspatch.h"
#include "bsp_testutil.h"

#define M(e) (1u << (e))
#define BL_CORRUPTISH (M(BSP_E_NOT_PATCH) | M(BSP_E_UNSUPPORTED) | M(BSP_E_CORRUPT) | M(BSP_E_TRUNCATED))

/* Sink with a capacity (writing past it is a patcher bug, reported as an overflow) and an
 * optional failure point. */
typedef struct tsink {
    unsigned char *buf;
    size_t cap, len;
    size_t fail_after; /* a write that would pass this many bytes fails */
    int overflow;
} tsink;

static int tsink_write(void *opaque, const void *p, size_t n) {
    tsink *s = opaque;
    if (n > s->fail_after - s->len) return -1;
    if (n > s->cap - s->len) {
        s->overflow = 1;
        return -1;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

enum how { VIA_APPLY, VIA_PUSH, VIA_BSDIFF40 };

static bsp_ctx *g_ctx;

/* Applies patch to old into s (reset first). */
static bsp_error apply(enum how how, const unsigned char *old, size_t ol, const unsigned char *p,
                       size_t pl, tsink *s) {
    bsp_memsource os, ps;
    bsp_source osrc, psrc;
    bsp_source_from_memory(&osrc, &os, old, ol);
    bsp_source_from_memory(&psrc, &ps, p, pl);
    bsp_sink sink = {s, tsink_write};
    s->len = 0;
    s->overflow = 0;
    if (how == VIA_APPLY) return bsp_apply(g_ctx, &osrc, &psrc, &sink);
    if (how == VIA_BSDIFF40) return bsp_apply_bsdiff40(g_ctx, &osrc, &psrc, &sink);
    bsp_error e = bsp_stream_begin(g_ctx, &osrc, &sink);
    uint64_t st = pl * 7919 + 1;
    for (size_t pos = 0; e == BSP_OK && pos < pl;) {
        size_t k = 1 + (size_t)(tenc_rand(&st) % 97);
        if (k > pl - pos) k = pl - pos;
        e = bsp_stream_feed(g_ctx, p + pos, k);
        pos += k;
    }
    return e ? e : bsp_stream_finish(g_ctx);
}

/* Checks one hostile patch. allowed: mask of acceptable results. want/want_len: the correct
 * new file; BSP_OK is only acceptable with exactly that output. For BSDELTA both the pull and
 * the push API run and must agree. Results that refuse the header must write nothing. */
static bsp_error expect(const char *what, int bsdiff40, const unsigned char *old, size_t ol,
                        const unsigned char *p, size_t pl, unsigned allowed,
                        const unsigned char *want, size_t want_len) {
    unsigned char *out = t_alloc(want_len);
    tsink s = {out, want_len, 0, SIZE_MAX, 0};
    bsp_error first = BSP_OK;
    for (int w = 0; w < (bsdiff40 ? 1 : 2); w++) {
        enum how how = bsdiff40 ? VIA_BSDIFF40 : (w ? VIA_PUSH : VIA_APPLY);
        bsp_error e = apply(how, old, ol, p, pl, &s);
        if (w == 0) first = e;
        CHECK(allowed & M(e), "%s (api %d): got %s (%s)", what, how, bsp_strerror(e), bsp_detail(g_ctx));
        CHECK(e == first, "%s: push API gives %s, pull API %s", what, bsp_strerror(e), bsp_strerror(first));
        CHECK(!s.overflow, "%s (api %d): wrote past the end of the new file", what, how);
        if (e == BSP_OK)
            CHECK(s.len == want_len && memcmp(out, want, want_len) == 0,
                  "%s (api %d): success with a wrong output", what, how);
        if (e == BSP_E_NOT_PATCH || e == BSP_E_UNSUPPORTED || e == BSP_E_WRONG_BASE || e == BSP_E_LIMIT)
            CHECK(s.len == 0, "%s (api %d): %zu bytes written before refusing the patch", what, how, s.len);
        if (e != BSP_OK) CHECK(bsp_detail(g_ctx)[0] != '\0', "%s: an error without a detail", what);
    }
    free(out);
    return first;
}

/* ---------------------------------------------------------------- fixtures */

typedef struct fixture {
    const char *name;
    int bsdiff40;
    unsigned char *old, *nw, *patch;
    size_t ol, nl, pl;
} fixture;

static fixture fx[8];
static size_t nfx;

static void make_fixtures(void) {
    unsigned char *old = t_gen(T_TEXT, 2500, 100);
    size_t nl;
    unsigned char *nw = t_edit(old, 2500, 101, &nl);
    const char *names[] = {"BSDELTA/none", "BSDELTA/bzip2", "BSDELTA/none aligned", "BSDIFF40",
                           "BSDIFF40 aligned", "BSDELTA v2/none", "BSDELTA v2/bzip2",
                           "BSDELTA v2/zstd"};
    for (int i = 0; i < 8; i++) {
        fixture *f = &fx[nfx++];
        f->name = names[i];
        f->bsdiff40 = i == 3 || i == 4;
        tenc_version = i >= 5 ? 2 : 1;
        f->old = old, f->ol = 2500, f->nw = nw, f->nl = nl;
        int r = i == 0 ? tenc_encode(old, 2500, nw, nl, BSDL_COMP_NONE, 5, &f->patch, &f->pl)
              : i == 1 ? tenc_encode(old, 2500, nw, nl, BSDL_COMP_BZIP2, 6, &f->patch, &f->pl)
              : i == 2 ? tenc_encode(old, 2500, nw, nl, BSDL_COMP_NONE, 0, &f->patch, &f->pl)
              : i == 3 ? tenc_bsdiff40(old, 2500, nw, nl, 7, &f->patch, &f->pl)
              : i == 4 ? tenc_bsdiff40(old, 2500, nw, nl, 0, &f->patch, &f->pl)
              : i == 5 ? tenc_encode(old, 2500, nw, nl, BSDL_COMP_NONE, 8, &f->patch, &f->pl)
              : i == 6 ? tenc_encode(old, 2500, nw, nl, BSDL_COMP_BZIP2, 9, &f->patch, &f->pl)
                       : tenc_encode(old, 2500, nw, nl, BSDL_COMP_ZSTD, 10, &f->patch, &f->pl);
        tenc_version = 1;
        if (r) {
            fprintf(stderr, "test encoder failed\n");
            exit(2);
        }
        /* each fixture must itself be valid */
        expect(f->name, f->bsdiff40, f->old, f->ol, f->patch, f->pl, M(BSP_OK), f->nw, f->nl);
    }
}

/* ---------------------------------------------------------------- truncation, bit flips */

static void test_truncation(void) {
    for (size_t i = 0; i < nfx; i++) {
        fixture *f = &fx[i];
        for (size_t cut = 0; cut < f->pl; cut++) {
            char what[96];
            snprintf(what, sizeof what, "%s cut at %zu of %zu", f->name, cut, f->pl);
            expect(what, f->bsdiff40, f->old, f->ol, f->patch, cut, M(BSP_E_TRUNCATED), f->nw, f->nl);
        }
    }
}

static void test_bitflips(void) {
    for (size_t i = 0; i < nfx; i++) {
        fixture *f = &fx[i];
        unsigned char *p = t_alloc(f->pl);
        uint64_t st = 0xb1f1 + i;
        int ok = 0;
        for (int n = 0; n < 300; n++) {
            memcpy(p, f->patch, f->pl);
            int flips = 1 + (int)(tenc_rand(&st) % 3);
            for (int k = 0; k < flips; k++) {
                uint64_t r = tenc_rand(&st);
                p[(r >> 3) % f->pl] ^= (unsigned char)(1u << (r & 7));
            }
            char what[64];
            snprintf(what, sizeof what, "%s flip #%d", f->name, n);
            /* BSDELTA: header checksum and both hashes leave no undetected damage, except in
             * bits a decoder ignores (the padding that ends a bzip2 stream; some zstd header and
             * entropy-table bits): the output is then identical, and OK is right. BSDIFF40 has
             * no hashes: a flip in a raw field may go unnoticed. */
            unsigned allowed = f->bsdiff40 ? BL_CORRUPTISH | M(BSP_OK) | M(BSP_E_LIMIT)
                                           : BL_CORRUPTISH | M(BSP_E_RESULT_MISMATCH);
            if (!f->bsdiff40 && (strstr(f->name, "bzip2") || strstr(f->name, "zstd")))
                allowed |= M(BSP_OK);
            ok += expect(what, f->bsdiff40, f->old, f->ol, p, f->pl, allowed, f->nw, f->nl) == BSP_OK;
        }
        printf("%s: 300 bit-flip rounds, %d applied cleanly with the correct output\n", f->name, ok);
        free(p);
    }
}

/* ---------------------------------------------------------------- header fields */

static void test_bsdelta_header_fields(void) {
    for (size_t i = 0; i < 2; i++) {
        fixture *f = &fx[i];
        int bz = strstr(f->name, "bzip2") != NULL;
        unsigned char *p = t_alloc(f->pl);
        struct { const char *field; size_t off, len; unsigned on0, onff; } fields[] = {
            {"magic", 0, 7, M(BSP_E_NOT_PATCH), M(BSP_E_NOT_PATCH)},
            {"version", BSDL_OFF_VERSION, 1, M(BSP_E_UNSUPPORTED), M(BSP_E_UNSUPPORTED)},
            {"old_size", BSDL_OFF_OLD_SIZE, 8, M(BSP_E_WRONG_BASE), M(BSP_E_CORRUPT)},
            /* new_size 0: the first command byte is data after completion */
            {"new_size", BSDL_OFF_NEW_SIZE, 8, M(BSP_E_CORRUPT), M(BSP_E_CORRUPT)},
            {"old_hash", BSDL_OFF_OLD_HASH, 16, M(BSP_E_WRONG_BASE), M(BSP_E_WRONG_BASE)},
            {"new_hash", BSDL_OFF_NEW_HASH, 16, M(BSP_E_RESULT_MISMATCH), M(BSP_E_RESULT_MISMATCH)},
            /* compressor 0 on a bzip2 body: "BZh9..." read as commands */
            {"compressor", BSDL_OFF_COMPRESSOR, 1, bz ? M(BSP_E_CORRUPT) | M(BSP_E_TRUNCATED) : M(BSP_OK),
             M(BSP_E_UNSUPPORTED)},
            {"flags", BSDL_OFF_FLAGS, 1, M(BSP_OK), M(BSP_E_UNSUPPORTED)},
            {"reserved", BSDL_OFF_RESERVED, 2, M(BSP_OK), M(BSP_E_UNSUPPORTED)},
        };
        for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
            for (int v = 0; v < 2; v++) {
                memcpy(p, f->patch, f->pl);
                memset(p + fields[k].off, v ? 0xff : 0, fields[k].len);
                tenc_reseal(p); /* so the field check itself is what refuses the patch */
                char what[96];
                snprintf(what, sizeof what, "%s: %s = %s", f->name, fields[k].field, v ? "all ones" : "0");
                expect(what, 0, f->old, f->ol, p, f->pl, v ? fields[k].onff : fields[k].on0, f->nw, f->nl);
            }
        }
        /* the checksum itself, and a field changed without resealing */
        for (int v = 0; v < 2; v++) {
            memcpy(p, f->patch, f->pl);
            memset(p + BSDL_OFF_HEADER_CHECK, v ? 0xff : 0, 4);
            expect("header checksum 0 / all ones", 0, f->old, f->ol, p, f->pl, M(BSP_E_CORRUPT), NULL, 0);
        }
        memcpy(p, f->patch, f->pl);
        p[BSDL_OFF_NEW_SIZE] ^= 1;
        expect("new_size changed, checksum not", 0, f->old, f->ol, p, f->pl, M(BSP_E_CORRUPT), NULL, 0);
        /* sizes at the documented bound 2^62: accepted by the header, then the body is short */
        memcpy(p, f->patch, f->pl);
        bsdl_store_le64(p + BSDL_OFF_NEW_SIZE, BSDL_MAX_FILE_SIZE);
        tenc_reseal(p);
        expect("new_size = 2^62", 0, f->old, f->ol, p, f->pl, M(BSP_E_TRUNCATED), f->nw, f->nl);
        bsdl_store_le64(p + BSDL_OFF_NEW_SIZE, BSDL_MAX_FILE_SIZE + 1);
        tenc_reseal(p);
        expect("new_size = 2^62 + 1", 0, f->old, f->ol, p, f->pl, M(BSP_E_CORRUPT), NULL, 0);
        memcpy(p, f->patch, f->pl);
        bsdl_store_le64(p + BSDL_OFF_OLD_SIZE, BSDL_MAX_FILE_SIZE + 1);
        tenc_reseal(p);
        expect("old_size = 2^62 + 1", 0, f->old, f->ol, p, f->pl, M(BSP_E_CORRUPT), NULL, 0);
        bsdl_store_le64(p + BSDL_OFF_OLD_SIZE, (uint64_t)1 << 63); /* "negative" */
        tenc_reseal(p);
        expect("old_size = 2^63", 0, f->old, f->ol, p, f->pl, M(BSP_E_CORRUPT), NULL, 0);
        bsdl_store_le64(p + BSDL_OFF_OLD_SIZE, f->ol + 1);
        tenc_reseal(p);
        expect("old_size one too big", 0, f->old, f->ol, p, f->pl, M(BSP_E_WRONG_BASE), NULL, 0);
        free(p);
    }
}

static void test_bsdiff40_header_fields(void) {
    for (size_t i = 3; i < 5; i++) {
        fixture *f = &fx[i];
        unsigned char *p = t_alloc(f->pl);
        const char *names[] = {"ctrl_len", "diff_len", "new_size"};
        /* raw values and the result for each field */
        struct { const char *what; uint64_t raw; unsigned want[3]; } vals[] = {
            /* ctrl_len 0: empty control stream; diff_len 0: the first add finds no diff data
             * (both fixtures start with an add); new_size 0: the control block holds data */
            {"0", 0, {M(BSP_E_TRUNCATED), M(BSP_E_TRUNCATED), M(BSP_E_CORRUPT)}},
            {"all ones (negative)", UINT64_MAX, {M(BSP_E_CORRUPT), M(BSP_E_CORRUPT), M(BSP_E_CORRUPT)}},
            {"-1", ((uint64_t)1 << 63) | 1, {M(BSP_E_CORRUPT), M(BSP_E_CORRUPT), M(BSP_E_CORRUPT)}},
            {"negative zero", (uint64_t)1 << 63, {M(BSP_E_CORRUPT), M(BSP_E_CORRUPT), M(BSP_E_CORRUPT)}},
            {"max positive", (uint64_t)INT64_MAX,
             {M(BSP_E_TRUNCATED), M(BSP_E_TRUNCATED), M(BSP_E_CORRUPT)}},
            {"2^62", BSDL_MAX_FILE_SIZE, {M(BSP_E_TRUNCATED), M(BSP_E_TRUNCATED), M(BSP_E_TRUNCATED)}},
            {"2^62 + 1", BSDL_MAX_FILE_SIZE + 1,
             {M(BSP_E_TRUNCATED), M(BSP_E_TRUNCATED), M(BSP_E_CORRUPT)}},
        };
        for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
            for (int fld = 0; fld < 3; fld++) {
                memcpy(p, f->patch, f->pl);
                bsdl_store_le64(p + 8 + 8 * fld, vals[v].raw);
                char what[96];
                snprintf(what, sizeof what, "%s: %s = %s", f->name, names[fld], vals[v].what);
                expect(what, 1, f->old, f->ol, p, f->pl, vals[v].want[fld], f->nw, f->nl);
            }
        }
        memcpy(p, f->patch, f->pl);
        memset(p, 0, 8);
        expect("BSDIFF40 magic = 0", 1, f->old, f->ol, p, f->pl, M(BSP_E_NOT_PATCH), NULL, 0);
        memset(p, 0xff, 8);
        expect("BSDIFF40 magic = ff", 1, f->old, f->ol, p, f->pl, M(BSP_E_NOT_PATCH), NULL, 0);
        free(p);
    }
}

/* ---------------------------------------------------------------- malicious command streams */

/* A BSDELTA patch around a hand-written command stream (compressor none), for old -> nw. */
static void bl_cmds(const char *what, const unsigned char *old, size_t ol, const unsigned char *nw,
                    size_t nl, const tenc_buf *cmds, unsigned allowed) {
    unsigned char *p;
    size_t pl;
    if (tenc_wrap(old, ol, nw, nl, BSDL_COMP_NONE, cmds->data ? cmds->data : (unsigned char *)"",
                  cmds->len, &p, &pl))
        exit(2);
    expect(what, 0, old, ol, p, pl, allowed, nw, nl);
    free(p);
}

/* Appends the control block of a one-command segment; the caller then appends its extra bytes,
 * then its diff bytes. */
static void rec(tenc_buf *b, uint64_t d, uint64_t x, int64_t s) {
    tenc_buf_varint(b, 1);
    tenc_buf_varint(b, d);
    tenc_buf_varint(b, x);
    tenc_buf_varint(b, bsdl_zigzag(s));
}
static void fill(tenc_buf *b, size_t n, unsigned char v) {
    for (size_t i = 0; i < n; i++) tenc_buf_put(b, &v, 1);
}

static void test_bsdelta_commands(void) {
    unsigned char *old = t_gen(T_RANDOM, 100, 200), *old200 = t_gen(T_RANDOM, 200, 201);
    unsigned char *nw = t_alloc(200);
    memset(nw, 0, 200);
    tenc_buf b = {0};
#define CASE(what, ol_buf, ol, nl, allowed, body)                                                  \
    do {                                                                                           \
        b.len = 0;                                                                                 \
        body;                                                                                      \
        bl_cmds(what, ol_buf, ol, nw, nl, &b, allowed);                                            \
    } while (0)
    /* the new file is 100 or 200 zero bytes; adds of diff 0 over random old give old's bytes,
     * so only structure matters here: every case below must fail before the final hash check
     * except the explicit boundary cases. */
    CASE("diff_len past the new end", old200, 200, 100, M(BSP_E_CORRUPT), (rec(&b, 101, 0, 0), fill(&b, 101, 0)));
    CASE("extra_len past the new end", old, 100, 100, M(BSP_E_CORRUPT), (rec(&b, 0, 101, 0), fill(&b, 101, 0)));
    CASE("diff + extra past the new end", old, 100, 100, M(BSP_E_CORRUPT), (rec(&b, 60, 41, 0), fill(&b, 101, 0)));
    CASE("diff + extra overflow", old, 100, 100, M(BSP_E_CORRUPT), rec(&b, 50, INT64_MAX, 0));
    CASE("huge diff_len", old, 100, 100, M(BSP_E_CORRUPT), rec(&b, INT64_MAX, 0, 0));
    CASE("add reads past the old end", old, 100, 200, M(BSP_E_CORRUPT), (rec(&b, 101, 0, 0), fill(&b, 101, 0)));
    CASE("add past old end after seek", old, 100, 200, M(BSP_E_CORRUPT),
         (rec(&b, 10, 0, 80), fill(&b, 10, 0), rec(&b, 11, 0, 0), fill(&b, 11, 0)));
    CASE("seek below 0", old, 100, 100, M(BSP_E_CORRUPT), (rec(&b, 10, 0, -11), fill(&b, 10, 0)));
    CASE("seek past the old end", old, 100, 100, M(BSP_E_CORRUPT), (rec(&b, 10, 0, 91), fill(&b, 10, 0)));
    CASE("seek INT64_MIN", old, 100, 100, M(BSP_E_CORRUPT), (rec(&b, 10, 0, INT64_MIN), fill(&b, 10, 0)));
    CASE("seek INT64_MAX", old, 100, 100, M(BSP_E_CORRUPT), (rec(&b, 10, 0, INT64_MAX), fill(&b, 10, 0)));
    CASE("empty record", old, 100, 100, M(BSP_E_CORRUPT), rec(&b, 0, 0, 0));
    /* segment structure */
    CASE("segment of 0 commands", old, 100, 100, M(BSP_E_CORRUPT), tenc_buf_varint(&b, 0));
    CASE("segment of 4097 commands", old, 100, 100, M(BSP_E_CORRUPT), tenc_buf_varint(&b, BSDL_SEG_MAX_CMDS_V1 + 1));
    CASE("one extra_len above 64 KiB", old, 100, 100, M(BSP_E_CORRUPT), rec(&b, 0, BSDL_SEG_MAX_EXTRA_V1 + 1, 0));
    CASE("segment extras above 64 KiB", old, 100, 100, M(BSP_E_CORRUPT),
         (tenc_buf_varint(&b, 2), tenc_buf_varint(&b, 0), tenc_buf_varint(&b, 0),
          tenc_buf_varint(&b, BSDL_SEG_MAX_EXTRA_V1), tenc_buf_varint(&b, 1), tenc_buf_varint(&b, 0),
          tenc_buf_varint(&b, 0)));
    CASE("second command of a segment past the new end", old, 100, 100, M(BSP_E_CORRUPT),
         (tenc_buf_varint(&b, 2), tenc_buf_varint(&b, 50), tenc_buf_varint(&b, 51),
          tenc_buf_varint(&b, 0), tenc_buf_varint(&b, 0), tenc_buf_varint(&b, 0),
          tenc_buf_varint(&b, 0), fill(&b, 101, 0)));
    CASE("second command of a segment reads past the old end", old, 100, 200, M(BSP_E_CORRUPT),
         (tenc_buf_varint(&b, 2), tenc_buf_varint(&b, 60), tenc_buf_varint(&b, 41),
          tenc_buf_varint(&b, 0), tenc_buf_varint(&b, 0), tenc_buf_varint(&b, 0),
          tenc_buf_varint(&b, 0), fill(&b, 101, 0)));
    CASE("body ends inside a segment's control block", old, 100, 100, M(BSP_E_TRUNCATED),
         (tenc_buf_varint(&b, 3), tenc_buf_varint(&b, 1), tenc_buf_varint(&b, 2)));
    CASE("body ends inside a segment's diff bytes", old, 100, 100, M(BSP_E_TRUNCATED),
         (rec(&b, 100, 0, 0), fill(&b, 50, 0)));
    CASE("empty record with seek", old, 100, 100, M(BSP_E_CORRUPT), rec(&b, 0, 0, 5));
    {   /* 10-byte varint (value >= 2^63) */
        unsigned char v[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
        CASE("10-byte varint", old, 100, 100, M(BSP_E_CORRUPT), tenc_buf_put(&b, v, sizeof v));
        unsigned char w[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
        CASE("11-byte varint", old, 100, 100, M(BSP_E_CORRUPT), tenc_buf_put(&b, w, sizeof w));
        unsigned char nm[] = {0x80, 0x00};
        CASE("non-minimal varint 0", old, 100, 100, M(BSP_E_CORRUPT), tenc_buf_put(&b, nm, sizeof nm));
        unsigned char nm2[] = {0x0a, 0x00, 0x81, 0x00};
        CASE("non-minimal varint in seek", old, 100, 100, M(BSP_E_CORRUPT), tenc_buf_put(&b, nm2, sizeof nm2));
        unsigned char nm3[] = {0xe4, 0x80, 0x00};
        CASE("non-minimal 3-byte varint", old, 100, 100, M(BSP_E_CORRUPT), tenc_buf_put(&b, nm3, sizeof nm3));
    }
    /* boundaries that are valid: seek exactly to the old end, add ending exactly at it */
    {
        unsigned char *want = t_alloc(100);
        b.len = 0;
        rec(&b, 0, 1, 90); /* copy 'y', seek to 90 */
        tenc_buf_put(&b, "y", 1);
        rec(&b, 10, 89, 0); /* add old[90..100), ending exactly at the old end; copy 89 */
        fill(&b, 89, 'x');  /* a segment's extra bytes come before its diff bytes */
        fill(&b, 10, 0);
        want[0] = 'y';
        memcpy(want + 1, old + 90, 10);
        memset(want + 11, 'x', 89);
        bl_cmds("add ending exactly at the old end", old, 100, want, 100, &b, M(BSP_OK));
        b.len = 0;
        rec(&b, 10, 0, 90); /* add old[0..10), seek to 100 = the old end */
        fill(&b, 10, 0);
        rec(&b, 0, 90, -100); /* copy 90, seek back to 0 */
        fill(&b, 90, 'x');
        memcpy(want, old, 10);
        memset(want + 10, 'x', 90);
        bl_cmds("seeks to the old end and back to 0", old, 100, want, 100, &b, M(BSP_OK));
        free(want);
    }
    /* trailing data */
    CASE("a byte after completion", old, 100, 100, M(BSP_E_CORRUPT), (rec(&b, 0, 100, 0), fill(&b, 100, 0), fill(&b, 1, 0)));
    CASE("a record after completion", old, 100, 100, M(BSP_E_CORRUPT),
         (rec(&b, 0, 100, 0), fill(&b, 100, 0), rec(&b, 0, 1, 0), fill(&b, 1, 0)));
    CASE("new_size 0 with a record", old, 100, 0, M(BSP_E_CORRUPT), (rec(&b, 0, 1, 0), fill(&b, 1, 0)));
    CASE("body ends inside a varint", old, 100, 100, M(BSP_E_TRUNCATED), tenc_buf_put(&b, "\x80", 1));
    CASE("body ends inside extra bytes", old, 100, 100, M(BSP_E_TRUNCATED), (rec(&b, 0, 100, 0), fill(&b, 99, 0)));
    CASE("empty body, new not empty", old, 100, 100, M(BSP_E_TRUNCATED), (void)0);
    CASE("empty body, new empty", old, 100, 0, M(BSP_OK), (void)0);
    CASE("right structure, wrong bytes", old, 100, 100, M(BSP_E_RESULT_MISMATCH), (rec(&b, 0, 100, 0), fill(&b, 100, 1)));
#undef CASE

    /* bzip2 body: data after the end of the stream, a damaged stream, no stream at all */
    unsigned char *p, *z;
    size_t pl, zl;
    b.len = 0;
    rec(&b, 0, 100, 0);
    fill(&b, 100, 0);
    tenc_wrap(old, 100, nw, 100, BSDL_COMP_BZIP2, b.data, b.len, &p, &pl);
    expect("bzip2 body valid", 0, old, 100, p, pl, M(BSP_OK), nw, 100);
    unsigned char *q = t_alloc(pl + 200);
    memcpy(q, p, pl);
    q[pl] = 0;
    expect("a byte after the bzip2 stream", 0, old, 100, q, pl + 1, M(BSP_E_CORRUPT), nw, 100);
    tenc_bzip2("", 0, &z, &zl);
    memcpy(q + pl, z, zl);
    expect("a second bzip2 stream", 0, old, 100, q, pl + zl, M(BSP_E_CORRUPT), nw, 100);
    memcpy(q, p, pl);
    for (size_t i = 64 + 10; i < pl - 10; i += 7) q[i] ^= 0x55;
    expect("damaged bzip2 stream", 0, old, 100, q, pl, M(BSP_E_CORRUPT), nw, 100);
    memcpy(q, p, 64);
    memcpy(q + 64, "not bzip2 at all", 16);
    expect("bzip2 body that is not bzip2", 0, old, 100, q, 80, M(BSP_E_CORRUPT), nw, 100);
    expect("bzip2 compressor, no body", 0, old, 100, p, 64, M(BSP_E_TRUNCATED), nw, 100);
    free(p);
    b.len = 0;
    tenc_wrap(old, 100, nw, 0, BSDL_COMP_BZIP2, "", 0, &p, &pl);
    expect("bzip2 empty stream, new empty", 0, old, 100, p, pl, M(BSP_OK), nw, 0);
    expect("bzip2 no stream, new empty", 0, old, 100, p, 64, M(BSP_E_TRUNCATED), nw, 0);
    /* bzip2 of a stream holding a record after completion */
    b.len = 0;
    rec(&b, 0, 1, 0);
    fill(&b, 1, 0);
    free(p);
    tenc_wrap(old, 100, nw, 0, BSDL_COMP_BZIP2, b.data, b.len, &p, &pl);
    expect("bzip2: command data after completion", 0, old, 100, p, pl, M(BSP_E_CORRUPT), nw, 0);
    free(p);
    free(q);
    free(z);
    tenc_buf_free(&b);
    free(old);
    free(old200);
    free(nw);
}

static void bd_case(const char *what, const unsigned char *old, size_t ol, const int64_t *ctrl,
                    size_t ncmd, size_t diff_len, size_t extra_len, int64_t new_size, unsigned allowed,
                    const unsigned char *want) {
    unsigned char *zeros = t_alloc(diff_len + extra_len);
    memset(zeros, 0, diff_len + extra_len);
    unsigned char *p;
    size_t pl;
    if (tenc_bsdiff40_raw(ctrl, ncmd, zeros, diff_len, zeros, extra_len, new_size, &p, &pl)) exit(2);
    expect(what, 1, old, ol, p, pl, allowed, want, new_size > 0 && new_size < 100000 ? (size_t)new_size : 0);
    free(p);
    free(zeros);
}

static void test_bsdiff40_commands(void) {
    unsigned char *old = t_gen(T_RANDOM, 100, 300);
    unsigned char *zeros = t_alloc(3000);
    memset(zeros, 0, 3000);
    const int64_t L = (int64_t)BSDL_MAX_FILE_SIZE;
    {
        int64_t c[] = {-1, 11, 0};
        bd_case("negative diff_len", old, 100, c, 1, 0, 10, 10, M(BSP_E_CORRUPT), NULL);
        int64_t c2[] = {0, -1, 0};
        bd_case("negative extra_len", old, 100, c2, 1, 0, 0, 10, M(BSP_E_CORRUPT), NULL);
        /* CVE-2014-9862: a negative length that makes newpos + len look in range */
        int64_t c3[] = {10, -5, 0, 0, 5, 0};
        bd_case("CVE-2014-9862 negative extra", old, 100, c3, 2, 10, 5, 10, M(BSP_E_CORRUPT), NULL);
        int64_t c4[] = {-INT64_MAX, INT64_MAX, 0};
        bd_case("negative add + huge copy", old, 100, c4, 1, 0, 0, 10, M(BSP_E_CORRUPT), NULL);
        int64_t c5[] = {INT64_MIN, 0, 0}; /* negative zero */
        bd_case("negative zero diff_len", old, 100, c5, 1, 0, 0, 10, M(BSP_E_CORRUPT), NULL);
        int64_t c6[] = {0, 10, INT64_MIN};
        bd_case("negative zero seek", old, 100, c6, 1, 0, 10, 10, M(BSP_E_CORRUPT), NULL);
    }
    {   /* adds outside the old file */
        int64_t c[] = {0, 10, -5, 10, 0, 0};
        bd_case("add at oldpos -5 (lower bound)", old, 100, c, 2, 10, 10, 20, M(BSP_E_CORRUPT), NULL);
        int64_t c1[] = {0, 10, -1, 1, 0, 0};
        bd_case("add at oldpos -1", old, 100, c1, 2, 1, 10, 11, M(BSP_E_CORRUPT), NULL);
        int64_t c2[] = {101, 0, 0};
        bd_case("add past the old end", old, 100, c2, 1, 101, 0, 101, M(BSP_E_CORRUPT), NULL);
        int64_t c3[] = {0, 1, 95, 6, 0, 0};
        bd_case("add from 95 past the old end", old, 100, c3, 2, 6, 1, 7, M(BSP_E_CORRUPT), NULL);
        int64_t c4[] = {0, 1, 200, 1, 0, 0};
        bd_case("add from far past the old end", old, 100, c4, 2, 1, 1, 2, M(BSP_E_CORRUPT), NULL);
        /* an add that ends exactly at the old end is fine; zeros added give old's bytes */
        int64_t c5[] = {0, 1, 95, 5, 0, 0};
        unsigned char want[6] = {0, old[95], old[96], old[97], old[98], old[99]};
        bd_case("add ending at the old end", old, 100, c5, 2, 5, 1, 6, M(BSP_OK), want);
        /* a negative oldpos is fine while nothing is added from it */
        int64_t c6[] = {0, 1, -50, 0, 1, 50, 1, 0, 0};
        unsigned char want2[3] = {0, 0, old[0]};
        bd_case("negative oldpos without an add", old, 100, c6, 3, 1, 2, 3, M(BSP_OK), want2);
    }
    {   /* seeks out of range */
        int64_t c[] = {0, 1, L, 0, 1, 1};
        bd_case("seek past 2^62", old, 100, c, 2, 0, 2, 2, M(BSP_E_CORRUPT), NULL);
        int64_t c1[] = {0, 1, -L, 0, 1, -1};
        bd_case("seek below -2^62", old, 100, c1, 2, 0, 2, 2, M(BSP_E_CORRUPT), NULL);
        int64_t c2[] = {0, 1, INT64_MAX};
        bd_case("seek INT64_MAX", old, 100, c2, 1, 0, 1, 2, M(BSP_E_CORRUPT), NULL);
        int64_t c3[] = {0, 1, -INT64_MAX};
        bd_case("seek -INT64_MAX", old, 100, c3, 1, 0, 1, 2, M(BSP_E_CORRUPT), NULL);
    }
    {   /* lengths past the new end */
        int64_t c[] = {11, 0, 0};
        bd_case("diff past the new end", old, 100, c, 1, 11, 0, 10, M(BSP_E_CORRUPT), NULL);
        int64_t c1[] = {0, 11, 0};
        bd_case("extra past the new end", old, 100, c1, 1, 0, 11, 10, M(BSP_E_CORRUPT), NULL);
        int64_t c2[] = {5, 6, 0};
        bd_case("diff + extra past the new end", old, 100, c2, 1, 5, 6, 10, M(BSP_E_CORRUPT), NULL);
        int64_t c3[] = {5, INT64_MAX, 0};
        bd_case("diff + huge extra", old, 100, c3, 1, 5, 0, 10, M(BSP_E_CORRUPT), NULL);
    }
    {   /* idle commands: 1024 in a row are tolerated, 1025 are not */
        int64_t *c = t_alloc(sizeof(int64_t) * 3 * 1026);
        for (int i = 0; i < 1025; i++) c[3 * i] = 0, c[3 * i + 1] = 0, c[3 * i + 2] = (i % 2) ? 1 : -1;
        c[3 * 1024] = 0, c[3 * 1024 + 1] = 10, c[3 * 1024 + 2] = 0;
        bd_case("1024 idle commands then a copy", old, 100, c, 1025, 0, 10, 10, M(BSP_OK), zeros);
        for (int i = 0; i < 1026; i++) c[3 * i] = 0, c[3 * i + 1] = 0, c[3 * i + 2] = 0;
        c[3 * 1025 + 1] = 10;
        bd_case("1025 idle commands", old, 100, c, 1026, 0, 10, 10, M(BSP_E_CORRUPT), NULL);
        free(c);
    }
    {   /* blocks with too much or too little */
        int64_t c[] = {0, 10, 0, 0, 10, 0};
        bd_case("control holds a command after completion", old, 100, c, 2, 0, 20, 10, M(BSP_E_CORRUPT), NULL);
        int64_t c1[] = {0, 10, 0};
        bd_case("diff block holds unused data", old, 100, c1, 1, 5, 10, 10, M(BSP_E_CORRUPT), NULL);
        bd_case("extra block holds unused data", old, 100, c1, 1, 0, 11, 10, M(BSP_E_CORRUPT), NULL);
        bd_case("control ends before new is complete", old, 100, c1, 1, 0, 10, 20, M(BSP_E_TRUNCATED), NULL);
        bd_case("extra block too short", old, 100, c1, 1, 0, 9, 10, M(BSP_E_TRUNCATED), NULL);
        int64_t c2[] = {10, 0, 0};
        bd_case("diff block too short", old, 100, c2, 1, 9, 0, 10, M(BSP_E_TRUNCATED), NULL);
        bd_case("no commands, new empty", old, 100, c2, 0, 0, 0, 0, M(BSP_OK), zeros);
        bd_case("no commands, new not empty", old, 100, c2, 0, 0, 0, 10, M(BSP_E_TRUNCATED), NULL);
        /* control block length not a multiple of 24 */
        unsigned char *p;
        size_t pl;
        tenc_bsdiff40_raw(c1, 1, "", 0, zeros, 10, 10, &p, &pl);
        expect("well-formed copy", 1, old, 100, p, pl, M(BSP_OK), zeros, 10);
        unsigned char *q = t_alloc(pl + 100);
        memcpy(q, p, pl);
        q[pl] = 0x42;
        expect("a byte after the extra stream", 1, old, 100, q, pl + 1, M(BSP_E_CORRUPT), zeros, 10);
        /* move the end of the control block one byte into the diff block */
        int64_t cl = 0;
        CHECK(bsdf40_decode_off(q + 8, &cl) == 0, "control length");
        bsdf40_encode_off(q + 8, cl + 1);
        expect("control block one byte too long", 1, old, 100, q, pl, BL_CORRUPTISH, zeros, 10);
        bsdf40_encode_off(q + 8, cl - 1);
        expect("control block one byte too short", 1, old, 100, q, pl, BL_CORRUPTISH, zeros, 10);
        free(p);
        free(q);
        /* a control stream whose 24-byte words are cut: 25 bytes of control data */
        unsigned char ctl[25] = {0}, *zc;
        size_t zcl;
        ctl[8] = 10;
        tenc_bzip2(ctl, sizeof ctl, &zc, &zcl);
        unsigned char *zd, *zx;
        size_t zdl, zxl;
        tenc_bzip2("", 0, &zd, &zdl);
        tenc_bzip2(zeros, 10, &zx, &zxl);
        q = t_alloc(32 + zcl + zdl + zxl);
        memcpy(q, BSDF40_MAGIC, 8);
        bsdf40_encode_off(q + 8, (int64_t)zcl);
        bsdf40_encode_off(q + 16, (int64_t)zdl);
        bsdf40_encode_off(q + 24, 10);
        memcpy(q + 32, zc, zcl);
        memcpy(q + 32 + zcl, zd, zdl);
        memcpy(q + 32 + zcl + zdl, zx, zxl);
        expect("control block with a partial command", 1, old, 100, q, 32 + zcl + zdl + zxl,
               M(BSP_E_CORRUPT), zeros, 10);
        free(q);
        free(zc);
        free(zd);
        free(zx);
    }
    free(old);
    free(zeros);
}

/* ---------------------------------------------------------------- wrong base, I/O, limits */

static void test_wrong_base(void) {
    for (size_t i = 0; i < 2; i++) {
        fixture *f = &fx[i];
        unsigned char *o2 = t_alloc(f->ol + 1);
        memcpy(o2, f->old, f->ol);
        o2[f->ol / 2] ^= 1;
        o2[f->ol] = 'z';
        char want[33], got[33];
        unsigned char h[16];
        bsp_hash_hex(f->patch + BSDL_OFF_OLD_HASH, want);
        size_t sizes[] = {f->ol, f->ol + 1, f->ol - 1, 0};
        for (int k = 0; k < 4; k++) {
            tenc_hash(o2, sizes[k], h);
            bsp_hash_hex(h, got);
            char what[96];
            snprintf(what, sizeof what, "%s on an old file of %zu bytes (patch made from %zu)",
                     f->name, sizes[k], f->ol);
            /* expect() checks, for both APIs, that nothing was written */
            expect(what, 0, o2, sizes[k], f->patch, f->pl, M(BSP_E_WRONG_BASE), NULL, 0);
            const char *d = bsp_detail(g_ctx);
            CHECK(strstr(d, want) && strstr(d, got), "%s: detail names both hashes (%s, %s): %s",
                  what, want, got, d);
        }
        free(o2);
    }
    /* BSDIFF40 has no hashes: a shorter old file fails when an add reads past its end; an old
     * file of the right length with other content gives another new file, without error. */
    for (size_t i = 3; i < 5; i++) {
        fixture *f = &fx[i];
        expect("BSDIFF40 on a shorter old file", 1, f->old, f->ol - 100, f->patch, f->pl,
               M(BSP_E_CORRUPT), NULL, 0);
        expect("BSDIFF40 on an empty old file", 1, f->old, 0, f->patch, f->pl, M(BSP_E_CORRUPT), NULL, 0);
        unsigned char *o2 = t_alloc(f->ol);
        memcpy(o2, f->old, f->ol);
        o2[0] ^= 1;
        tsink s = {t_alloc(f->nl), f->nl, 0, SIZE_MAX, 0};
        bsp_error e = apply(VIA_BSDIFF40, o2, f->ol, f->patch, f->pl, &s);
        CHECK(e == BSP_OK && s.len == f->nl && memcmp(s.buf, f->nw, f->nl) != 0,
              "BSDIFF40 on a same-size different old file: OK with a different result (documented)");
        free(s.buf);
        free(o2);
    }
}

typedef struct failsrc {
    const unsigned char *data;
    size_t size;
    int calls, fail_at; /* the fail_at-th call (1-based) fails */
} failsrc;

static int failsrc_read(void *opaque, uint64_t off, void *buf, size_t len) {
    failsrc *f = opaque;
    if (++f->calls == f->fail_at) return -1;
    if (off > f->size || len > f->size - off) return -1;
    memcpy(buf, f->data + off, len);
    return 0;
}

static int fail_reader(void *opaque, void *buf, size_t cap, size_t *got) {
    int *left = opaque;
    if ((*left)-- <= 0) return -1;
    *got = cap < 10 ? cap : 10;
    memset(buf, 'B', *got); /* garbage, but the failure comes first when left == 0 */
    return 0;
}

static void test_io_failures(void) {
    /* a big file so outputs go through several 64 KiB buffers */
    unsigned char *old = t_gen(T_TEXT, 300000, 400);
    size_t nl;
    unsigned char *nw = t_edit(old, 300000, 401, &nl);
    unsigned char *pbl, *pbd;
    size_t pbll, pbdl;
    tenc_encode(old, 300000, nw, nl, BSDL_COMP_BZIP2, 9, &pbl, &pbll);
    tenc_bsdiff40(old, 300000, nw, nl, 9, &pbd, &pbdl);
    unsigned char *out = t_alloc(nl);
    for (int fmt = 0; fmt < 2; fmt++) {
        const unsigned char *p = fmt ? pbd : pbl;
        size_t pl = fmt ? pbdl : pbll;
        enum how how = fmt ? VIA_BSDIFF40 : VIA_APPLY;
        /* sink failing at various points */
        size_t fails[] = {0, 1, 65536, 65537, nl - 1};
        for (int k = 0; k < 5; k++) {
            tsink s = {out, nl, 0, fails[k], 0};
            bsp_error e = apply(how, old, 300000, p, pl, &s);
            CHECK(e == BSP_E_WRITE, "fmt %d: sink failing after %zu bytes: %s", fmt, fails[k], bsp_strerror(e));
        }
        /* old-file reads failing at the 1st, 2nd, ... call (BSDELTA hashes the old file first) */
        for (int at = 1; at <= 8; at++) {
            failsrc fs = {old, 300000, 0, at};
            bsp_source osrc = {&fs, 300000, failsrc_read};
            bsp_memsource pm;
            bsp_source psrc;
            bsp_source_from_memory(&psrc, &pm, p, pl);
            tsink s = {out, nl, 0, SIZE_MAX, 0};
            bsp_sink sink = {&s, tsink_write};
            bsp_error e = fmt ? bsp_apply_bsdiff40(g_ctx, &osrc, &psrc, &sink)
                              : bsp_apply(g_ctx, &osrc, &psrc, &sink);
            CHECK(e == BSP_E_READ_OLD, "fmt %d: old read %d failing: %s", fmt, at, bsp_strerror(e));
            if (fmt == 0 && at <= 5) /* 300000 bytes hashed in 5 reads: nothing written yet */
                CHECK(s.len == 0, "old read failing while hashing: %zu bytes written", s.len);
        }
        /* patch reads failing */
        /* bsp_apply: 1 magic probe, then 64 KiB reads; BSDIFF40: header, then 16 KiB reads */
        int reads = fmt ? 4 : 1 + (int)((pl + 65535) / 65536);
        for (int at = 1; at <= reads && at <= 4; at++) {
            failsrc fs = {p, pl, 0, at};
            bsp_source psrc = {&fs, pl, failsrc_read};
            bsp_memsource om;
            bsp_source osrc;
            bsp_source_from_memory(&osrc, &om, old, 300000);
            tsink s = {out, nl, 0, SIZE_MAX, 0};
            bsp_sink sink = {&s, tsink_write};
            bsp_error e = fmt ? bsp_apply_bsdiff40(g_ctx, &osrc, &psrc, &sink)
                              : bsp_apply(g_ctx, &osrc, &psrc, &sink);
            CHECK(e == BSP_E_READ_PATCH, "fmt %d: patch read %d failing: %s", fmt, at, bsp_strerror(e));
        }
    }
    for (int left = 0; left < 3; left++) {
        bsp_reader rd = {&left, fail_reader};
        bsp_memsource om;
        bsp_source osrc;
        bsp_source_from_memory(&osrc, &om, old, 300000);
        tsink s = {out, nl, 0, SIZE_MAX, 0};
        bsp_sink sink = {&s, tsink_write};
        int l = left;
        rd.opaque = &l;
        bsp_error e = bsp_apply_stream(g_ctx, &osrc, &rd, &sink);
        CHECK(e == (left == 0 ? BSP_E_READ_PATCH : BSP_E_NOT_PATCH),
              "reader failing after %d reads: %s", left, bsp_strerror(e));
    }
    /* a real disk-full device: unbuffered, so the write error reaches the sink at once */
    FILE *full = fopen("/dev/full", "wb");
    if (full) {
        for (int fmt = 0; fmt < 2; fmt++) {
            setvbuf(full, NULL, _IONBF, 0);
            bsp_sink sink;
            bsp_sink_to_file(&sink, full);
            bsp_memsource om, pm;
            bsp_source osrc, psrc;
            bsp_source_from_memory(&osrc, &om, old, 300000);
            bsp_source_from_memory(&psrc, &pm, fmt ? pbd : pbl, fmt ? pbdl : pbll);
            bsp_error e = bsp_apply(g_ctx, &osrc, &psrc, &sink);
            CHECK(e == BSP_E_WRITE, "fmt %d to /dev/full: %s", fmt, bsp_strerror(e));
            clearerr(full);
        }
        fclose(full);
    } else {
        printf("note: /dev/full is not available; the disk-full case is skipped\n");
    }
    /* new-size limit: refused before any output */
    for (int fmt = 0; fmt < 2; fmt++) {
        const unsigned char *p = fmt ? pbd : pbl;
        size_t pl = fmt ? pbdl : pbll;
        uint64_t lims[] = {0, nl - 1, nl, nl + 1};
        for (int k = 0; k < 4; k++) {
            bsp_set_max_new_size(g_ctx, lims[k]);
            char what[64];
            snprintf(what, sizeof what, "fmt %d with max new size %llu (new %zu)", fmt,
                     (unsigned long long)lims[k], nl);
            expect(what, fmt, old, 300000, p, pl, lims[k] < nl ? M(BSP_E_LIMIT) : M(BSP_OK), nw, nl);
        }
        bsp_set_max_new_size(g_ctx, UINT64_MAX); /* clamps to 2^62 */
    }
    free(out);
    free(pbl);
    free(pbd);
    free(old);
    free(nw);
}

/* Version 2 diff pieces (docs/FORMAT.md): lengths checked against the segment's diff bytes,
 * runs that span commands and the extra bytes between them, and every way a piece ends early. */
static void test_bsdelta_v2_pieces(void) {
    unsigned char *old = t_gen(T_RANDOM, 100, 300);
    unsigned char *zero = t_alloc(200);
    memset(zero, 0, 200);
    unsigned char want[12];
    tenc_buf b = {0};
    tenc_version = 2;
#define V2CASE(what, nwbuf, nl, allowed, body)                                                     \
    do {                                                                                           \
        b.len = 0;                                                                                 \
        body;                                                                                      \
        bl_cmds(what, old, 100, nwbuf, nl, &b, allowed);                                           \
    } while (0)
#define PIECE(lit, zeros) (tenc_buf_varint(&b, lit), fill(&b, lit, 0), tenc_buf_varint(&b, zeros))
    V2CASE("v2 literal longer than the segment's diff bytes", zero, 100, M(BSP_E_CORRUPT),
           (rec(&b, 10, 0, 0), PIECE(11, 0)));
    V2CASE("v2 zero run longer than the segment's diff bytes", zero, 100, M(BSP_E_CORRUPT),
           (rec(&b, 10, 0, 0), PIECE(4, 7)));
    V2CASE("v2 zero run of 2^63-1", zero, 100, M(BSP_E_CORRUPT),
           (rec(&b, 10, 0, 0), PIECE(0, INT64_MAX)));
    V2CASE("v2 empty piece", zero, 100, M(BSP_E_CORRUPT), (rec(&b, 10, 0, 0), PIECE(0, 0)));
    V2CASE("v2 segment of 65537 commands", zero, 100, M(BSP_E_CORRUPT),
           tenc_buf_varint(&b, BSDL_SEG_MAX_CMDS + 1));
    V2CASE("v2 one extra_len above 1 MiB", zero, 100, M(BSP_E_CORRUPT),
           rec(&b, 0, BSDL_SEG_MAX_EXTRA + 1, 0));
    V2CASE("v2 segment extras above 1 MiB", zero, 100, M(BSP_E_CORRUPT),
           (tenc_buf_varint(&b, 2), tenc_buf_varint(&b, 0), tenc_buf_varint(&b, 0),
            tenc_buf_varint(&b, BSDL_SEG_MAX_EXTRA), tenc_buf_varint(&b, 1), tenc_buf_varint(&b, 0),
            tenc_buf_varint(&b, 0)));
    V2CASE("v2 accepts 4097 commands (then the body ends)", zero, 100, M(BSP_E_TRUNCATED),
           tenc_buf_varint(&b, BSDL_SEG_MAX_CMDS_V1 + 1));
    V2CASE("v2 body ends after a literal length", zero, 100, M(BSP_E_TRUNCATED),
           (rec(&b, 10, 0, 0), tenc_buf_varint(&b, 5)));
    V2CASE("v2 body ends inside the literal", zero, 100, M(BSP_E_TRUNCATED),
           (rec(&b, 10, 0, 0), tenc_buf_varint(&b, 5), fill(&b, 3, 0)));
    V2CASE("v2 body ends before the zero run length", zero, 100, M(BSP_E_TRUNCATED),
           (rec(&b, 10, 0, 0), tenc_buf_varint(&b, 5), fill(&b, 5, 0)));
    V2CASE("v2 pieces stop before the segment's diff bytes", zero, 100, M(BSP_E_TRUNCATED),
           (rec(&b, 10, 0, 0), PIECE(5, 0)));
    V2CASE("v2 byte after the last piece", zero, 100, M(BSP_E_CORRUPT),
           (rec(&b, 100, 0, 0), PIECE(0, 100), fill(&b, 1, 0)));
    V2CASE("v2 piece where the segment has no diff bytes", zero, 3, M(BSP_E_CORRUPT),
           (rec(&b, 0, 3, 0), fill(&b, 3, 0), PIECE(0, 1)));
    /* valid: one zero run across two commands and the extra bytes between them */
    memcpy(want, old, 3);
    want[3] = 0xAA;
    want[4] = 0xBB;
    memcpy(want + 5, old + 3, 7);
    b.len = 0;
    tenc_buf_varint(&b, 2);
    tenc_buf_varint(&b, 3), tenc_buf_varint(&b, 7);  /* diff lengths */
    tenc_buf_varint(&b, 2), tenc_buf_varint(&b, 0);  /* extra lengths */
    tenc_buf_varint(&b, 0), tenc_buf_varint(&b, 0);  /* seeks */
    fill(&b, 1, 0xAA), fill(&b, 1, 0xBB);             /* extra bytes */
    PIECE(0, 10);
    bl_cmds("v2 zero run across commands and their extra bytes", old, 100, want, 12, &b, M(BSP_OK));
    /* valid: literal, zero run, literal spread unevenly over three commands */
    b.len = 0;
    tenc_buf_varint(&b, 3);
    tenc_buf_varint(&b, 2), tenc_buf_varint(&b, 5), tenc_buf_varint(&b, 5);
    tenc_buf_varint(&b, 0), tenc_buf_varint(&b, 0), tenc_buf_varint(&b, 0);
    tenc_buf_varint(&b, 0), tenc_buf_varint(&b, 0), tenc_buf_varint(&b, 0);
    for (int i = 0; i < 12; i++) want[i] = old[i];
    want[0] += 1, want[1] += 2, want[10] += 3, want[11] += 4;
    tenc_buf_varint(&b, 2), fill(&b, 1, 1), fill(&b, 1, 2), tenc_buf_varint(&b, 8);
    tenc_buf_varint(&b, 2), fill(&b, 1, 3), fill(&b, 1, 4), tenc_buf_varint(&b, 0);
    bl_cmds("v2 literal, run, literal over three commands", old, 100, want, 12, &b, M(BSP_OK));
#undef PIECE
#undef V2CASE
    tenc_version = 1;
    tenc_buf_free(&b);
    free(old);
    free(zero);
}

/* zstd bodies: a frame whose window exceeds the format's 2 MiB is refused before its window is
 * allocated; anything after the one frame is corrupt. The frames are written by hand (RFC 8878:
 * magic, header with a window descriptor, one raw block) around a valid command stream, so the
 * same frame with a small window must apply. */
/* fcs: 0 = no content size field; 1 = a 4-byte content size of n after the window
 * descriptor; 2 = single-segment with a 4-byte content size of fcs_value (no descriptor). */
static void zstd_frame_ex(tenc_buf *b, unsigned char window_desc, int fcs, uint32_t fcs_value,
                          const unsigned char *body, size_t n) {
    static const unsigned char magic[4] = {0x28, 0xB5, 0x2F, 0xFD};
    unsigned char fhd = fcs == 0 ? 0x00 : fcs == 1 ? 0x80 : 0xA0; /* no checksum, no dict */
    uint32_t v = fcs == 1 ? (uint32_t)n : fcs_value;
    unsigned char f4[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24)};
    uint32_t blk = 1u | (uint32_t)n << 3; /* last block, raw, n bytes */
    unsigned char bh[3] = {(unsigned char)blk, (unsigned char)(blk >> 8), (unsigned char)(blk >> 16)};
    tenc_buf_put(b, magic, 4);
    tenc_buf_put(b, &fhd, 1);
    if (fcs != 2) tenc_buf_put(b, &window_desc, 1);
    if (fcs) tenc_buf_put(b, f4, 4);
    tenc_buf_put(b, bh, 3);
    tenc_buf_put(b, body, n);
}

static void zstd_frame(tenc_buf *b, unsigned char window_desc, const unsigned char *body, size_t n) {
    zstd_frame_ex(b, window_desc, 0, 0, body, n);
}

static void test_zstd_limits(void) {
    tenc_version = 2;
    unsigned char *old = t_gen(T_TEXT, 3000, 400);
    size_t nl;
    unsigned char *nw = t_edit(old, 3000, 401, &nl);
    unsigned char *raw;
    size_t rawl;
    if (tenc_encode(old, 3000, nw, nl, BSDL_COMP_NONE, 11, &raw, &rawl)) exit(2);
    const unsigned char *body = raw + BSDL_HEADER_LEN;
    size_t bodyl = rawl - BSDL_HEADER_LEN;
    struct { const char *what; unsigned char wd; int extra; unsigned allowed; } cases[] = {
        {"zstd frame, 1 MiB window", 10 << 3, 0, M(BSP_OK)},
        {"zstd frame, 2 MiB window", 11 << 3, 0, M(BSP_OK)},
        {"zstd frame, 2.25 MiB window", 11 << 3 | 1, 0, M(BSP_E_UNSUPPORTED)},
        {"zstd frame, 128 MiB window", 17 << 3, 0, M(BSP_E_UNSUPPORTED)},
        {"zstd frame, then a byte", 10 << 3, 1, M(BSP_E_CORRUPT)},
        {"zstd frame, then a second frame", 10 << 3, 2, M(BSP_E_CORRUPT)},
        /* with a content size the decoder alone would take the frame in one pass when it fits
         * the output, whatever its window: the refusal must not depend on how bytes arrive */
        {"zstd frame with content size, 64 MiB window", 16 << 3, 3, M(BSP_E_UNSUPPORTED)},
        {"zstd frame with content size, 1 MiB window", 10 << 3, 3, M(BSP_OK)},
        {"zstd single-segment frame of 3 MiB", 0, 4, M(BSP_E_UNSUPPORTED)},
        {"zstd single-segment frame of its true size", 0, 5, M(BSP_OK)},
        {"a bzip2 stream under compressor zstd", 0, 6, M(BSP_E_CORRUPT)},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tenc_buf p = {0};
        tenc_buf_put(&p, raw, BSDL_HEADER_LEN);
        p.data[BSDL_OFF_COMPRESSOR] = BSDL_COMP_ZSTD;
        tenc_reseal(p.data);
        if (cases[i].extra == 3) zstd_frame_ex(&p, cases[i].wd, 1, 0, body, bodyl);
        else if (cases[i].extra == 4) zstd_frame_ex(&p, 0, 2, 3u << 20, body, bodyl);
        else if (cases[i].extra == 5) zstd_frame_ex(&p, 0, 2, (uint32_t)bodyl, body, bodyl);
        else if (cases[i].extra == 6) tenc_buf_put(&p, "BZh91AY&SY", 10);
        else zstd_frame(&p, cases[i].wd, body, bodyl);
        if (cases[i].extra == 1) tenc_buf_put(&p, "", 1);
        if (cases[i].extra == 2) zstd_frame(&p, 10 << 3, body, 0);
        expect(cases[i].what, 0, old, 3000, p.data, p.len, cases[i].allowed, nw, nl);
        tenc_buf_free(&p);
    }
    tenc_version = 1;
    free(raw);
    free(old);
    free(nw);
}

int main(void) {
    g_ctx = bsp_create();
    if (!g_ctx) return 2;
    make_fixtures();
    test_truncation();
    test_bitflips();
    test_bsdelta_header_fields();
    test_bsdiff40_header_fields();
    test_bsdelta_commands();
    test_bsdelta_v2_pieces();
    test_zstd_limits();
    test_bsdiff40_commands();
    test_wrong_base();
    test_io_failures();
    bsp_free(g_ctx);
    free(fx[0].old);
    free(fx[0].nw);
    for (size_t i = 0; i < nfx; i++) free(fx[i].patch);
    return t_done("test_bspatch_hostile");
}
