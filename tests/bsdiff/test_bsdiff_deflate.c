/* test_bsdiff_deflate.c - deflate-aware patches (bsd_options.deflate) from the fixture pairs of
 * tests/bspatch/deflate/ (a tar.gz, a zip, two unrelated gzip files): the header flag, exact
 * application through every bspatch API with a scratch store, the same bytes for every thread
 * count, the size won on the tar.gz, the plain patches of --deflate off and BSDIFF40; then the
 * patcher against missing or failing scratch stores, the wrong old file, a damaged deflate
 * section, a damaged header and truncation at every byte.
 * usage: test_bsdiff_deflate FIXTURE_DIR */
#include <xxhash.h>

#include "bsdelta_format.h"
#include "bsdiff.h"
#include "bspatch.h"

#include "t_check.h"
#include "t_deflate_fixtures.h"

static dfx_set fx;

#define M(e) (1u << (e))

/* ---------------------------------------------------------------- making and applying */

static unsigned char *diff(const dfx_file *old, const dfx_file *nw, bsd_format fmt,
                           bsd_compressor comp, bsd_deflate_mode mode, unsigned threads,
                           size_t *len, bsd_stats *st) {
    bsd_ctx *c = bsd_create();
    bsd_options o;
    bsd_options_init(&o);
    CHECK(o.deflate == BSD_DEFLATE_AUTO, "the default deflate mode is not auto");
    o.format = fmt;
    o.compressor = comp;
    o.deflate = mode;
    o.threads = threads;
    unsigned char *p = NULL;
    bsd_error e = bsd_set_options(c, &o);
    if (!e) e = bsd_diff_buffers(c, old->data, old->len, nw->data, nw->len, &p, len);
    CHECK(e == BSD_OK, "diff %s -> %s: %s (%s)", old->name, nw->name, bsd_strerror(e),
          bsd_detail(c));
    if (st) bsd_get_stats(c, st);
    bsd_free(c);
    return p;
}

static unsigned char *diff_auto(const dfx_link *p, size_t *len) {
    return diff(p->old, p->nw, BSD_FORMAT_BSDELTA, BSD_COMP_BZIP2, BSD_DEFLATE_AUTO, 2, len, NULL);
}

/* A scratch store in memory that can be told to fail. */
typedef struct tscratch {
    bsp_memscratch m;
    bsp_scratch inner;
    int fail_reset, fail_read;
    size_t fail_write_at; /* a write taking the store past this many bytes fails */
    unsigned long resets, writes, reads;
} tscratch;

static int ts_reset(void *o) {
    tscratch *s = o;
    s->resets++;
    return s->fail_reset ? -1 : s->inner.reset(s->inner.opaque);
}
static int ts_write(void *o, const void *b, size_t n) {
    tscratch *s = o;
    s->writes++;
    if (n > s->fail_write_at - (s->m.len < s->fail_write_at ? s->m.len : s->fail_write_at))
        return -1;
    return s->inner.write(s->inner.opaque, b, n);
}
static int ts_read(void *o, uint64_t off, void *b, size_t n) {
    tscratch *s = o;
    s->reads++;
    return s->fail_read ? -1 : s->inner.read_at(s->inner.opaque, off, b, n);
}

static void ts_init(tscratch *s, bsp_scratch *api, size_t max) {
    memset(s, 0, sizeof *s);
    bsp_scratch_in_memory(&s->inner, &s->m, max);
    s->fail_write_at = SIZE_MAX;
    api->opaque = s;
    api->reset = ts_reset;
    api->write = ts_write;
    api->read_at = ts_read;
}

static bsp_ctx *g_ctx;
static tscratch g_ts;

/* Applies with a fresh working scratch store on g_ctx. */
static bsp_error apply(const unsigned char *patch, size_t plen, const dfx_file *old, t_via how,
                       size_t chunk, t_gsink *out) {
    bsp_scratch api;
    bsp_memscratch_release(&g_ts.m);
    ts_init(&g_ts, &api, 0);
    bsp_set_scratch(g_ctx, &api);
    bsp_error e = t_dfx_apply(g_ctx, patch, plen, old->data, old->len, how, chunk, out);
    if (e != BSP_OK)
        CHECK(bsp_detail(g_ctx)[0] != '\0', "an error (%s) without a detail", bsp_strerror(e));
    return e;
}

static int is_new(const dfx_file *nw, const t_gsink *out) {
    return out->len == nw->len && memcmp(out->p, nw->data, nw->len) == 0;
}

/* ---------------------------------------------------------------- good patches */

