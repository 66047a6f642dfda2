/* test_bspatch_roundtrip.c - BSDELTA (and BSDIFF40) patches from the test encoder apply
 * byte-exactly through every API: bsp_apply, bsp_apply_stream with readers of several chunk
 * sizes, and the push API with random chunks; plus bsp_parse_header and the small helpers. */
#include "bsdelta_format.h"
#include "bspatch.h"
#include "bsp_testutil.h"

typedef struct pair {
    const char *name;
    unsigned char *old, *nw;
    size_t old_len, new_len;
} pair;

/* Sets *st and returns the output of one application; out has exactly new_len room, so a
 * patcher writing too much fails with BSP_E_WRITE. */
typedef enum { API_APPLY, API_STREAM, API_PUSH, API_BSDIFF40 } api;

static bsp_error run(bsp_ctx *ctx, api how, size_t chunk, uint64_t seed, const pair *p,
                     const unsigned char *patch, size_t plen, bsp_memsink *ms) {
    bsp_memsource os, ps;
    bsp_source old, psrc;
    bsp_sink sink;
    bsp_source_from_memory(&old, &os, p->old, p->old_len);
    bsp_source_from_memory(&psrc, &ps, patch, plen);
    bsp_sink_to_memory(&sink, ms);
    if (how == API_APPLY) return bsp_apply(ctx, &old, &psrc, &sink);
    if (how == API_BSDIFF40) return bsp_apply_bsdiff40(ctx, &old, &psrc, &sink);
    if (how == API_STREAM) {
        bsp_memreader mr = {patch, plen, 0, chunk};
        bsp_reader rd;
        bsp_reader_from_memory(&rd, &mr);
        return bsp_apply_stream(ctx, &old, &rd, &sink);
    }
    bsp_error e = bsp_stream_begin(ctx, &old, &sink);
    uint64_t st = seed;
    size_t pos = 0;
    while (e == BSP_OK && pos < plen) {
        /* mostly small chunks, sometimes large ones, sometimes empty feeds */
        uint64_t r = tenc_rand(&st);
        size_t k = r % 8 == 0 ? (size_t)(r >> 8) % 100000 : (size_t)(r >> 8) % 300;
        if (k > plen - pos) k = plen - pos;
        e = bsp_stream_feed(ctx, patch + pos, k);
        pos += k;
    }
    return e ? e : bsp_stream_finish(ctx);
}