static void pair_tests(const dfx_link *p) {
    t_gsink out = {0};
    size_t len = 0, l1 = 0, l4 = 0, loff = 0, l40 = 0;
    bsd_stats st;
    unsigned char *pa =
        diff(p->old, p->nw, BSD_FORMAT_BSDELTA, BSD_COMP_BZIP2, BSD_DEFLATE_AUTO, 2, &len, &st);
    if (!pa) return;
    bsp_header h;
    CHECK(bsp_parse_header(pa, len, &h) == BSP_OK && h.version == 2 &&
              h.flags == BSDL_FLAG_DEFLATE && h.old_size == p->old->len && h.new_size == p->nw->len,
          "%s: header of the deflate-aware patch (flags %u)", p->name, h.flags);
    CHECK(pa[BSDL_OFF_FLAGS] == 1, "%s: byte 57 is %u", p->name, pa[BSDL_OFF_FLAGS]);
    CHECK(st.deflate_old_streams == p->old->nwant && st.deflate_new_streams == p->nw->nwant &&
              st.deflate_old_expanded > p->old->len && st.deflate_new_expanded > p->nw->len,
          "%s: stats: %llu + %llu streams, %llu + %llu expanded", p->name,
          (unsigned long long)st.deflate_old_streams, (unsigned long long)st.deflate_new_streams,
          (unsigned long long)st.deflate_old_expanded, (unsigned long long)st.deflate_new_expanded);
    CHECK(st.patch_size == len && st.old_size == p->old->len && st.new_size == p->nw->len,
          "%s: the stats' sizes are not the files'", p->name);
    static const size_t chunks[] = {0, 1, 7, 4096};
    for (int how = T_VIA_APPLY; how <= T_VIA_PUSH; how++)
        for (size_t k = 0; k < 4; k++) {
            if (how == T_VIA_APPLY && k) continue;
            bsp_error e = apply(pa, len, p->old, (t_via)how, chunks[k], &out);
            CHECK(e == BSP_OK && is_new(p->nw, &out), "%s: api %d, pieces of %zu: %s (%s)", p->name,
                  how, chunks[k], bsp_strerror(e), bsp_detail(g_ctx));
        }
    CHECK(g_ts.resets == 1 && g_ts.m.len == st.deflate_old_expanded,
          "%s: the scratch store holds %zu bytes after %lu resets", p->name, g_ts.m.len,
          g_ts.resets);

    /* every thread count, the same bytes */
    unsigned char *p1 =
        diff(p->old, p->nw, BSD_FORMAT_BSDELTA, BSD_COMP_BZIP2, BSD_DEFLATE_AUTO, 1, &l1, NULL);
    unsigned char *p4 =
        diff(p->old, p->nw, BSD_FORMAT_BSDELTA, BSD_COMP_BZIP2, BSD_DEFLATE_AUTO, 4, &l4, NULL);
    CHECK(p1 && p4 && l1 == len && l4 == len && !memcmp(p1, pa, len) && !memcmp(p4, pa, len),
          "%s: 1, 2 and 4 threads give %zu, %zu and %zu bytes (or other bytes)", p->name, l1, len,
          l4);
    bsd_buffer_free(p1);
    bsd_buffer_free(p4);

    /* the other compressors keep the flag */
    static const bsd_compressor comps[] = {BSD_COMP_NONE, BSD_COMP_ZSTD};
    for (size_t i = 0; i < 2; i++) {
        size_t lc = 0;
        unsigned char *pc =
            diff(p->old, p->nw, BSD_FORMAT_BSDELTA, comps[i], BSD_DEFLATE_AUTO, 2, &lc, NULL);
        bsp_error e = pc ? apply(pc, lc, p->old, T_VIA_PUSH, 4096, &out) : BSP_E_MISUSE;
        CHECK(pc && pc[BSDL_OFF_FLAGS] == 1 && pc[BSDL_OFF_COMPRESSOR] == comps[i] && e == BSP_OK &&
                  is_new(p->nw, &out),
              "%s: compressor %d: %s", p->name, (int)comps[i], bsp_strerror(e));
        bsd_buffer_free(pc);
    }

    /* --deflate off and BSDIFF40: plain patches, no scratch store touched */
    unsigned char *po =
        diff(p->old, p->nw, BSD_FORMAT_BSDELTA, BSD_COMP_BZIP2, BSD_DEFLATE_OFF, 2, &loff, &st);
    unsigned char *p40 =
        diff(p->old, p->nw, BSD_FORMAT_BSDIFF40, BSD_COMP_BZIP2, BSD_DEFLATE_AUTO, 2, &l40, NULL);
    CHECK(po && po[BSDL_OFF_FLAGS] == 0 && st.deflate_old_expanded == 0,
          "%s: --deflate off: flag %u", p->name, po ? po[BSDL_OFF_FLAGS] : 255);
    CHECK(p40 && l40 > 8 && memcmp(p40, BSDF40_MAGIC, BSDF40_MAGIC_LEN) == 0, "%s: BSDIFF40 magic",
          p->name);
    for (int i = 0; i < 2; i++) {
        tscratch ts;
        bsp_scratch api;
        ts_init(&ts, &api, 0);
        ts.fail_reset = ts.fail_read = 1, ts.fail_write_at = 0;
        bsp_set_scratch(g_ctx, &api);
        const unsigned char *pp = i ? p40 : po;
        size_t pl = i ? l40 : loff;
        bsp_error e =
            pp ? t_dfx_apply(g_ctx, pp, pl, p->old->data, p->old->len, T_VIA_APPLY, 0, &out)
               : BSP_E_MISUSE;
        CHECK(e == BSP_OK && is_new(p->nw, &out) && ts.resets + ts.writes + ts.reads == 0,
              "%s: plain patch %d: %s, scratch used %lu times", p->name, i, bsp_strerror(e),
              ts.resets + ts.writes + ts.reads);
        bsp_set_scratch(g_ctx, NULL);
        e = pp ? t_dfx_apply(g_ctx, pp, pl, p->old->data, p->old->len, T_VIA_APPLY, 0, &out)
               : BSP_E_MISUSE;
        CHECK(e == BSP_OK && is_new(p->nw, &out), "%s: plain patch %d without a scratch store",
              p->name, i);
    }
    printf("%s: deflate-aware %zu bytes, --deflate off %zu, BSDIFF40 %zu\n", p->name, len, loff,
           l40);
    if (!strcmp(p->name, "tar")) /* measured 2,765 against 44,102 bytes (16x) */
        CHECK(loff >= 8 * len,
              "tar: the deflate-aware patch (%zu bytes) is not 8x smaller than the "
              "plain one (%zu)",
              len, loff);
    if (!strcmp(p->name, "zip")) /* measured 732 against 1,169 bytes: the other entries' streams
                                  * are equal bytes anyway */
        CHECK(len < loff,
              "zip: the deflate-aware patch (%zu bytes) is not smaller than the plain "
              "one (%zu)",
              len, loff);
    bsd_buffer_free(po);
    bsd_buffer_free(p40);
    bsd_buffer_free(pa);
    free(out.p);
}

/* Unrelated contents: the deflate-aware patch comes out larger than half of new, the plain one
 * is made too and, being smaller, written - the same bytes as --deflate off. */
static void plain_wins(const dfx_link *p) {
    size_t la = 0, lo = 0;
    bsd_stats sa, so;
    unsigned char *pa =
        diff(p->old, p->nw, BSD_FORMAT_BSDELTA, BSD_COMP_BZIP2, BSD_DEFLATE_AUTO, 2, &la, &sa);
    unsigned char *po =
        diff(p->old, p->nw, BSD_FORMAT_BSDELTA, BSD_COMP_BZIP2, BSD_DEFLATE_OFF, 2, &lo, &so);
    CHECK(pa && po && la == lo && !memcmp(pa, po, lo) && pa[BSDL_OFF_FLAGS] == 0 &&
              sa.deflate_not_smaller == 1 && sa.deflate_old_expanded == 0 &&
              sa.deflate_old_streams == p->old->nwant && sa.patch_size == la,
          "%s: auto gives %zu bytes (flag %u, not-smaller %d), --deflate off %zu", p->name, la,
          pa ? pa[BSDL_OFF_FLAGS] : 255, sa.deflate_not_smaller, lo);
    t_gsink out = {0};
    bsp_set_scratch(g_ctx, NULL);
    bsp_error e = pa ? t_dfx_apply(g_ctx, pa, la, p->old->data, p->old->len, T_VIA_APPLY, 0, &out)
                     : BSP_E_MISUSE;
    CHECK(e == BSP_OK && is_new(p->nw, &out), "%s: the plain patch applies: %s", p->name,
          bsp_strerror(e));
    bsd_buffer_free(pa);
    bsd_buffer_free(po);
    free(out.p);
}

/* When only one side has deflate streams, or through a prepared old, the patch is plain. */
static void plain_cases(void) {
    const dfx_link *gz = &fx.pairs[fx.npairs - 1];
    dfx_file text = {.name = "text"};
    text.len = 5000;
    text.data = t_alloc(text.len);
    for (size_t i = 0; i < text.len; i++) text.data[i] = (unsigned char)("deflate\n"[i % 8]);
    for (int side = 0; side < 2; side++) {
        size_t l = 0;
        bsd_stats st;
        const dfx_file *o = side ? &text : gz->old, *n = side ? gz->nw : &text;
        unsigned char *p =
            diff(o, n, BSD_FORMAT_BSDELTA, BSD_COMP_BZIP2, BSD_DEFLATE_AUTO, 2, &l, &st);
        t_gsink out = {0};
        bsp_set_scratch(g_ctx, NULL);
        bsp_error e =
            p ? t_dfx_apply(g_ctx, p, l, o->data, o->len, T_VIA_APPLY, 0, &out) : BSP_E_MISUSE;
        CHECK(p && p[BSDL_OFF_FLAGS] == 0 && st.deflate_old_expanded == 0 && e == BSP_OK &&
                  is_new(n, &out),
              "only the %s file has deflate streams: flag %u, %s", side ? "new" : "old",
              p ? p[BSDL_OFF_FLAGS] : 255, bsp_strerror(e));
        bsd_buffer_free(p);
        free(out.p);
    }
    free(text.data);

    /* a prepared old is diffed as it is; bsd_diff_to_file writes what bsd_diff_buffers returns */
    const dfx_link *tar = &fx.pairs[0];
    bsd_ctx *c = bsd_create();
    bsd_old *o = NULL;
    t_gsink out = {0};
    bsd_sink sk = {&out, t_gsink_write};
    CHECK(bsd_prepare_old(c, tar->old->data, tar->old->len, &o) == BSD_OK &&
              bsd_diff(c, o, tar->nw->data, tar->nw->len, &sk) == BSD_OK && out.len > 64 &&
              out.p[BSDL_OFF_FLAGS] == 0,
          "bsd_diff on a prepared old: a plain patch");
    bsd_old_free(o);
    size_t l = 0;
    unsigned char *pb = diff_auto(tar, &l);
    FILE *f = tmpfile();
    bsd_options opt;
    bsd_options_init(&opt);
    opt.threads = 2;
    CHECK(f && bsd_set_options(c, &opt) == BSD_OK &&
              bsd_diff_to_file(c, tar->old->data, tar->old->len, tar->nw->data, tar->nw->len, f) ==
                  BSD_OK,
          "bsd_diff_to_file");
    if (f) {
        long fl = ftell(f);
        unsigned char *fb = t_alloc(fl > 0 ? (size_t)fl : 1);
        rewind(f);
        CHECK(pb && fl == (long)l && fread(fb, 1, l, f) == l && memcmp(fb, pb, l) == 0,
              "bsd_diff_to_file writes other bytes (%ld, %zu)", fl, l);
        free(fb);
        fclose(f);
    }
    opt.deflate = (bsd_deflate_mode)7;
    CHECK(bsd_set_options(c, &opt) == BSD_E_MISUSE, "an unknown deflate mode is accepted");
    bsd_buffer_free(pb);
    bsd_free(c);
    free(out.p);
}