static void check_pair(bsp_ctx *ctx, const pair *p) {
    unsigned char *out = t_alloc(p->new_len);
    for (unsigned ver = 1; ver <= 2; ver++)
    for (unsigned comp = 0; comp <= 2; comp++) {
        tenc_version = ver;
        for (uint64_t seed = 0; seed < 4; seed++) {
            unsigned char *patch;
            size_t plen, nrec;
            tenc_record *recs;
            if (tenc_encode(p->old, p->old_len, p->nw, p->new_len, comp, seed, &patch, &plen) ||
                tenc_plan(p->old_len, p->new_len, seed, &recs, &nrec)) {
                CHECK(0, "test encoder failed on %s", p->name);
                continue;
            }
            /* commands the patcher executes: a record's extra bytes above the per-segment limit
             * continue in further commands */
            size_t ncmd = 0;
            const uint64_t xmax = bsdl_seg_max_extra(ver);
            for (size_t r = 0; r < nrec; r++)
                ncmd += recs[r].extra_len <= xmax ? 1 : (size_t)((recs[r].extra_len + xmax - 1) / xmax);
            free(recs);
            struct { api how; size_t chunk; } ways[] = {
                {API_APPLY, 0}, {API_STREAM, 1}, {API_STREAM, 7}, {API_STREAM, 4096},
                {API_STREAM, 0}, {API_PUSH, 0}, {API_PUSH, 0},
            };
            for (size_t w = 0; w < sizeof ways / sizeof ways[0]; w++) {
                /* chunk size 1 over big patches costs time and adds nothing over 7 */
                if (ways[w].how == API_STREAM && ways[w].chunk == 1 && plen > 70000) continue;
                bsp_memsink ms = {out, p->new_len, 0};
                bsp_error e = run(ctx, ways[w].how, ways[w].chunk, seed * 31 + w, p, patch, plen, &ms);
                CHECK(e == BSP_OK, "%s v%u comp %u seed %llu way %zu: %s (%s)", p->name, ver, comp,
                      (unsigned long long)seed, w, bsp_strerror(e), bsp_detail(ctx));
                if (e != BSP_OK) continue;
                CHECK(ms.len == p->new_len && memcmp(out, p->nw, p->new_len) == 0,
                      "%s v%u comp %u seed %llu way %zu: output differs", p->name, ver, comp,
                      (unsigned long long)seed, w);
                bsp_stats st;
                bsp_get_stats(ctx, &st);
                CHECK(st.format == BSP_FORMAT_BSDELTA && st.old_size == p->old_len &&
                          st.new_size == p->new_len && st.patch_bytes == plen && st.commands == ncmd,
                      "%s way %zu: stats format %d old %llu new %llu patch %llu/%zu commands %llu/%zu",
                      p->name, w, st.format, (unsigned long long)st.old_size,
                      (unsigned long long)st.new_size, (unsigned long long)st.patch_bytes, plen,
                      (unsigned long long)st.commands, ncmd);
                CHECK(bsp_detail(ctx)[0] == '\0', "%s: detail set after success: %s", p->name,
                      bsp_detail(ctx));
            }
            free(patch);
        }
    }
    tenc_version = 1;
    /* BSDIFF40 from the same plans, through both entry points. */
    for (uint64_t seed = 0; seed < 3; seed++) {
        unsigned char *patch;
        size_t plen;
        if (tenc_bsdiff40(p->old, p->old_len, p->nw, p->new_len, seed, &patch, &plen)) {
            CHECK(0, "BSDIFF40 test encoder failed on %s", p->name);
            continue;
        }
        for (int w = 0; w < 2; w++) {
            bsp_memsink ms = {out, p->new_len, 0};
            bsp_error e = run(ctx, w ? API_BSDIFF40 : API_APPLY, 0, 0, p, patch, plen, &ms);
            CHECK(e == BSP_OK && ms.len == p->new_len && memcmp(out, p->nw, p->new_len) == 0,
                  "%s BSDIFF40 seed %llu way %d: %s (%s)", p->name, (unsigned long long)seed, w,
                  bsp_strerror(e), bsp_detail(ctx));
            bsp_stats st;
            bsp_get_stats(ctx, &st);
            CHECK(st.format == BSP_FORMAT_BSDIFF40 && st.new_size == p->new_len &&
                      st.old_size == p->old_len && st.patch_bytes == plen,
                  "%s BSDIFF40 stats", p->name);
        }
        free(patch);
    }
    free(out);
}

static void test_roundtrips(void) {
    enum { N = 11 };
    pair ps[N];
    unsigned char *a = t_gen(T_RANDOM, 5000, 1), *t = t_gen(T_TEXT, 150000, 2);
    size_t n;
    ps[0] = (pair){"random", a, t_edit(a, 5000, 3, &n), 5000, 0};
    ps[0].new_len = n;
    ps[1] = (pair){"text (crosses 64 KiB buffers)", t, t_edit(t, 150000, 4, &n), 150000, 0};
    ps[1].new_len = n;
    ps[2] = (pair){"empty old", t_alloc(0), t_gen(T_RANDOM, 1000, 5), 0, 1000};
    ps[3] = (pair){"empty new", t_gen(T_RANDOM, 1000, 6), t_alloc(0), 1000, 0};
    ps[4] = (pair){"both empty", t_alloc(0), t_alloc(0), 0, 0};
    ps[5] = (pair){"one byte", t_gen(T_RANDOM, 1, 7), t_gen(T_RANDOM, 1, 8), 1, 1};
    ps[6] = (pair){"identical", t_gen(T_TEXT, 3000, 9), NULL, 3000, 3000};
    ps[6].nw = t_alloc(3000);
    memcpy(ps[6].nw, ps[6].old, 3000);
    ps[7] = (pair){"old >> new", t_gen(T_RANDOM, 200000, 10), t_gen(T_RANDOM, 100, 11), 200000, 100};
    ps[8] = (pair){"new >> old", t_gen(T_RANDOM, 100, 12), t_gen(T_TEXT, 200000, 13), 100, 200000};
    ps[9] = (pair){"zeros", t_gen(T_ZEROS, 70000, 0), t_gen(T_ZEROS, 140000, 0), 70000, 140000};
    ps[10] = (pair){"one byte old, empty new", t_gen(T_RANDOM, 1, 14), t_alloc(0), 1, 0};
    bsp_ctx *ctx = bsp_create();
    CHECK(ctx != NULL, "bsp_create");
    for (int i = 0; i < N; i++) {
        check_pair(ctx, &ps[i]);
        /* the low-memory bzip2 mode gives the same bytes */
        bsp_set_low_memory(ctx, i % 2);
        free(ps[i].old);
        free(ps[i].nw);
    }
    bsp_free(ctx);
}