/* Pairs of fixtures, each way and each with itself: the flag is set exactly when both files
 * have deflate streams, and every patch applies. */
static void matrix_tests(void) {
    static const char *names[] = {
        "gz_empty_input.gz",      "gz_one_byte.gz",           "gz_two_members.gz",
        "gz_trailing_garbage.gz", "zip_data_descriptors.zip", "own_long_codes.gz",
        "gz_level0_stored.gz",    "own_len258_code284.gz",    "zip_long_literal_runs.zip"};
    const size_t nn = sizeof names / sizeof names[0];
    t_gsink out = {0};
    for (size_t i = 0; i < nn; i++)
        for (size_t j = 0; j < nn; j++) {
            const dfx_file *a = dfx_get(&fx, names[i]), *b = dfx_get(&fx, names[j]);
            if (!a || !b) {
                CHECK(0, "fixture %s or %s is missing", names[i], names[j]);
                continue;
            }
            size_t l = 0;
            bsd_stats st;
            unsigned char *p =
                diff(a, b, BSD_FORMAT_BSDELTA, BSD_COMP_BZIP2, BSD_DEFLATE_AUTO, 2, &l, &st);
            if (!p) continue;
            /* tiny files: the plain patch may be the smaller one, and is then written */
            int want = a->nwant && b->nwant && !st.deflate_not_smaller;
            CHECK(!st.deflate_not_smaller || (a->nwant && b->nwant), "%s -> %s: not-smaller "
                  "without streams on both sides", a->name, b->name);
            bsp_error e = apply(p, l, a, j % 2 ? T_VIA_APPLY : T_VIA_PUSH, 1 + i * 500, &out);
            CHECK(p[BSDL_OFF_FLAGS] == want && e == BSP_OK && is_new(b, &out),
                  "%s -> %s: flag %u, %s", a->name, b->name, p[BSDL_OFF_FLAGS], bsp_strerror(e));
            bsd_buffer_free(p);
        }
    free(out.p);
}

/* A memory cap between the plain diff's estimate and the deflate-aware one's: a plain patch,
 * said so in the stats, nothing of the abandoned attempt in it. */
static void mem_limit_tests(const dfx_link *p) {
    bsd_stats sa, so;
    size_t la = 0, lo = 0;
    unsigned char *pa =
        diff(p->old, p->nw, BSD_FORMAT_BSDELTA, BSD_COMP_BZIP2, BSD_DEFLATE_AUTO, 1, &la, &sa);
    unsigned char *po =
        diff(p->old, p->nw, BSD_FORMAT_BSDELTA, BSD_COMP_BZIP2, BSD_DEFLATE_OFF, 1, &lo, &so);
    CHECK(sa.peak_estimate > so.peak_estimate && !sa.deflate_skipped_for_memory,
          "%s: deflate-aware estimate %llu, plain %llu", p->name,
          (unsigned long long)sa.peak_estimate, (unsigned long long)so.peak_estimate);
    bsd_ctx *c = bsd_create();
    bsd_options o;
    bsd_options_init(&o);
    o.threads = 1;
    o.mem_limit = so.peak_estimate + (sa.peak_estimate - so.peak_estimate) / 2;
    unsigned char *pm = NULL;
    size_t lm = 0;
    bsd_error e = bsd_set_options(c, &o);
    if (!e) e = bsd_diff_buffers(c, p->old->data, p->old->len, p->nw->data, p->nw->len, &pm, &lm);
    bsd_stats sm;
    bsd_get_stats(c, &sm);
    CHECK(e == BSD_OK && pm && lm == lo && memcmp(pm, po, lo) == 0 &&
              sm.deflate_skipped_for_memory == 1 && sm.deflate_old_expanded == 0,
          "%s: under a cap of %llu: %s, %zu bytes (plain %zu), skipped %d", p->name,
          (unsigned long long)o.mem_limit, bsd_strerror(e), lm, lo, sm.deflate_skipped_for_memory);
    bsd_buffer_free(pm);
    o.mem_limit = so.peak_estimate / 2;
    CHECK(bsd_set_options(c, &o) == BSD_OK &&
              bsd_diff_buffers(c, p->old->data, p->old->len, p->nw->data, p->nw->len, &pm, &lm) ==
                  BSD_E_LIMIT,
          "%s: under half the plain estimate the diff does not fail", p->name);
    bsd_free(c);
    bsd_buffer_free(pa);
    bsd_buffer_free(po);
}

/* ---------------------------------------------------------------- the patcher's side */

/* Applies a hostile patch through bsp_apply and the push API (pieces of 7): both must give
 * the same result, one of allowed, and BSP_OK only with the exact new file. Returns it and
 * stores the larger output length in *written. */
static bsp_error hostile(const char *what, const unsigned char *p, size_t plen, const dfx_link *pr,
                         unsigned allowed, size_t *written) {
    t_gsink out = {0};
    bsp_error first = BSP_OK;
    *written = 0;
    for (int i = 0; i < 2; i++) {
        bsp_error e = apply(p, plen, pr->old, i ? T_VIA_PUSH : T_VIA_APPLY, 7, &out);
        if (i == 0) first = e;
        CHECK(allowed & M(e), "%s (api %d): %s (%s)", what, i, bsp_strerror(e), bsp_detail(g_ctx));
        CHECK(e == first, "%s: the push API gives %s, the pull API %s", what, bsp_strerror(e),
              bsp_strerror(first));
        if (e == BSP_OK) CHECK(is_new(pr->nw, &out), "%s: success with a wrong new file", what);
        if (out.len > *written) *written = out.len;
    }
    free(out.p);
    return first;
}

/* The parts of a deflate-aware patch: header, section length varint, section, check, body. */
typedef struct parts {
    size_t vlen, slen, body; /* varint bytes, section bytes, offset of the body */
    uint64_t xold, xnew, k;
    uint64_t gap[64], len[64];
} parts;

static int get_var(const unsigned char *p, size_t n, size_t *pos, uint64_t *v) {
    *v = 0;
    for (unsigned i = 0; i < 10 && *pos < n; i++) {
        unsigned char b = p[(*pos)++];
        *v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) return 0;
    }
    return -1;
}

static int split(const unsigned char *p, size_t n, parts *pt) {
    size_t pos = BSDL_HEADER_LEN;
    uint64_t slen;
    if (get_var(p, n, &pos, &slen) || slen > n - pos) return -1;
    pt->vlen = pos - BSDL_HEADER_LEN;
    pt->slen = (size_t)slen;
    pt->body = pos + pt->slen + 4;
    size_t end = pos + pt->slen;
    if (get_var(p, end, &pos, &pt->xold) || get_var(p, end, &pos, &pt->xnew) ||
        get_var(p, end, &pos, &pt->k) || pt->k > 64)
        return -1;
    for (uint64_t i = 0; i < pt->k; i++)
        if (get_var(p, end, &pos, &pt->gap[i]) || get_var(p, end, &pos, &pt->len[i])) return -1;
    return pos == end &&
                   XXH32(p + BSDL_HEADER_LEN + pt->vlen, pt->slen, 0) == bsdl_load_le32(p + end)
               ? 0
               : -1;
}

/* A patch with another section: the given bytes, sealed with their XXH32 (or, with a NULL
 * sec, a length varint of slen and nothing else). */
static unsigned char *with_section(const unsigned char *p, size_t n, const parts *pt,
                                   const unsigned char *sec, uint64_t slen, size_t *out_len) {
    unsigned char *q = t_alloc(n + (sec ? (size_t)slen : 0) + 32);
    memcpy(q, p, BSDL_HEADER_LEN);
    size_t pos = BSDL_HEADER_LEN + bsdl_put_varint(q + BSDL_HEADER_LEN, slen);
    if (sec) {
        memcpy(q + pos, sec, (size_t)slen);
        bsdl_store_le32(q + pos + slen, XXH32(sec, (size_t)slen, 0));
        pos += (size_t)slen + 4;
        memcpy(q + pos, p + pt->body, n - pt->body);
        pos += n - pt->body;
    }
    *out_len = pos;
    return q;
}

/* Section bytes from its fields: sizes, the stream count k (whatever nr ranges follow), and
 * optionally one byte too many. */
static size_t build_section(unsigned char *s, uint64_t xold, uint64_t xnew, uint64_t k,
                            const uint64_t *gap, const uint64_t *len, size_t nr, int trailing) {
    size_t n = 0;
    n += bsdl_put_varint(s + n, xold);
    n += bsdl_put_varint(s + n, xnew);
    n += bsdl_put_varint(s + n, k);
    for (size_t i = 0; i < nr; i++) {
        n += bsdl_put_varint(s + n, gap[i]);
        n += bsdl_put_varint(s + n, len[i]);
    }
    if (trailing) s[n++] = 0;
    return n;
}

static void reseal_header(unsigned char *p) {
    bsdl_store_le32(p + BSDL_OFF_HEADER_CHECK, XXH32(p, BSDL_HEADER_CHECKED_LEN, 0));
}