/* One context serves many patches, also after errors and across formats. */
static void test_context_reuse(void) {
    bsp_ctx *ctx = bsp_create();
    pair p = {"reuse", t_gen(T_TEXT, 2000, 20), NULL, 2000, 0};
    p.nw = t_edit(p.old, 2000, 21, &p.new_len);
    unsigned char *bd, *bl, *out = t_alloc(p.new_len);
    size_t bdl, bll;
    tenc_bsdiff40(p.old, p.old_len, p.nw, p.new_len, 1, &bd, &bdl);
    tenc_encode(p.old, p.old_len, p.nw, p.new_len, 1, 2, &bl, &bll);
    for (int round = 0; round < 3; round++) {
        bsp_memsink ms = {out, p.new_len, 0};
        bsp_error e = run(ctx, API_APPLY, 0, 0, &p, bl, bll / 2, &ms); /* truncated: fails */
        CHECK(e == BSP_E_TRUNCATED, "round %d: truncated gives %s", round, bsp_strerror(e));
        CHECK(bsp_detail(ctx)[0] != '\0', "an error leaves a detail message");
        ms.len = 0;
        e = run(ctx, API_APPLY, 0, 0, &p, bd, bdl, &ms);
        CHECK(e == BSP_OK && ms.len == p.new_len && !memcmp(out, p.nw, p.new_len),
              "round %d: BSDIFF40 after an error: %s", round, bsp_detail(ctx));
        ms.len = 0;
        e = run(ctx, API_PUSH, 0, (uint64_t)round, &p, bl, bll, &ms);
        CHECK(e == BSP_OK && ms.len == p.new_len && !memcmp(out, p.nw, p.new_len),
              "round %d: BSDELTA after BSDIFF40: %s", round, bsp_detail(ctx));
    }
    free(bd);
    free(bl);
    free(out);
    free(p.old);
    free(p.nw);
    bsp_free(ctx);
}

/* Calls out of order and NULL arguments give BSP_E_MISUSE, never a crash. */
static void test_misuse(void) {
    bsp_ctx *ctx = bsp_create();
    unsigned char buf[4] = {0};
    CHECK(bsp_stream_feed(ctx, buf, 1) == BSP_E_MISUSE, "feed before begin");
    CHECK(bsp_stream_finish(ctx) == BSP_E_MISUSE, "finish before begin");
    CHECK(bsp_stream_begin(ctx, NULL, NULL) == BSP_E_MISUSE, "begin without I/O");
    CHECK(bsp_stream_feed(NULL, buf, 1) == BSP_E_MISUSE, "NULL ctx");
    CHECK(bsp_apply(NULL, NULL, NULL, NULL) == BSP_E_MISUSE, "NULL ctx apply");
    CHECK(bsp_apply(ctx, NULL, NULL, NULL) == BSP_E_MISUSE, "apply without I/O");
    CHECK(bsp_apply_bsdiff40(ctx, NULL, NULL, NULL) == BSP_E_MISUSE, "bsdiff40 without I/O");
    CHECK(bsp_apply_stream(ctx, NULL, NULL, NULL) == BSP_E_MISUSE, "stream without I/O");
    bsp_memsource os;
    bsp_source old;
    bsp_source_from_memory(&old, &os, buf, 0);
    bsp_memsink ms = {buf, sizeof buf, 0};
    bsp_sink sink;
    bsp_sink_to_memory(&sink, &ms);
    CHECK(bsp_stream_begin(ctx, &old, &sink) == BSP_OK, "begin");
    CHECK(bsp_stream_feed(ctx, NULL, 0) == BSP_OK, "an empty feed is accepted");
    CHECK(bsp_stream_feed(ctx, NULL, 3) == BSP_E_MISUSE, "NULL data with a length");
    bsp_free(ctx);
    bsp_free(NULL);
    bsp_stats st;
    bsp_get_stats(NULL, &st);
    CHECK(st.new_size == 0 && st.commands == 0, "stats of NULL are zero");
    CHECK(bsp_detail(NULL)[0] == '\0', "detail of NULL is empty");
}