static void scratch_tests(const dfx_link *pr, const unsigned char *p, size_t n) {
    t_gsink out = {0};
    bsp_scratch api;
    tscratch ts;
    bsp_error e;
    for (int how = T_VIA_APPLY; how <= T_VIA_PUSH; how++) {
        bsp_set_scratch(g_ctx, NULL);
        e = t_dfx_apply(g_ctx, p, n, pr->old->data, pr->old->len, (t_via)how, 4096, &out);
        CHECK(e == BSP_E_UNSUPPORTED && out.calls == 0,
              "%s without a scratch store (api %d): %s, %zu bytes", pr->name, how, bsp_strerror(e),
              out.len);
        ts_init(&ts, &api, 0);
        api.write = NULL; /* incomplete: as none */
        bsp_set_scratch(g_ctx, &api);
        e = t_dfx_apply(g_ctx, p, n, pr->old->data, pr->old->len, (t_via)how, 4096, &out);
        CHECK(e == BSP_E_UNSUPPORTED && out.calls == 0, "%s, a scratch without write: %s", pr->name,
              bsp_strerror(e));
    }
    /* the old file's expansion is written before the first byte of output: a store failing
     * anywhere in it (or too small) fails the patch with nothing written */
    ts_init(&ts, &api, 0);
    bsp_set_scratch(g_ctx, &api);
    e = t_dfx_apply(g_ctx, p, n, pr->old->data, pr->old->len, T_VIA_APPLY, 0, &out);
    size_t xold = ts.m.len;
    bsp_memscratch_release(&ts.m);
    CHECK(e == BSP_OK && xold > pr->old->len, "%s: %s", pr->name, bsp_strerror(e));
    const size_t fail_at[] = {0, 1, 65535, 65536, xold / 2, xold - 1};
    for (size_t i = 0; i < sizeof fail_at / sizeof fail_at[0]; i++)
        for (int kind = 0; kind < 2 && fail_at[i] < xold; kind++) {
            if (kind && !fail_at[i]) continue;         /* a cap of 0 is no cap */
            ts_init(&ts, &api, kind ? fail_at[i] : 0); /* kind 1: a memory store with a cap */
            if (!kind) ts.fail_write_at = fail_at[i];
            bsp_set_scratch(g_ctx, &api);
            e = t_dfx_apply(g_ctx, p, n, pr->old->data, pr->old->len, T_VIA_PUSH, 1000, &out);
            CHECK(e == BSP_E_WRITE && out.calls == 0, "%s, scratch %s %zu bytes: %s, %zu bytes out",
                  pr->name, kind ? "capped at" : "failing after", fail_at[i], bsp_strerror(e),
                  out.len);
            CHECK(strstr(bsp_detail(g_ctx), "scratch") != NULL,
                  "the detail does not name the scratch "
                  "store: %s",
                  bsp_detail(g_ctx));
            bsp_memscratch_release(&ts.m);
        }
    ts_init(&ts, &api, xold);
    bsp_set_scratch(g_ctx, &api);
    e = t_dfx_apply(g_ctx, p, n, pr->old->data, pr->old->len, T_VIA_PUSH, 1000, &out);
    CHECK(e == BSP_OK && is_new(pr->nw, &out), "%s, a store of exactly %zu bytes: %s", pr->name,
          xold, bsp_strerror(e));
    bsp_memscratch_release(&ts.m);
    ts_init(&ts, &api, 0);
    ts.fail_reset = 1;
    bsp_set_scratch(g_ctx, &api);
    e = t_dfx_apply(g_ctx, p, n, pr->old->data, pr->old->len, T_VIA_APPLY, 0, &out);
    CHECK(e == BSP_E_WRITE && out.calls == 0 && ts.writes == 0, "%s, reset failing: %s", pr->name,
          bsp_strerror(e));
    ts_init(&ts, &api, 0);
    ts.fail_read = 1;
    bsp_set_scratch(g_ctx, &api);
    e = t_dfx_apply(g_ctx, p, n, pr->old->data, pr->old->len, T_VIA_APPLY, 0, &out);
    CHECK(ts.reads ? e == BSP_E_READ_OLD : e == BSP_OK,
          "%s, scratch reads failing: %s after %lu "
          "reads",
          pr->name, bsp_strerror(e), ts.reads);
    bsp_memscratch_release(&ts.m);

    /* the wrong old file: refused before the scratch store or the output see a byte */
    for (size_t i = 0; i < fx.npairs; i++) {
        const dfx_file *wrong = fx.pairs[i].old == pr->old ? pr->nw : fx.pairs[i].old;
        ts_init(&ts, &api, 0);
        bsp_set_scratch(g_ctx, &api);
        e = t_dfx_apply(g_ctx, p, n, wrong->data, wrong->len, T_VIA_PUSH, 7, &out);
        CHECK(e == BSP_E_WRONG_BASE && out.calls == 0 && ts.writes == 0, "%s on %s: %s", pr->name,
              wrong->name, bsp_strerror(e));
        bsp_memscratch_release(&ts.m);
    }
    free(out.p);
}