static void mk_bsdelta_hdr(unsigned char h[64]) {
    unsigned char oh[16], nh[16];
    for (int i = 0; i < 16; i++) oh[i] = (unsigned char)i, nh[i] = (unsigned char)(0xf0 + i);
    tenc_header(h, 1234, oh, 5678, nh, BSDL_COMP_BZIP2);
}

static void mk_bsdiff40_hdr(unsigned char h[32], int64_t c, int64_t d, int64_t n) {
    memcpy(h, BSDF40_MAGIC, 8);
    bsdf40_encode_off(h + 8, c);
    bsdf40_encode_off(h + 16, d);
    bsdf40_encode_off(h + 24, n);
}

static void test_parse_header(void) {
    unsigned char h[80];
    bsp_header hd;
    mk_bsdelta_hdr(h);
    CHECK(bsp_parse_header(h, 64, &hd) == BSP_OK, "valid BSDELTA header");
    CHECK(hd.format == BSP_FORMAT_BSDELTA && hd.old_size == 1234 && hd.new_size == 5678 &&
              hd.old_hash[1] == 1 && hd.new_hash[15] == 0xff && hd.compressor == 1 && hd.flags == 0 &&
              hd.version == 1,
          "BSDELTA header fields");
    CHECK(bsp_parse_header(h, 80, &hd) == BSP_OK, "longer buffer is fine");
    for (size_t len = 0; len < 64; len++)
        CHECK(bsp_parse_header(h, len, &hd) == BSP_E_TRUNCATED, "BSDELTA prefix of %zu bytes", len);
    struct { size_t off; unsigned char val; bsp_error want; int reseal; } cases[] = {
        {BSDL_OFF_VERSION, 0, BSP_E_UNSUPPORTED, 1},
        {BSDL_OFF_VERSION, 2, BSP_OK, 1},
        {BSDL_OFF_VERSION, 3, BSP_E_UNSUPPORTED, 1},
        {BSDL_OFF_VERSION, 3, BSP_E_UNSUPPORTED, 0}, /* version is judged before the checksum */
        {BSDL_OFF_VERSION, 2, BSP_E_CORRUPT, 0},
        {BSDL_OFF_COMPRESSOR, 2, BSP_OK, 1},
        {BSDL_OFF_COMPRESSOR, 3, BSP_E_UNSUPPORTED, 1},
        {BSDL_OFF_COMPRESSOR, 0xff, BSP_E_UNSUPPORTED, 1},
        {BSDL_OFF_COMPRESSOR, 0, BSP_OK, 1},
        {BSDL_OFF_FLAGS, 1, BSP_E_UNSUPPORTED, 1},
        {BSDL_OFF_RESERVED, 1, BSP_E_UNSUPPORTED, 1},
        {BSDL_OFF_RESERVED + 1, 0x80, BSP_E_UNSUPPORTED, 1},
        {BSDL_OFF_COMPRESSOR, 0, BSP_E_CORRUPT, 0}, /* changed without a new checksum */
        {BSDL_OFF_HEADER_CHECK, 0x5a, BSP_E_CORRUPT, 0},
        {BSDL_OFF_OLD_HASH, 0x5a, BSP_E_CORRUPT, 0},
        {3, 'X', BSP_E_NOT_PATCH, 0},
        {0, 'b', BSP_E_NOT_PATCH, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mk_bsdelta_hdr(h);
        h[cases[i].off] = cases[i].val;
        if (cases[i].reseal) tenc_reseal(h);
        bsp_error e = bsp_parse_header(h, 64, &hd);
        CHECK(e == cases[i].want, "header case %zu: got %s want %s", i, bsp_strerror(e),
              bsp_strerror(cases[i].want));
    }
    struct { uint64_t old_size, new_size; bsp_error want; } sizes[] = {
        {BSDL_MAX_FILE_SIZE, 0, BSP_OK},          {BSDL_MAX_FILE_SIZE + 1, 0, BSP_E_CORRUPT},
        {0, BSDL_MAX_FILE_SIZE, BSP_OK},          {0, BSDL_MAX_FILE_SIZE + 1, BSP_E_CORRUPT},
        {UINT64_MAX, 0, BSP_E_CORRUPT},           {0, UINT64_MAX, BSP_E_CORRUPT},
        {(uint64_t)1 << 63, 0, BSP_E_CORRUPT},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        mk_bsdelta_hdr(h);
        bsdl_store_le64(h + BSDL_OFF_OLD_SIZE, sizes[i].old_size);
        bsdl_store_le64(h + BSDL_OFF_NEW_SIZE, sizes[i].new_size);
        tenc_reseal(h);
        CHECK(bsp_parse_header(h, 64, &hd) == sizes[i].want, "size case %zu", i);
    }

    /* BSDIFF40 */
    mk_bsdiff40_hdr(h, 10, 20, 30);
    CHECK(bsp_parse_header(h, 32, &hd) == BSP_OK && hd.format == BSP_FORMAT_BSDIFF40 &&
              hd.new_size == 30 && hd.old_size == 0,
          "valid BSDIFF40 header");
    for (size_t len = 0; len < 32; len++)
        CHECK(bsp_parse_header(h, len, &hd) == BSP_E_TRUNCATED, "BSDIFF40 prefix of %zu bytes", len);
    int64_t bad[][3] = {{-1, 0, 0}, {0, -1, 0}, {0, 0, -1}, {0, 0, (int64_t)BSDL_MAX_FILE_SIZE + 1},
                        {0, 0, INT64_MAX}, {-INT64_MAX, 0, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mk_bsdiff40_hdr(h, bad[i][0], bad[i][1], bad[i][2]);
        CHECK(bsp_parse_header(h, 32, &hd) == BSP_E_CORRUPT, "BSDIFF40 bad case %zu", i);
    }
    for (int f = 0; f < 3; f++) { /* negative zero */
        mk_bsdiff40_hdr(h, 1, 1, 1);
        bsdl_store_le64(h + 8 + 8 * f, (uint64_t)1 << 63);
        CHECK(bsp_parse_header(h, 32, &hd) == BSP_E_CORRUPT, "BSDIFF40 negative zero in field %d", f);
    }
    mk_bsdiff40_hdr(h, 0, 0, (int64_t)BSDL_MAX_FILE_SIZE);
    CHECK(bsp_parse_header(h, 32, &hd) == BSP_OK, "BSDIFF40 new size 2^62");

    /* neither magic */
    const char *junk[] = {"\177ELF\002\001\001", "PK\x03\x04", "BSDIFF41xxxxxxxxxxxxxxxxxxxxxxxxxx",
                          "BSDELTB", "bsdiff40"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        CHECK(bsp_parse_header(junk[i], strlen(junk[i]), &hd) == BSP_E_NOT_PATCH, "junk %zu", i);
    CHECK(bsp_parse_header(NULL, 64, &hd) == BSP_E_MISUSE, "NULL data");
    CHECK(bsp_parse_header(h, 64, NULL) == BSP_E_MISUSE, "NULL header");
}

static void test_helpers(void) {
    unsigned char hash[16];
    char hex[33];
    for (int i = 0; i < 16; i++) hash[i] = (unsigned char)(i * 17);
    bsp_hash_hex(hash, hex);
    CHECK(strcmp(hex, "00112233445566778899aabbccddeeff") == 0, "bsp_hash_hex: %s", hex);
    /* XXH3-128 canonical form of "" (known value: xxhsum -H2 of an empty file) */
    tenc_hash("", 0, hash);
    bsp_hash_hex(hash, hex);
    CHECK(strcmp(hex, "99aa06d3014798d86001c324468d497f") == 0, "XXH3-128 of empty: %s", hex);
    for (int e = 0; e <= 12; e++) {
        const char *s = bsp_strerror((bsp_error)e);
        CHECK(s && *s && strcmp(s, "unknown error") != 0, "strerror(%d)", e);
        for (int f = 0; f < e; f++)
            CHECK(strcmp(s, bsp_strerror((bsp_error)f)) != 0, "strerror %d == %d", e, f);
    }
    CHECK(strcmp(bsp_strerror((bsp_error)13), "unknown error") == 0, "strerror(13)");
    CHECK(strcmp(bsp_strerror((bsp_error)-1), "unknown error") == 0, "strerror(-1)");
    /* pinned values */
    CHECK(BSP_OK == 0 && BSP_E_CORRUPT == 5 && BSP_E_WRONG_BASE == 7 && BSP_E_WRITE == 12,
          "pinned error values");
}

int main(void) {
    test_helpers();
    test_parse_header();
    test_misuse();
    test_context_reuse();
    test_roundtrips();
    return t_done("test_bspatch_roundtrip");
}