static void section_tests(const dfx_link *pr, const unsigned char *p, size_t n) {
    parts pt;
    if (split(p, n, &pt) != 0) {
        CHECK(0, "%s: the patch has no well-formed deflate section", pr->name);
        return;
    }
    CHECK(pt.k == pr->old->nwant, "%s: the section lists %llu streams of old, find %zu", pr->name,
          (unsigned long long)pt.k, pr->old->nwant);
    uint64_t prev = 0;
    for (uint64_t i = 0; i < pt.k && i < pr->old->nwant; i++) {
        CHECK(prev + pt.gap[i] == pr->old->want[i].offset && pt.len[i] == pr->old->want[i].length,
              "%s: section range %llu", pr->name, (unsigned long long)i);
        prev = pr->old->want[i].offset + pr->old->want[i].length;
    }
    const unsigned corrupt = M(BSP_E_CORRUPT) | M(BSP_E_TRUNCATED) | M(BSP_E_RESULT_MISMATCH);
    unsigned char *q = t_alloc(n + 64);
    size_t w, sec0 = BSDL_HEADER_LEN + pt.vlen, secn = sec0 + pt.slen;
    char what[160];
    /* every byte of length, section and check, flipped: without the check resealed, and with */
    static const unsigned char flips[] = {0x01, 0x80, 0xFF};
    for (size_t at = BSDL_HEADER_LEN; at < secn + 4; at++)
        for (size_t f = 0; f < 3; f++) {
            memcpy(q, p, n);
            q[at] ^= flips[f];
            snprintf(what, sizeof what, "%s: section byte %zu ^ 0x%02x", pr->name,
                     at - BSDL_HEADER_LEN, flips[f]);
            bsp_error e = hostile(what, q, n, pr, corrupt, &w);
            if (at >= sec0) /* the check fails, or the section's length no longer fits */
                CHECK(e == BSP_E_CORRUPT && w == 0, "%s: %s, %zu bytes written", what,
                      bsp_strerror(e), w);
            if (at < sec0 || at >= secn) continue;
            bsdl_store_le32(q + secn, XXH32(q + sec0, pt.slen, 0));
            strcat(what, ", resealed");
            hostile(what, q, n, pr, corrupt, &w);
        }
    /* rebuilt sections, each sealed */
    unsigned char s[2048];
    size_t sl, ql;
    unsigned char *r;
    uint64_t g[65], l[65];
    memcpy(g, pt.gap, sizeof pt.gap);
    memcpy(l, pt.len, sizeof pt.len);
    size_t k = (size_t)pt.k;
#define SECTION(label, ...)                                           \
    do {                                                              \
        sl = build_section(s, __VA_ARGS__);                           \
        r = with_section(p, n, &pt, s, sl, &ql);                      \
        snprintf(what, sizeof what, "%s: %s", pr->name, label);       \
        bsp_error e_ = hostile(what, r, ql, pr, corrupt, &w);         \
        CHECK(e_ == BSP_E_CORRUPT, "%s: %s", what, bsp_strerror(e_)); \
        free(r);                                                      \
    } while (0)
    sl = build_section(s, pt.xold, pt.xnew, pt.k, g, l, k, 0);
    r = with_section(p, n, &pt, s, sl, &ql);
    CHECK(ql == n && memcmp(r, p, n) == 0, "%s: the section does not rebuild", pr->name);
    free(r);
    SECTION("a byte after the list", pt.xold, pt.xnew, pt.k, g, l, k, 1);
    SECTION("one stream more counted", pt.xold, pt.xnew, pt.k + 1, g, l, k, 0);
    SECTION("one stream less counted", pt.xold, pt.xnew, pt.k - 1, g, l, k, 0);
    SECTION("one stream less", pt.xold, pt.xnew, pt.k - 1, g, l, k - 1, 0);
    SECTION("no streams", pt.xold, pt.xnew, 0, g, l, 0, 0);
    SECTION("old expansion size + 1", pt.xold + 1, pt.xnew, pt.k, g, l, k, 0);
    SECTION("old expansion size - 1", pt.xold - 1, pt.xnew, pt.k, g, l, k, 0);
    SECTION("old expansion size 2^62 + 1", ((uint64_t)1 << 62) + 1, pt.xnew, pt.k, g, l, k, 0);
    SECTION("new expansion size 2^62 + 1", pt.xold, ((uint64_t)1 << 62) + 1, pt.k, g, l, k, 0);
    SECTION("2^40 streams counted", pt.xold, pt.xnew, (uint64_t)1 << 40, g, l, k, 0);
    g[0]++;
    SECTION("first gap + 1", pt.xold, pt.xnew, pt.k, g, l, k, 0);
    g[0] -= 2;
    if (pt.gap[0] > 0) SECTION("first gap - 1", pt.xold, pt.xnew, pt.k, g, l, k, 0);
    g[0]++;
    l[k - 1]++;
    SECTION("last length + 1", pt.xold, pt.xnew, pt.k, g, l, k, 0);
    l[k - 1] -= 2;
    SECTION("last length - 1", pt.xold, pt.xnew, pt.k, g, l, k, 0);
    l[k - 1] = 0;
    SECTION("last length 0", pt.xold, pt.xnew, pt.k, g, l, k, 0);
    l[k - 1] = pr->old->len;
    SECTION("last length the whole file", pt.xold, pt.xnew, pt.k, g, l, k, 0);
    l[k - 1] = pt.len[k - 1];
    g[k - 1] = pr->old->len;
    SECTION("last gap past the end", pt.xold, pt.xnew, pt.k, g, l, k, 0);
    g[k - 1] = UINT64_MAX >> 1;
    SECTION("last gap 2^63 - 1", pt.xold, pt.xnew, pt.k, g, l, k, 0);
    g[k - 1] = pt.gap[k - 1];
    g[k] = 0, l[k] = 1;
    SECTION("a stream past the last", pt.xold, pt.xnew, pt.k + 1, g, l, k + 1, 0);
    if (k >= 2) {
        uint64_t g2[2] = {pt.gap[0] + pt.len[0] + pt.gap[1], 0}, l2[2] = {pt.len[1], pt.len[0]};
        SECTION("the second stream first", pt.xold, pt.xnew, 2, g2, l2, 2, 0);
    }
#undef SECTION
    /* a section of new's expansion size off by one: the commands no longer fit */
    sl = build_section(s, pt.xold, pt.xnew + 1, pt.k, pt.gap, pt.len, k, 0);
    r = with_section(p, n, &pt, s, sl, &ql);
    hostile("new expansion size + 1", r, ql, pr, corrupt, &w);
    free(r);
    sl = build_section(s, pt.xold, pt.xnew - 1, pt.k, pt.gap, pt.len, k, 0);
    r = with_section(p, n, &pt, s, sl, &ql);
    hostile("new expansion size - 1", r, ql, pr, corrupt, &w);
    free(r);
    /* the section's length itself */
    static const uint64_t lens[] = {0, BSDL_XSECT_MAX + 1, (uint64_t)1 << 40};
    for (size_t i = 0; i < 3; i++) {
        r = with_section(p, n, &pt, NULL, lens[i], &ql);
        memcpy(r + ql, p + sec0, 16);
        snprintf(what, sizeof what, "%s: section length %llu", pr->name,
                 (unsigned long long)lens[i]);
        bsp_error e = hostile(what, r, ql + 16, pr, corrupt, &w);
        CHECK(e == BSP_E_CORRUPT && w == 0, "%s: %s", what, bsp_strerror(e));
        free(r);
    }
    r = with_section(p, n, &pt, NULL, BSDL_XSECT_MAX, &ql);
    memcpy(r + ql, p + sec0, 16);
    bsp_error e = hostile("section of 1 MiB, patch ending", r, ql + 16, pr, corrupt, &w);
    CHECK(e == BSP_E_TRUNCATED && w == 0, "a 1 MiB section cut short: %s", bsp_strerror(e));
    free(r);
    memcpy(q, p, BSDL_HEADER_LEN);
    memcpy(q + BSDL_HEADER_LEN, "\x80\x00", 2);
    e = hostile("section length not minimal", q, BSDL_HEADER_LEN + 2, pr, corrupt, &w);
    CHECK(e == BSP_E_CORRUPT, "section length not minimal: %s", bsp_strerror(e));
    memset(q + BSDL_HEADER_LEN, 0x81, 9);
    q[BSDL_HEADER_LEN + 9] = 1;
    e = hostile("section length of 10 bytes", q, BSDL_HEADER_LEN + 10, pr, corrupt, &w);
    CHECK(e == BSP_E_CORRUPT, "section length of 10 bytes: %s", bsp_strerror(e));
    free(q);
}

static void header_tests(const dfx_link *pr, const unsigned char *p, size_t n) {
    unsigned char *q = t_alloc(n);
    size_t w;
    static const struct {
        unsigned version, flags, want;
    } cases[] = {
        {1, 1, BSP_E_UNSUPPORTED},
        {2, 2, BSP_E_UNSUPPORTED},
        {2, 3, BSP_E_UNSUPPORTED},
        {2, 0x81, BSP_E_UNSUPPORTED},
        {1, 0, BSP_E_CORRUPT},
        {2, 0, BSP_E_CORRUPT}, /* the section is read as the compressed body */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(q, p, n);
        q[BSDL_OFF_VERSION] = (unsigned char)cases[i].version;
        q[BSDL_OFF_FLAGS] = (unsigned char)cases[i].flags;
        reseal_header(q);
        char what[160];
        snprintf(what, sizeof what, "%s: version %u, flags 0x%02x", pr->name, cases[i].version,
                 cases[i].flags);
        bsp_error e = hostile(what, q, n, pr, M(cases[i].want) | M(BSP_E_TRUNCATED), &w);
        CHECK(e == (bsp_error)cases[i].want, "%s: %s", what, bsp_strerror(e));
        if (e == BSP_E_UNSUPPORTED) CHECK(w == 0, "%s: %zu bytes written", what, w);
    }
    /* the flag on a plain patch: its body is read as a section */
    size_t loff;
    unsigned char *po =
        diff(pr->old, pr->nw, BSD_FORMAT_BSDELTA, BSD_COMP_BZIP2, BSD_DEFLATE_OFF, 2, &loff, NULL);
    if (po) {
        po[BSDL_OFF_FLAGS] = 1;
        reseal_header(po);
        bsp_error e = hostile("the flag on a plain patch", po, loff, pr,
                              M(BSP_E_CORRUPT) | M(BSP_E_TRUNCATED), &w);
        CHECK(w == 0, "the flag on a plain patch: %s, %zu bytes written", bsp_strerror(e), w);
        bsd_buffer_free(po);
    }
    free(q);
}

/* Every prefix: TRUNCATED or CORRUPT, and nothing written while the header or the section is
 * incomplete. step > 1 samples the body. */
static void truncation_tests(const dfx_link *pr, const unsigned char *p, size_t n, size_t step) {
    parts pt;
    size_t body = split(p, n, &pt) == 0 ? pt.body : BSDL_HEADER_LEN;
    t_gsink out = {0};
    size_t bad = 0;
    for (size_t cut = 0; cut < n && bad < 5; cut += cut < body + 64 || cut + 64 > n ? 1 : step) {
        bsp_error e = apply(p, cut, pr->old, T_VIA_APPLY, 0, &out);
        int ok = (e == BSP_E_TRUNCATED || e == BSP_E_CORRUPT) && (cut >= body || out.len == 0);
        bad += !ok;
        CHECK(ok, "%s cut at %zu of %zu: %s, %zu bytes written", pr->name, cut, n, bsp_strerror(e),
              out.len);
    }
    free(out.p);
}

int main(int argc, char **argv) {
    if (dfx_load_args(&fx, argc, argv) != 0) return 2;
    CHECK(fx.npairs == 3 && !strcmp(fx.pairs[0].name, "tar"), "the manifest lists %zu pairs",
          fx.npairs);
    g_ctx = bsp_create();
    /* the gz pair's new file shares nothing with its old one: its plain patch is the smaller
     * one, so the auto patch is plain (plain_wins); the others are deflate-aware */
    for (size_t i = 0; i < fx.npairs; i++)
        if (strcmp(fx.pairs[i].name, "gz")) pair_tests(&fx.pairs[i]);
    plain_wins(&fx.pairs[fx.npairs - 1]);
    plain_cases();
    matrix_tests();
    mem_limit_tests(&fx.pairs[0]);
    for (size_t i = 0; i < fx.npairs; i++) {
        size_t n = 0;
        if (!strcmp(fx.pairs[i].name, "gz")) continue;
        unsigned char *p = diff_auto(&fx.pairs[i], &n);
        if (!p) continue;
        scratch_tests(&fx.pairs[i], p, n);
        section_tests(&fx.pairs[i], p, n);
        header_tests(&fx.pairs[i], p, n);
        truncation_tests(&fx.pairs[i], p, n, strcmp(fx.pairs[i].name, "tar") ? 1 : 13);
        bsd_buffer_free(p);
    }
    bsp_free(g_ctx);
    bsp_memscratch_release(&g_ts.m);
    dfx_free(&fx);
    return t_done("test_bsdiff_deflate");
}
