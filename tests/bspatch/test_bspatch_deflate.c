/* test_bspatch_deflate.c - the deflate expansion (bsdelta_deflate.h) on the fixtures of
 * tests/bspatch/deflate/: find reports exactly the streams the manifest lists, the expansion
 * is deterministic and well formed, and turns back into the same bytes however it is pushed;
 * truncated, bit-flipped and hand-built bad expansions, bad stream lists and failing
 * callbacks end with their documented errors; the golden deflate-aware patches apply through
 * every API and scratch store. Links the patcher alone (it runs in the device build).
 * usage: test_bspatch_deflate FIXTURE_DIR */
#include "bsdelta_deflate.h"
#include "bsdelta_format.h"
#include "bspatch.h"

#include "t_check.h"
#include "t_deflate_fixtures.h"

static dfx_set fx;

static uint64_t next_rand(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ---------------------------------------------------------------- helpers */

static bsp_error expand(const unsigned char *d, size_t n, const bsp_dfl_range *r, size_t k,
                        t_gsink *out) {
    bsp_memsource ms;
    bsp_source src;
    bsp_source_from_memory(&src, &ms, d, n);
    bsp_sink sk = t_gsink_sink(out);
    t_gsink_reset(out);
    uint64_t xs = 0;
    char det[200];
    bsp_error e = bsp_dfl_expand(&src, r, k, &sk, &xs, det, sizeof det);
    if (e == BSP_OK)
        CHECK(xs == out->len, "expanded_size %llu, %zu bytes written", (unsigned long long)xs,
              out->len);
    else CHECK(det[0] != '\0', "expand failed (%s) without a detail", bsp_strerror(e));
    return e;
}

/* Pushes x[0, n) into a new encoder in pieces of chunk bytes (0: all at once; with rnd: random
 * sizes from 1 to chunk) and finishes; the output lands in out. Returns the first error. */
static bsp_error encode(const unsigned char *x, size_t n, size_t chunk, uint64_t *rnd,
                        t_gsink *out) {
    bsp_sink sk = t_gsink_sink(out);
    t_gsink_reset(out);
    bsp_dfl_enc *enc = bsp_dfl_enc_create(&sk);
    if (!enc) return BSP_E_NOMEM;
    CHECK(bsp_dfl_enc_detail(enc)[0] == '\0', "a fresh encoder has a detail");
    bsp_error e = BSP_OK;
    for (size_t pos = 0; e == BSP_OK && pos < n;) {
        size_t k = chunk == 0 ? n - pos : rnd ? 1 + (size_t)(next_rand(rnd) % chunk) : chunk;
        if (k > n - pos) k = n - pos;
        e = bsp_dfl_enc_write(enc, x + pos, k);
        pos += k;
    }
    if (e == BSP_OK) {
        e = bsp_dfl_enc_finish(enc);
        if (e == BSP_OK) CHECK(bsp_dfl_enc_written(enc) == out->len, "enc_written disagrees");
    } else {
        /* errors are sticky */
        CHECK(bsp_dfl_enc_write(enc, "R", 1) == e, "an error is not sticky");
        CHECK(bsp_dfl_enc_finish(enc) == e, "finish after an error gives another error");
    }
    if (e)
        CHECK(bsp_dfl_enc_detail(enc)[0] != '\0', "encoder error %s without a detail",
              bsp_strerror(e));
    bsp_dfl_enc_free(enc);
    return e;
}

static bsp_error encode_bytes(const void *x, size_t n, t_gsink *out) {
    return encode(x, n, 0, NULL, out);
}

/* ---------------------------------------------------------------- the layout, independently */

/* What walking an expansion by its documented layout found. */
typedef struct xwalk {
    size_t items[2];  /* 'R', 'D' */
    size_t blocks[3]; /* stored, fixed, dynamic */
    size_t continues, max_nlit, matches;
    size_t *ends; /* expansion offset at the end of each item (caller-sized, may be NULL) */
    size_t nends, cap;
} xwalk;

static int walk_var(const unsigned char *x, size_t n, size_t *p, uint64_t *v) {
    *v = 0;
    for (unsigned i = 0; i < BSDL_VARINT_MAX_LEN && *p < n; i++) {
        unsigned char b = x[(*p)++];
        if (i > 0 && b == 0) return -1;
        *v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) return 0;
    }
    return -1;
}

/* 0 when x[0, n) is a sequence of well-formed items; fills *w. Checks only the framing (the
 * bits inside a code description are the encoder's to judge). */
static int walk(const unsigned char *x, size_t n, xwalk *w) {
    size_t p = 0;
    uint64_t v;
    while (p < n) {
        unsigned char tag = x[p++];
        if (tag == 'R') {
            if (walk_var(x, n, &p, &v) || v == 0 || v > n - p) return -1;
            p += (size_t)v;
            w->items[0]++;
        } else if (tag == 'D') {
            for (int last = 0; !last;) {
                if (p >= n || x[p] > 7 || (x[p] >> 1) == 3) return -1;
                unsigned bt = x[p] >> 1;
                last = x[p++] & 1;
                w->blocks[bt]++;
                if (bt == 0) {
                    if (n - p < 3) return -1;
                    size_t len = x[p + 1] | (size_t)x[p + 2] << 8;
                    p += 3;
                    if (len > n - p) return -1;
                    p += len;
                    continue;
                }
                if (bt == 2) {
                    if (walk_var(x, n, &p, &v) || v < 14 || v > 2304 || (v + 7) / 8 > n - p)
                        return -1;
                    p += (size_t)(v + 7) / 8;
                }
                for (;;) {
                    if (walk_var(x, n, &p, &v) || v > 65536 || v > n - p) return -1;
                    if (v > w->max_nlit) w->max_nlit = (size_t)v;
                    p += (size_t)v;
                    if (n - p < 2) return -1;
                    unsigned code = x[p] | (unsigned)x[p + 1] << 8;
                    p += 2;
                    if (code == 0xFFFF) break;
                    if (code == 0xFFFE) {
                        w->continues++;
                        if (v != 65536) return -1; /* a continue follows a full run only */
                        continue;
                    }
                    if (code >= 0x8000 || p >= n) return -1;
                    p++;
                    w->matches++;
                }
            }
            if (p >= n) return -1; /* the padding byte */
            p++;
            w->items[1]++;
        } else {
            return -1;
        }
        if (w->ends && w->nends < w->cap) w->ends[w->nends++] = p;
    }
    return 0;
}

/* ---------------------------------------------------------------- per fixture */

/* Block-kind expectations of some fixtures (by what made them). */
static void check_kinds(const dfx_file *f, const xwalk *w) {
    const char *n = f->name;
    size_t st = w->blocks[0], fi = w->blocks[1], dy = w->blocks[2];
    if (!strcmp(n, "gz_level0_stored.gz")) CHECK(st && !fi && !dy, "%s: not all stored", n);
    if (!strcmp(n, "gz_fixed.gz")) CHECK(fi && !st && !dy, "%s: not all fixed", n);
    if (!strcmp(n, "gz_mixed_blocks.gz") || !strcmp(n, "gz_flushes.gz") ||
        !strcmp(n, "own_padding_bits.gz"))
        CHECK(st && fi && dy, "%s: %zu stored, %zu fixed, %zu dynamic blocks", n, st, fi, dy);
    if (!strcmp(n, "zip_long_literal_runs.zip")) /* runs of 65535, 65536, 65537, 140000 */
        CHECK(w->continues == 4 && w->max_nlit == 65536 && w->matches == 0,
              "%s: %zu continues, longest group %zu", n, w->continues, w->max_nlit);
    if (!strcmp(n, "gz_huffman_only.gz")) CHECK(w->matches == 0, "%s: matches", n);
    else if (!strncmp(n, "gz_", 3) && strcmp(n, "gz_level0_stored.gz") &&
             strcmp(n, "gz_empty_input.gz") && strcmp(n, "gz_one_byte.gz"))
        CHECK(w->matches > 0, "%s: no matches in the expansion", n);
}

/* Truncating the expansion: OK with the matching prefix of the file exactly at item ends,
 * BSP_E_TRUNCATED anywhere else, and never output that is not a prefix of the file. */
static void check_truncations(const dfx_file *f, const unsigned char *x, size_t xn,
                              const size_t *ends, size_t nends, const uint64_t *fends) {
    uint64_t st = xn * 31 + 7;
    t_gsink out = {0};
    size_t bad = 0, tried = 0;
    /* every offset of small expansions; of larger ones the first 64, the last 32, around
     * every item end, and about 150 more */
    uint64_t rate = xn <= 1500 ? 1 : xn / 150;
    for (size_t t = 0; t < xn && bad < 3; t++) {
        int near = 0;
        for (size_t i = 0; i < nends; i++)
            if (ends[i] + 2 >= t && ends[i] <= t + 2) near = 1;
        if (t > 64 && t + 32 < xn && !near && next_rand(&st) % rate) continue;
        tried++;
        size_t at = SIZE_MAX; /* which item ends at t */
        for (size_t i = 0; i < nends; i++)
            if (ends[i] == t) at = i;
        uint64_t want_len = t == 0 ? 0 : at != SIZE_MAX ? fends[at] : 0;
        bsp_error e = encode(x, t, 0, NULL, &out);
        int prefix = out.len <= f->len && memcmp(out.p, f->data, out.len) == 0;
        if (t == 0 || at != SIZE_MAX) {
            if (e != BSP_OK || out.len != want_len || !prefix) bad++;
            CHECK(e == BSP_OK && out.len == want_len && prefix,
                  "%s: cut at item end %zu: %s, %zu bytes (want %llu)", f->name, t, bsp_strerror(e),
                  out.len, (unsigned long long)want_len);
        } else {
            if (e != BSP_E_TRUNCATED || !prefix) bad++;
            CHECK(e == BSP_E_TRUNCATED && prefix, "%s: cut at %zu: %s, prefix %d", f->name, t,
                  bsp_strerror(e), prefix);
        }
    }
    CHECK(tried > 0, "%s: no truncation tried", f->name);
    free(out.p);
}

static void check_file(const dfx_file *f) {
    bsp_dfl_range *r = NULL;
    size_t k = 0;
    CHECK(bsp_dfl_find(f->data, f->len, &r, &k) == BSP_OK, "%s: find failed", f->name);
    int same = k == f->nwant;
    for (size_t i = 0; same && i < k; i++)
        same = r[i].offset == f->want[i].offset && r[i].length == f->want[i].length;
    CHECK(same, "%s: find reports %zu streams (first %llu+%llu), the manifest %zu", f->name, k,
          k ? (unsigned long long)r[0].offset : 0ull, k ? (unsigned long long)r[0].length : 0ull,
          f->nwant);
    CHECK(k == 0 || r != NULL, "%s: streams but no list", f->name);
    t_gsink x1 = {0}, x2 = {0}, out = {0};
    bsp_error e = expand(f->data, f->len, f->want, f->nwant, &x1);
    CHECK(e == BSP_OK, "%s: expand: %s", f->name, bsp_strerror(e));
    CHECK(expand(f->data, f->len, f->want, f->nwant, &x2) == BSP_OK && x1.len == x2.len &&
              memcmp(x1.p, x2.p, x1.len) == 0,
          "%s: two expansions differ", f->name);

    /* the layout: items in file order, one 'D' per stream, 'R' for the bytes between */
    size_t cap = 2 * f->nwant + 2, *ends = t_alloc(cap * sizeof *ends);
    uint64_t *fends = t_alloc(cap * sizeof *fends);
    xwalk w = {.ends = ends, .cap = cap};
    CHECK(walk(x1.p, x1.len, &w) == 0, "%s: the expansion is not well formed", f->name);
    CHECK(w.items[1] == f->nwant, "%s: %zu deflate items for %zu streams", f->name, w.items[1],
          f->nwant);
    size_t nf = 0;
    uint64_t pos = 0;
    for (size_t i = 0; i < f->nwant; i++) {
        if (f->want[i].offset > pos) fends[nf++] = f->want[i].offset;
        pos = f->want[i].offset + f->want[i].length;
        fends[nf++] = pos;
    }
    if (pos < f->len) fends[nf++] = f->len;
    CHECK(nf == w.nends && w.items[0] + w.items[1] == nf, "%s: %zu items, %zu expected", f->name,
          w.nends, nf);
    check_kinds(f, &w);

    /* back to the same bytes, whatever the pieces */
    static const size_t chunks[] = {1, 7, 4096, 0};
    for (size_t c = 0; c < 4; c++) {
        e = encode(x1.p, x1.len, chunks[c], NULL, &out);
        CHECK(e == BSP_OK && out.len == f->len && memcmp(out.p, f->data, f->len) == 0,
              "%s: encoding back in pieces of %zu: %s, %zu of %zu bytes", f->name, chunks[c],
              bsp_strerror(e), out.len, f->len);
    }
    uint64_t rs = 99;
    e = encode(x1.p, x1.len, 300, &rs, &out);
    CHECK(e == BSP_OK && out.len == f->len && memcmp(out.p, f->data, f->len) == 0,
          "%s: encoding back in random pieces", f->name);

    /* fewer streams than there are: the others stay raw bytes, still exact */
    if (f->nwant > 1) {
        bsp_dfl_range odd[DFX_MAX_RANGES];
        size_t no = 0;
        for (size_t i = 1; i < f->nwant; i += 2) odd[no++] = f->want[i];
        CHECK(expand(f->data, f->len, odd, no, &x2) == BSP_OK && x2.len < x1.len &&
                  encode_bytes(x2.p, x2.len, &out) == BSP_OK && out.len == f->len &&
                  memcmp(out.p, f->data, f->len) == 0,
              "%s: every other stream alone does not round-trip", f->name);
    }
    for (size_t i = 0; i < f->nrefused; i++)
        CHECK(expand(f->data, f->len, &f->refused[i], 1, &x2) == BSP_E_CORRUPT,
              "%s: refused stream %zu is expanded", f->name, i);

    if (w.nends == nf) check_truncations(f, x1.p, x1.len, ends, w.nends, fends);

    free(ends);
    free(fends);
    free(x1.p);
    free(x2.p);
    free(out.p);
    bsp_dfl_free(r);
}

/* Seeded bit flips in the expansions of the smaller fixtures, pushed in random pieces: any
 * documented result (a flip may well leave a valid expansion), never a crash. */
static void flip_tests(void) {
    uint64_t seed = 2024;
    t_gsink x = {0}, y = {0}, out = {0};
    size_t rounds = 0, results[3] = {0};
    for (size_t i = 0; rounds < 2000; i = (i + 1) % fx.nfiles) {
        const dfx_file *f = &fx.files[i];
        if (expand(f->data, f->len, f->want, f->nwant, &x) != BSP_OK || x.len == 0 || x.len > 20000)
            continue;
        t_gsink_reset(&y);
        t_gsink_write(&y, x.p, x.len);
        for (int k = 0; k < 25; k++, rounds++) {
            memcpy(y.p, x.p, x.len);
            int nflip = 1 + (int)(next_rand(&seed) % 4);
            for (int j = 0; j < nflip; j++)
                y.p[next_rand(&seed) % x.len] ^= (unsigned char)(1u << (next_rand(&seed) % 8));
            bsp_error e = encode(y.p, x.len, 64, &seed, &out);
            CHECK(e == BSP_OK || e == BSP_E_CORRUPT || e == BSP_E_TRUNCATED,
                  "%s: flip round %zu: %s", f->name, rounds, bsp_strerror(e));
            results[e == BSP_OK ? 0 : e == BSP_E_CORRUPT ? 1 : 2]++;
        }
    }
    /* both outcomes must occur, or the flips test nothing */
    CHECK(results[0] > 0 && results[1] > 0, "flips: %zu OK, %zu corrupt, %zu truncated", results[0],
          results[1], results[2]);
    free(x.p);
    free(y.p);
    free(out.p);
}

/* ---------------------------------------------------------------- find on other data */

/* Whatever find reports in d must be streams that expand and encode back exactly. */
static size_t find_roundtrips(const char *what, const unsigned char *d, size_t n) {
    bsp_dfl_range *r = NULL;
    size_t k = 0;
    bsp_error e = bsp_dfl_find(d, n, &r, &k);
    CHECK(e == BSP_OK, "%s: find: %s", what, bsp_strerror(e));
    for (size_t i = 0; i < k; i++)
        CHECK(r[i].length > 0 && r[i].offset <= n && r[i].length <= n - r[i].offset &&
                  (i == 0 || r[i].offset >= r[i - 1].offset + r[i - 1].length),
              "%s: range %zu is out of order or out of the data", what, i);
    t_gsink x = {0}, out = {0};
    if (k) {
        e = expand(d, n, r, k, &x);
        CHECK(e == BSP_OK && encode_bytes(x.p, x.len, &out) == BSP_OK && out.len == n &&
                  memcmp(out.p, d, n) == 0,
              "%s: the %zu streams found do not round-trip", what, k);
    }
    free(x.p);
    free(out.p);
    bsp_dfl_free(r);
    return k;
}

static void find_tests(void) {
    size_t n = 65536;
    unsigned char *d = t_alloc(4 * n);
    uint64_t s = 5;
    for (size_t i = 0; i < n; i++) d[i] = (unsigned char)next_rand(&s);
    CHECK(find_roundtrips("random", d, n) == 0, "streams found in random data");
    static const char *words[] = {"deflate ", "stream ", "PK", "\x1f\x8b", "\n", "zip "};
    for (size_t i = 0; i < n;) {
        const char *wd = words[next_rand(&s) % 6];
        for (; *wd && i < n; wd++) d[i++] = (unsigned char)*wd;
    }
    CHECK(find_roundtrips("text", d, n) == 0, "streams found in text");
    /* ELF-like: header, then records of small integers and addresses, then strings */
    memset(d, 0, n);
    memcpy(d,
           "\x7f"
           "ELF\x02\x01\x01",
           7);
    for (size_t i = 64; i + 16 <= n / 2; i += 16) {
        uint64_t v = next_rand(&s);
        d[i] = 0x48, d[i + 1] = 0x8b, d[i + 2] = (unsigned char)(v & 7);
        memcpy(d + i + 4, &i, sizeof i < 8 ? sizeof i : 8);
        d[i + 12] = 0xe8, d[i + 13] = (unsigned char)(v >> 8), d[i + 15] = 0xc3;
    }
    for (size_t i = n / 2; i < n; i++) d[i] = (unsigned char)(i % 97 ? 'a' + i % 26 : 0);
    CHECK(find_roundtrips("ELF-like", d, n) == 0, "streams found in an ELF-like blob");

    /* a gzip cut anywhere holds no stream (the member needs its 8-byte trailer) */
    const dfx_file *g = dfx_get(&fx, "gz_level9.gz");
    size_t found = 0;
    for (size_t cut = 0; g && cut < g->len; cut++)
        found += find_roundtrips("cut gzip", g->data, cut);
    CHECK(g && found == 0, "%zu streams found in truncated gzip files", found);
    /* damaged deflate data: whatever is still found must round-trip */
    static const char *damaged[] = {"gz_level0_stored.gz", "gz_fixed.gz", "gz_level9.gz",
                                    "own_padding_bits.gz", "gz_flushes.gz"};
    for (size_t i = 0; i < sizeof damaged / sizeof damaged[0]; i++) {
        const dfx_file *f = dfx_get(&fx, damaged[i]);
        CHECK(f != NULL, "%s is missing", damaged[i]);
        if (!f || f->len > 4 * n) continue;
        for (size_t at = 10; at + 8 < f->len; at += 2 + at % 5) {
            memcpy(d, f->data, f->len);
            d[at] ^= (unsigned char)(1u << (at % 8));
            find_roundtrips(damaged[i], d, f->len);
        }
    }
    /* a gzip is found only from offset 0; a zip anywhere (an archive inside another file) */
    const dfx_file *z = dfx_get(&fx, "zip_deflated_stored.zip");
    if (g && z && z->len + 1500 <= 4 * n) {
        for (size_t i = 0; i < 1000; i++) d[i] = (unsigned char)next_rand(&s);
        memcpy(d + 1000, g->data, g->len);
        CHECK(find_roundtrips("junk + gzip", d, 1000 + g->len) == 0, "a gzip found after junk");
        memcpy(d + 1000, z->data, z->len);
        memset(d + 1000 + z->len, 0x50, 500); /* 'P' */
        bsp_dfl_range *r = NULL;
        size_t k = 0;
        CHECK(bsp_dfl_find(d, 1500 + z->len, &r, &k) == BSP_OK && k == z->nwant,
              "zip after junk: %zu streams found, %zu expected", k, z->nwant);
        for (size_t i = 0; i < k && i < z->nwant; i++)
            CHECK(r[i].offset == z->want[i].offset + 1000 && r[i].length == z->want[i].length,
                  "zip after junk: stream %zu at %llu", i, (unsigned long long)r[i].offset);
        bsp_dfl_free(r);
        find_roundtrips("junk + zip", d, 1500 + z->len);
    }
    /* zip local headers by the thousand, each pointing (through its extra-field length) at
     * the same long chain of stored blocks that never ends: the search must give up on them
     * (its budget), not read the chain once per header, and find nothing */
    size_t chain = 2 * n, hdrs = chain - 65000;
    memset(d, 0, chain);
    for (size_t i = hdrs; i + 30 <= chain; i += 30) {
        size_t extra = chain - i - 30; /* at most 65535 */
        memcpy(d + i, "PK\3\4\x14\0\0\0\x08\0", 10);
        memset(d + i + 10, 0, 16);
        d[i + 26] = d[i + 27] = 0;
        d[i + 28] = (unsigned char)(extra & 0xff), d[i + 29] = (unsigned char)(extra >> 8);
    }
    for (size_t i = chain; i + 5 <= 4 * n; i += 5 + 1000) { /* non-final stored blocks */
        memcpy(d + i, "\0\xe8\x03\x17\xfc", 5);
        memset(d + i + 5, 'x', 4 * n - i - 5 < 1000 ? 4 * n - i - 5 : 1000);
    }
    CHECK(find_roundtrips("zip headers everywhere", d, 4 * n) == 0, "streams found in the chain");

    bsp_dfl_range *r = (bsp_dfl_range *)1;
    size_t k = 7;
    CHECK(bsp_dfl_find(NULL, 0, &r, &k) == BSP_OK && r == NULL && k == 0, "find on nothing");
    CHECK(bsp_dfl_find(NULL, 5, &r, &k) == BSP_E_MISUSE, "find on NULL data");
    CHECK(bsp_dfl_find(d, 5, NULL, &k) == BSP_E_MISUSE, "find without a list");
    CHECK(bsp_dfl_find(d, 5, &r, NULL) == BSP_E_MISUSE, "find without a count");
    bsp_dfl_free(NULL);
    free(d);
}

/* ---------------------------------------------------------------- hand-built expansions */

typedef struct xb {
    unsigned char b[8192];
    size_t n;
} xb;

static void xb_byte(xb *x, unsigned v) { x->b[x->n++] = (unsigned char)v; }
static void xb_var(xb *x, uint64_t v) { x->n += bsdl_put_varint(x->b + x->n, v); }
static void xb_u16(xb *x, unsigned v) {
    xb_byte(x, v & 0xff);
    xb_byte(x, v >> 8);
}
static void xb_mem(xb *x, const void *p, size_t n) {
    memcpy(x->b + x->n, p, n);
    x->n += n;
}

/* Bit writer for code descriptions: LSB first, Huffman codewords MSB first. */
typedef struct bitw {
    unsigned char b[400];
    unsigned n;
} bitw;

static void bw_put(bitw *w, unsigned v, unsigned k) {
    for (unsigned i = 0; i < k; i++, w->n++)
        if ((v >> i) & 1u) w->b[w->n / 8] |= (unsigned char)(1u << (w->n % 8));
}
static void bw_code(bitw *w, unsigned code, unsigned len) {
    for (unsigned i = len; i-- > 0;) bw_put(w, (code >> i) & 1u, 1);
}

/* A code description: header counts, the code-length code cl (order 16, 17, 18, 0, 8, ...),
 * then ops: (symbol, extra bits) pairs of that code. */
static void desc(bitw *w, unsigned nl, unsigned nd, const uint8_t cl[19], const unsigned (*ops)[2],
                 size_t nops) {
    static const uint8_t order[19] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                      11, 4,  12, 3, 13, 2, 14, 1, 15};
    memset(w, 0, sizeof *w);
    unsigned nc = 19;
    while (nc > 4 && !cl[order[nc - 1]]) nc--;
    bw_put(w, nl - 257, 5);
    bw_put(w, nd - 1, 5);
    bw_put(w, nc - 4, 4);
    for (unsigned i = 0; i < nc; i++) bw_put(w, cl[order[i]], 3);
    unsigned count[16] = {0}, next[16], code = 0, codes[19];
    for (unsigned s = 0; s < 19; s++) count[cl[s]]++;
    count[0] = 0;
    for (unsigned l = 1; l < 16; l++) next[l] = code = (code + count[l - 1]) << 1;
    for (unsigned s = 0; s < 19; s++) codes[s] = cl[s] ? next[cl[s]]++ : 0;
    for (size_t i = 0; i < nops; i++) {
        unsigned s = ops[i][0];
        bw_code(w, codes[s], cl[s]);
        if (s >= 16) bw_put(w, ops[i][1], s == 16 ? 2 : s == 17 ? 3 : 7);
    }
}

/* The plain code-length code: symbols 0..15 with 4 bits each, no repeats. */
static void desc_lens(bitw *w, const uint8_t *lens, unsigned nl, unsigned nd) {
    static const uint8_t cl[19] = {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 0, 0, 0};
    unsigned ops[320][2];
    for (unsigned i = 0; i < nl + nd; i++) ops[i][0] = lens[i], ops[i][1] = 0;
    desc(w, nl, nd, cl, (const unsigned(*)[2])ops, nl + nd);
}

/* A dynamic block's header byte and description w (the item's 'D' tag is the caller's). */
static void xb_dynamic(xb *x, int final, const bitw *w) {
    xb_byte(x, 4u | (unsigned) final);
    xb_var(x, w->n);
    xb_mem(x, w->b, (w->n + 7) / 8);
}

static bsp_error expect_enc(const char *what, const xb *x, bsp_error want, t_gsink *out) {
    bsp_error e = encode_bytes(x->b, x->n, out);
    CHECK(e == want, "%s: %s, want %s", what, bsp_strerror(e), bsp_strerror(want));
    t_gsink other = {0};
    for (size_t c = 1; c <= 3; c++) /* the same in pieces */
        CHECK(encode(x->b, x->n, c, NULL, &other) == e, "%s: in pieces of %zu another result", what,
              c);
    free(other.p);
    return e;
}

static void expect_output(const char *what, const xb *x, const void *want, size_t wn) {
    t_gsink out = {0};
    bsp_error e = encode_bytes(x->b, x->n, &out);
    CHECK(e == BSP_OK && out.len == wn && memcmp(out.p, want, wn) == 0, "%s: %s, %zu bytes", what,
          bsp_strerror(e), out.len);
    free(out.p);
}

/* Code lengths: lit/len symbols [0, nl) then distance codes; set: (symbol, length) pairs, a
 * symbol of 1000 + d meaning distance code d. */
static void lens_set(uint8_t *lens, unsigned nl, const unsigned (*set)[2], size_t n) {
    memset(lens, 0, 320);
    for (size_t i = 0; i < n; i++)
        lens[set[i][0] < 1000 ? set[i][0] : nl + set[i][0] - 1000] = (uint8_t)set[i][1];
}

/* One final dynamic block: description w, then the token bytes t[0, tn). */
static void xb_dyn_item(xb *x, const bitw *w, const void *t, size_t tn) {
    x->n = 0;
    xb_byte(x, 'D');
    xb_dynamic(x, 1, w);
    xb_mem(x, t, tn);
}

/* The end of a block with no literals, then the final padding byte. */
#define END_EMPTY "\x00\xFF\xFF\x00"

static void handmade_tests(void) {
    xb x;
    bitw w;
    t_gsink out = {0};
#define XB(...)      \
    do {             \
        x.n = 0;     \
        __VA_ARGS__; \
    } while (0)
    /* known answers */
    XB((void)0);
    expect_output("empty expansion", &x, "", 0);
    XB(xb_byte(&x, 'R'); xb_var(&x, 3); xb_mem(&x, "abc", 3));
    expect_output("raw item", &x, "abc", 3);
    XB(xb_byte(&x, 'D'); xb_byte(&x, 3); xb_mem(&x, END_EMPTY, 4));
    expect_output("empty fixed block", &x, "\x03\x00", 2);
    XB(xb_byte(&x, 'D'); xb_byte(&x, 3); xb_mem(&x, END_EMPTY, 3); xb_byte(&x, 0x3F));
    expect_output("final padding kept", &x, "\x03\xFC", 2);
    XB(xb_byte(&x, 'D'); xb_byte(&x, 1); xb_byte(&x, 0x1F); xb_u16(&x, 3); xb_mem(&x, "xyz", 3);
       xb_byte(&x, 0));
    expect_output("stored block", &x, "\xF9\x03\x00\xFC\xFFxyz", 8);
    /* 'a' = 0x91 in 8 bits, length 5 = code 259 in 7, distance 1 = code 0 in 5, end of block */
    XB(xb_byte(&x, 'D'); xb_byte(&x, 3); xb_var(&x, 1); xb_byte(&x, 'a'); xb_u16(&x, 0);
       xb_byte(&x, 2); xb_mem(&x, END_EMPTY, 4));
    expect_output("fixed literal and match", &x, "\x4b\x04\x03\x00", 4);
    XB(xb_byte(&x, 'R'); xb_var(&x, 1); xb_byte(&x, '<'); xb_byte(&x, 'D'); xb_byte(&x, 3);
       xb_mem(&x, END_EMPTY, 4); xb_byte(&x, 'R'); xb_var(&x, 1); xb_byte(&x, '>'));
    expect_output("raw, deflate, raw", &x, "<\x03\x00>", 4);

    /* items and varints */
    static const unsigned char bad_tags[] = {0, 'r', 'd', 0xFF};
    for (size_t i = 0; i < sizeof bad_tags; i++) {
        XB(xb_byte(&x, bad_tags[i]); xb_var(&x, 1); xb_byte(&x, 'a'));
        expect_enc("unknown item tag", &x, BSP_E_CORRUPT, &out);
    }
    XB(xb_byte(&x, 'R'); xb_var(&x, 0));
    expect_enc("raw length 0", &x, BSP_E_CORRUPT, &out);
    XB(xb_byte(&x, 'R'); xb_byte(&x, 0x83); xb_byte(&x, 0); xb_mem(&x, "abc", 3));
    expect_enc("raw length not minimal", &x, BSP_E_CORRUPT, &out);
    XB(xb_byte(&x, 'R'); for (int i = 0; i < 9; i++) xb_byte(&x, 0x81); xb_byte(&x, 1));
    expect_enc("raw length of 10 bytes", &x, BSP_E_CORRUPT, &out);
    XB(xb_byte(&x, 'R'); xb_var(&x, 5); xb_mem(&x, "abc", 3));
    expect_enc("raw item cut short", &x, BSP_E_TRUNCATED, &out);
    /* block header bytes: only 0..5 */
    for (unsigned b = 0; b < 256; b++) {
        XB(xb_byte(&x, 'D'); xb_byte(&x, b));
        bsp_error e = encode_bytes(x.b, x.n, &out);
        bsp_error want = b > 7 || (b >> 1) == 3 ? BSP_E_CORRUPT : BSP_E_TRUNCATED;
        CHECK(e == want, "block byte 0x%02x: %s, want %s", b, bsp_strerror(e), bsp_strerror(want));
    }
    /* padding: 5 bits after a stored block's header at bit 3, none after its bytes, 6 after an
     * empty fixed block */
    XB(xb_byte(&x, 'D'); xb_byte(&x, 1); xb_byte(&x, 0x20));
    expect_enc("stored padding 0x20 in 5 bits", &x, BSP_E_CORRUPT, &out);
    XB(xb_byte(&x, 'D'); xb_byte(&x, 1); xb_byte(&x, 0x1F); xb_u16(&x, 0); xb_byte(&x, 1));
    expect_enc("final padding 1 in 0 bits", &x, BSP_E_CORRUPT, &out);
    XB(xb_byte(&x, 'D'); xb_byte(&x, 3); xb_mem(&x, END_EMPTY, 3); xb_byte(&x, 0x40));
    expect_enc("final padding 0x40 in 6 bits", &x, BSP_E_CORRUPT, &out);
    XB(xb_byte(&x, 'D'); xb_byte(&x, 3); xb_mem(&x, END_EMPTY, 3); xb_byte(&x, 0xFF));
    expect_enc("final padding 0xFF in 6 bits", &x, BSP_E_CORRUPT, &out);
    /* token groups */
    XB(xb_byte(&x, 'D'); xb_byte(&x, 3); xb_var(&x, 65537));
    expect_enc("65537 literals", &x, BSP_E_CORRUPT, &out);
    XB(xb_byte(&x, 'D'); xb_byte(&x, 3); xb_var(&x, 65536));
    expect_enc("65536 literals announced", &x, BSP_E_TRUNCATED, &out);
    XB(xb_byte(&x, 'D'); xb_byte(&x, 3); xb_byte(&x, 0x80); xb_byte(&x, 0));
    expect_enc("literal count not minimal", &x, BSP_E_CORRUPT, &out);
    XB(xb_byte(&x, 'D'); xb_byte(&x, 3); xb_byte(&x, 0x80); xb_byte(&x, 0); xb_u16(&x, 0);
       xb_byte(&x, 0); xb_mem(&x, END_EMPTY, 4));
    expect_enc("literal count not minimal, then a match", &x, BSP_E_CORRUPT, &out);
    XB(xb_byte(&x, 'D'); xb_byte(&x, 3); xb_byte(&x, 0x81); xb_byte(&x, 0); xb_u16(&x, 0);
       xb_byte(&x, 0); xb_mem(&x, END_EMPTY, 4));
    expect_enc("literal count 1 in two bytes, then a match", &x, BSP_E_CORRUPT, &out);
    XB(xb_byte(&x, 'D'); xb_byte(&x, 3); xb_var(&x, 300); memset(x.b + x.n, 'q', 300); x.n += 300;
       xb_u16(&x, 0); xb_byte(&x, 0); xb_var(&x, 20000); memset(x.b + x.n, 'r', 3000); x.n += 3000);
    expect_enc("300 literals and a match, then 20000 literals cut short", &x, BSP_E_TRUNCATED,
               &out);
    static const unsigned bad_codes[] = {0x8000, 0x8001, 0xABCD, 0xFFFD};
    for (size_t i = 0; i < 4; i++) {
        XB(xb_byte(&x, 'D'); xb_byte(&x, 3); xb_var(&x, 0); xb_u16(&x, bad_codes[i]);
           xb_byte(&x, 0));
        expect_enc("token code 0x8000..0xFFFD", &x, BSP_E_CORRUPT, &out);
    }
    XB(xb_byte(&x, 'D'); xb_byte(&x, 3); xb_var(&x, 0); xb_u16(&x, 0x7FFF); xb_byte(&x, 255);
       xb_mem(&x, END_EMPTY, 4));
    expect_enc("distance 32768, length 258", &x, BSP_OK, &out);
    XB(xb_byte(&x, 'D'); xb_byte(&x, 3); xb_var(&x, 0); xb_u16(&x, 0x7FFF));
    expect_enc("match without its length byte", &x, BSP_E_TRUNCATED, &out);

    /* dynamic blocks, on a small complete code: 'a' and end of block, 1 bit each */
    uint8_t lens[320];
    static const unsigned small[][2] = {{'a', 1}, {256, 1}};
    lens_set(lens, 257, small, 2);
    desc_lens(&w, lens, 257, 1);
    xb_dyn_item(&x, &w,
                "\x02"
                "aa\xFF\xFF\x00",
                6);
    if (expect_enc("dynamic block", &x, BSP_OK, &out) == BSP_OK) {
        /* the description's bits follow the 3 header bits verbatim */
        int same = out.len * 8 >= 3 + w.n;
        for (unsigned i = 0; same && i < w.n; i++)
            same = ((out.p[(3 + i) / 8] >> ((3 + i) % 8)) & 1) == ((w.b[i / 8] >> (i % 8)) & 1);
        CHECK(same, "the code description is not copied bit for bit");
    }
    xb_dyn_item(&x, &w,
                "\x02"
                "ab\xFF\xFF\x00",
                6);
    expect_enc("literal without a code", &x, BSP_E_CORRUPT, &out);
    xb_dyn_item(&x, &w, "\x00\x00\x00\x00", 4);
    expect_enc("match without a length code", &x, BSP_E_CORRUPT, &out);
    /* a block's code replaces the previous block's: 'b' has a code in the fixed block only */
    XB(xb_byte(&x, 'D'); xb_dynamic(&x, 0, &w); xb_mem(&x,
                                                       "\x01"
                                                       "a\xFF\xFF",
                                                       4);
       xb_byte(&x, 3); xb_mem(&x,
                              "\x01"
                              "b\xFF\xFF\x00",
                              5));
    expect_enc("dynamic then fixed block", &x, BSP_OK, &out);
    XB(xb_byte(&x, 'D'); xb_byte(&x, 2); xb_mem(&x,
                                                "\x01"
                                                "b\xFF\xFF",
                                                4);
       xb_dynamic(&x, 1, &w); xb_mem(&x,
                                     "\x01"
                                     "b\xFF\xFF\x00",
                                     5));
    expect_enc("fixed then dynamic block, 'b' in both", &x, BSP_E_CORRUPT, &out);
    static const unsigned with_len[][2] = {{'a', 2}, {256, 2}, {257, 2}};
    lens_set(lens, 258, with_len, 3);
    desc_lens(&w, lens, 258, 1);
    xb_dyn_item(&x, &w, "\x00\x00\x00\x00", 4);
    expect_enc("match without a distance code", &x, BSP_E_CORRUPT, &out);
    static const unsigned with_dist[][2] = {{'a', 2}, {256, 2}, {257, 2}, {1000, 1}};
    lens_set(lens, 258, with_dist, 4);
    desc_lens(&w, lens, 258, 1);
    xb_dyn_item(&x, &w, "\x00\x00\x00\x00" END_EMPTY, 8);
    expect_enc("match with both codes", &x, BSP_OK, &out);
    xb_dyn_item(&x, &w, "\x00\x01\x00\x00" END_EMPTY, 8);
    expect_enc("distance 2 without a code", &x, BSP_E_CORRUPT, &out);
    xb_dyn_item(&x, &w, "\x00\x00\x00\x01" END_EMPTY, 8);
    expect_enc("length 4 without a code", &x, BSP_E_CORRUPT, &out);
    static const unsigned over[][2] = {{'a', 1}, {'b', 1}, {256, 1}};
    lens_set(lens, 257, over, 3);
    desc_lens(&w, lens, 257, 1);
    xb_dyn_item(&x, &w, END_EMPTY, 4);
    expect_enc("over-subscribed literal/length code", &x, BSP_E_CORRUPT, &out);
    static const unsigned no_end[][2] = {{'a', 1}, {'b', 1}};
    lens_set(lens, 257, no_end, 2);
    desc_lens(&w, lens, 257, 1);
    xb_dyn_item(&x, &w, END_EMPTY, 4);
    expect_enc("no end-of-block code", &x, BSP_E_CORRUPT, &out);
    xb_dyn_item(&x, &w,
                "\x01"
                "a",
                2); /* refused at once, not at the end of the data */
    expect_enc("no end-of-block code, then a literal", &x, BSP_E_CORRUPT, &out);
    static const unsigned dist_over[][2] = {{'a', 1}, {256, 1}, {1000, 1}, {1001, 1}, {1002, 1}};
    lens_set(lens, 257, dist_over, 5);
    desc_lens(&w, lens, 257, 3);
    xb_dyn_item(&x, &w, END_EMPTY, 4);
    expect_enc("over-subscribed distance code", &x, BSP_E_CORRUPT, &out);
    desc_lens(&w, lens, 286, 30); /* the largest counts are allowed */
    xb_dyn_item(&x, &w, END_EMPTY, 4);
    expect_enc("286 + 30 lengths", &x, BSP_E_CORRUPT, &out); /* still over-subscribed */
    static const unsigned full[][2] = {{'a', 1}, {256, 1}, {1000, 1}, {1029, 1}};
    lens_set(lens, 286, full, 4);
    desc_lens(&w, lens, 286, 30);
    xb_dyn_item(&x, &w, END_EMPTY, 4);
    expect_enc("286 + 30 lengths, complete", &x, BSP_OK, &out);
    for (unsigned extra = 1; extra <= 2; extra++) { /* HLIT 287, 288 or HDIST 31, 32 */
        lens_set(lens, 257, small, 2);
        desc_lens(&w, lens, 285 + extra + 1, 1);
        xb_dyn_item(&x, &w, END_EMPTY, 4);
        expect_enc("more than 286 literal/length lengths", &x, BSP_E_CORRUPT, &out);
        desc_lens(&w, lens, 257, 30 + extra);
        xb_dyn_item(&x, &w, END_EMPTY, 4);
        expect_enc("more than 30 distance lengths", &x, BSP_E_CORRUPT, &out);
    }
    uint8_t clo[19];
    memset(clo, 1, sizeof clo);
    static const unsigned one_op[][2] = {{0, 0}};
    desc(&w, 257, 1, clo, one_op, 1);
    xb_dyn_item(&x, &w, END_EMPTY, 4);
    expect_enc("over-subscribed code-length code", &x, BSP_E_CORRUPT, &out);
    /* repeats 16 (previous length), 17 and 18 (zeros) */
    static const uint8_t clr[19] = {4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 0, 0};
    static const unsigned rep_first[][2] = {{16, 0}};
    desc(&w, 257, 1, clr, rep_first, 1);
    xb_dyn_item(&x, &w, END_EMPTY, 4);
    expect_enc("repeat with nothing before it", &x, BSP_E_CORRUPT, &out);
    static const uint8_t clz[19] = {3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 3};
    static const unsigned rep_long[][2] = {{18, 127}, {18, 127}, {18, 127}};
    desc(&w, 257, 1, clz, rep_long, 3);
    xb_dyn_item(&x, &w, END_EMPTY, 4);
    expect_enc("zero run past the lengths", &x, BSP_E_CORRUPT, &out);
    /* 97 zeros, 'a' = 3, 158 zeros, 256 = 3 and three more (257..259), distance code 0 = 1 */
    static const unsigned rep_ok[][2] = {{18, 86}, {3, 0}, {18, 127}, {17, 7},
                                         {17, 7},  {3, 0}, {16, 0},   {1, 0}};
    desc(&w, 260, 1, clz, rep_ok, 8);
    xb_dyn_item(&x, &w,
                "\x01"
                "a\x00\x00\x00" END_EMPTY,
                9);
    expect_enc("repeats 16, 17 and 18", &x, BSP_OK, &out);
    xb_dyn_item(&x, &w,
                "\x01"
                "a\x00\x00\x04" END_EMPTY,
                9);
    expect_enc("length 7 after the repeats", &x, BSP_E_CORRUPT, &out);

    /* the description's bit count */
    lens_set(lens, 257, small, 2);
    desc_lens(&w, lens, 257, 1);
    CHECK(w.n % 8 != 0, "the test description fills its last byte");
    xb_dyn_item(&x, &w, END_EMPTY, 4);
    x.b[x.n - 5] |= 0x80;
    expect_enc("stray bits after the description", &x, BSP_E_CORRUPT, &out);
    unsigned real = w.n;
    static const int deltas[] = {1, -1, 8, -8, 9};
    for (size_t i = 0; i < sizeof deltas / sizeof deltas[0]; i++) {
        w.n = (unsigned)((int)real + deltas[i]);
        xb_dyn_item(&x, &w, END_EMPTY, 4);
        expect_enc("the description's bit count off", &x, BSP_E_CORRUPT, &out);
    }
    w.n = real;
    static const uint64_t nbits_bad[] = {0, 1, 13, 2305, 3000, (uint64_t)1 << 40};
    for (size_t i = 0; i < sizeof nbits_bad / sizeof nbits_bad[0]; i++) {
        XB(xb_byte(&x, 'D'); xb_byte(&x, 5); xb_var(&x, nbits_bad[i]); memset(x.b + x.n, 0, 300);
           x.n += 300);
        expect_enc("description length out of 14..2304", &x, BSP_E_CORRUPT, &out);
    }
    XB(xb_byte(&x, 'D'); xb_byte(&x, 5); xb_byte(&x, 0x8E); xb_byte(&x, 0x00));
    expect_enc("description length not minimal", &x, BSP_E_CORRUPT, &out);
#undef XB
    free(out.p);
}

/* ---------------------------------------------------------------- bsp_dfl_expand's contract */

static int failing_read(void *o, uint64_t off, void *b, size_t n) {
    (void)o, (void)off, (void)b, (void)n;
    return -1;
}

static void expand_api_tests(void) {
    const dfx_file *z = dfx_get(&fx, "zip_data_descriptors.zip");
    const dfx_file *g = dfx_get(&fx, "gz_level6.gz");
    const dfx_file *big = dfx_get(&fx, "pair_tar_old.tar.gz");
    if (!z || !g || !big || z->nwant < 3) {
        CHECK(0, "fixtures for the expand tests are missing");
        return;
    }
    t_gsink out = {0};
    const bsp_dfl_range *r = z->want;
    bsp_dfl_range bad[3];
    bad[0] = r[0], bad[1] = r[0];
    CHECK(expand(z->data, z->len, bad, 2, &out) == BSP_E_CORRUPT, "the same range twice");
    bad[0] = r[1], bad[1] = r[0];
    CHECK(expand(z->data, z->len, bad, 2, &out) == BSP_E_CORRUPT, "ranges out of order");
    bad[0] = r[0], bad[1] = r[1];
    bad[1].offset -= 1, bad[1].length += 1;
    CHECK(expand(z->data, z->len, bad, 2, &out) == BSP_E_CORRUPT, "overlapping ranges");
    bad[0] = (bsp_dfl_range){z->len, 1};
    CHECK(expand(z->data, z->len, bad, 1, &out) == BSP_E_CORRUPT, "range at the end of the file");
    bad[0] = (bsp_dfl_range){z->len + 10, 2};
    CHECK(expand(z->data, z->len, bad, 1, &out) == BSP_E_CORRUPT, "range past the end");
    bad[0] = (bsp_dfl_range){r[2].offset, z->len};
    CHECK(expand(z->data, z->len, bad, 1, &out) == BSP_E_CORRUPT, "range running past the end");
    bad[0] = (bsp_dfl_range){UINT64_MAX - 1, 3};
    CHECK(expand(z->data, z->len, bad, 1, &out) == BSP_E_CORRUPT, "range wrapping around");
    bad[0] = (bsp_dfl_range){r[0].offset, 0};
    CHECK(expand(z->data, z->len, bad, 1, &out) == BSP_E_CORRUPT, "empty range");
    bad[0] = r[0], bad[0].length -= 1;
    CHECK(expand(z->data, z->len, bad, 1, &out) == BSP_E_CORRUPT, "range one byte short");
    bad[0] = r[0], bad[0].length += 1;
    CHECK(expand(z->data, z->len, bad, 1, &out) == BSP_E_CORRUPT, "range one byte long");
    bad[0] = (bsp_dfl_range){0, g->len};
    CHECK(expand(g->data, g->len, bad, 1, &out) == BSP_E_CORRUPT, "a whole gzip file as a stream");
    bad[0] = (bsp_dfl_range){0, 30};
    CHECK(expand(z->data, z->len, bad, 1, &out) == BSP_E_CORRUPT, "a zip header as a stream");
    unsigned char v[10];
    size_t vn = bsdl_put_varint(v, z->len);
    CHECK(expand(z->data, z->len, NULL, 0, &out) == BSP_OK && out.len == 1 + vn + z->len &&
              out.p[0] == 'R' && memcmp(out.p + 1, v, vn) == 0 &&
              memcmp(out.p + 1 + vn, z->data, z->len) == 0,
          "no ranges: one raw item");
    CHECK(expand((const unsigned char *)"", 0, NULL, 0, &out) == BSP_OK && out.len == 0,
          "an empty file expands to nothing");

    bsp_memsource ms;
    bsp_source src;
    bsp_source_from_memory(&src, &ms, big->data, big->len);
    bsp_sink sk = t_gsink_sink(&out);
    t_gsink_reset(&out);
    CHECK(bsp_dfl_expand(&src, NULL, 1, &sk, NULL, NULL, 0) == BSP_E_MISUSE,
          "count without ranges");
    CHECK(bsp_dfl_expand(NULL, big->want, 1, &sk, NULL, NULL, 0) == BSP_E_MISUSE, "no source");
    CHECK(bsp_dfl_expand(&src, big->want, 1, NULL, NULL, NULL, 0) == BSP_E_MISUSE, "no sink");
    bsp_sink nowrite = {&out, NULL};
    CHECK(bsp_dfl_expand(&src, big->want, 1, &nowrite, NULL, NULL, 0) == BSP_E_MISUSE, "no write");
    char det[8];
    CHECK(bsp_dfl_expand(&src, big->want, 1, &sk, NULL, det, sizeof det) == BSP_OK &&
              out.len > 65536,
          "expand without a size and a short detail buffer");
    size_t full = out.len;
    const size_t fail_ats[] = {0, 1, 65535, 65536, 65537, full - 1, full};
    for (size_t i = 0; i < sizeof fail_ats / sizeof fail_ats[0]; i++) {
        size_t at = fail_ats[i];
        t_gsink fail = {.fail = 1, .fail_at = at};
        bsp_sink fs = t_gsink_sink(&fail);
        uint64_t xs = 12345;
        bsp_error e = bsp_dfl_expand(&src, big->want, 1, &fs, &xs, NULL, 0);
        CHECK(e == (at < full ? BSP_E_WRITE : BSP_OK), "sink failing after %zu bytes: %s", at,
              bsp_strerror(e));
        CHECK(e == BSP_OK || xs == 12345, "a failed expand sets its size");
        free(fail.p);
    }
    bsp_source bad_src = {NULL, big->len, failing_read};
    CHECK(bsp_dfl_expand(&bad_src, big->want, 1, &sk, NULL, NULL, 0) == BSP_E_READ_OLD,
          "failing source");
    CHECK(bsp_dfl_expand(&bad_src, NULL, 0, &sk, NULL, NULL, 0) == BSP_E_READ_OLD,
          "failing source, raw");

    /* the encoder's sink failing: BSP_E_WRITE, from finish (the file fits its buffer) or from
     * write (a raw item larger than the buffer) */
    t_gsink x = {0};
    expand(big->data, big->len, big->want, 1, &x);
    for (int i = 0; i < 2; i++) {
        if (i) {
            t_gsink_reset(&x);
            unsigned char h[11] = {'R'};
            t_gsink_write(&x, h, 1 + bsdl_put_varint(h + 1, 200000));
            for (size_t k = 0; k < 200000; k += 1000) t_gsink_write(&x, big->data, 1000);
        }
        t_gsink fail = {.fail = 1, .fail_at = i ? 70000 : 0};
        bsp_sink fs = t_gsink_sink(&fail);
        bsp_dfl_enc *enc = bsp_dfl_enc_create(&fs);
        bsp_error e = bsp_dfl_enc_write(enc, x.p, x.len);
        if (e == BSP_OK) e = bsp_dfl_enc_finish(enc);
        CHECK(e == BSP_E_WRITE, "encoder sink failing after %zu bytes: %s", fail.fail_at,
              bsp_strerror(e));
        CHECK(bsp_dfl_enc_finish(enc) == BSP_E_WRITE, "a write error is not sticky");
        bsp_dfl_enc_free(enc);
        free(fail.p);
    }
    CHECK(bsp_dfl_enc_create(NULL) == NULL, "encoder without a sink");
    CHECK(bsp_dfl_enc_create(&nowrite) == NULL, "encoder without a write callback");
    CHECK(bsp_dfl_enc_write(NULL, "R", 1) == BSP_E_MISUSE, "write on NULL");
    CHECK(bsp_dfl_enc_finish(NULL) == BSP_E_MISUSE, "finish on NULL");
    CHECK(bsp_dfl_enc_written(NULL) == 0 && bsp_dfl_enc_detail(NULL) != NULL, "NULL encoder");
    bsp_dfl_enc_free(NULL);
    free(x.p);
    free(out.p);
}

/* ---------------------------------------------------------------- golden patches */

static int fail_reset(void *o) {
    (void)o;
    return -1;
}

static bsp_error apply(bsp_ctx *c, const dfx_link *p, const dfx_file *old, t_via how, size_t chunk,
                       t_gsink *out) {
    return t_dfx_apply(c, p->data, p->len, old->data, old->len, how, chunk, out);
}

static int applied(const dfx_link *p, bsp_error e, const t_gsink *out) {
    return e == BSP_OK && out->len == p->nw->len && memcmp(out->p, p->nw->data, out->len) == 0;
}

static void golden_tests(void) {
    CHECK(fx.npatches >= 2, "the manifest lists %zu golden patches", fx.npatches);
    bsp_ctx *c = bsp_create();
    t_gsink out = {0};
    bsp_scratch sc;
    bsp_memscratch mem;
    for (size_t i = 0; i < fx.npatches; i++) {
        const dfx_link *p = &fx.patches[i];
        bsp_header h;
        CHECK(bsp_parse_header(p->data, p->len, &h) == BSP_OK && h.version == 2 &&
                  (h.flags & BSDL_FLAG_DEFLATE) && h.old_size == p->old->len &&
                  h.new_size == p->nw->len,
              "%s: header", p->name);
        /* stores that cannot serve: none, an incomplete one (taken as none), one whose reset
         * fails; and the wrong old file: refused before any output */
        bsp_error e;
        for (int v = 0; v < 4; v++) {
            bsp_scratch_in_memory(&sc, &mem, 0);
            bsp_scratch s = sc;
            if (v == 1) s.read_at = NULL;
            if (v == 2) s.reset = fail_reset;
            bsp_set_scratch(c, v ? &s : NULL);
            e = apply(c, p, v == 3 ? p->nw : p->old, v % 2 ? T_VIA_PUSH : T_VIA_APPLY, 7, &out);
            bsp_error want = v == 3 ? BSP_E_WRONG_BASE : v == 2 ? BSP_E_WRITE : BSP_E_UNSUPPORTED;
            CHECK(e == want && out.calls == 0, "%s, store %d: %s, want %s, %zu bytes written",
                  p->name, v, bsp_strerror(e), bsp_strerror(want), out.len);
            bsp_memscratch_release(&mem);
        }
        bsp_scratch_in_memory(&sc, &mem, 0);
        bsp_set_scratch(c, &sc);
        static const size_t chunks[] = {1, 7, 4096};
        for (int how = T_VIA_APPLY; how <= T_VIA_PUSH; how++)
            for (size_t k = 0; k < 3; k++) {
                if (how == T_VIA_APPLY && k) continue;
                e = apply(c, p, p->old, (t_via)how, chunks[k], &out);
                CHECK(applied(p, e, &out), "%s (api %d, pieces of %zu): %s %s", p->name, how,
                      chunks[k], bsp_strerror(e), bsp_detail(c));
            }
        bsp_stats st;
        bsp_get_stats(c, &st);
        CHECK(st.new_size == p->nw->len && st.patch_bytes == p->len, "%s: stats", p->name);
        size_t xold = mem.len; /* the old file's expansion, as the last patch left it */
        bsp_memscratch_release(&mem);
        for (int d = -1; d <= 0; d++) {
            bsp_scratch_in_memory(&sc, &mem, xold + (size_t)d);
            bsp_set_scratch(c, &sc);
            e = apply(c, p, p->old, T_VIA_APPLY, 0, &out);
            if (d)
                CHECK(e == BSP_E_WRITE && out.len == 0,
                      "%s, scratch one byte too small: %s, %zu bytes", p->name, bsp_strerror(e),
                      out.len);
            else
                CHECK(applied(p, e, &out), "%s, scratch of exactly %zu bytes: %s", p->name, xold,
                      bsp_strerror(e));
            bsp_memscratch_release(&mem);
        }
    }
    /* a file scratch store, one context for every patch in turn, twice round */
    FILE *tf = tmpfile();
    CHECK(tf != NULL, "tmpfile");
    if (tf) {
        bsp_filescratch fs;
        bsp_scratch_from_file(&sc, &fs, tf);
        bsp_set_scratch(c, &sc);
        for (size_t r = 0; r < 2 * fx.npatches; r++) {
            const dfx_link *p = &fx.patches[r % fx.npatches];
            bsp_error e = apply(c, p, p->old, r % 2 ? T_VIA_APPLY : T_VIA_PUSH, 4096, &out);
            CHECK(applied(p, e, &out), "%s with a file scratch (round %zu): %s", p->name, r,
                  bsp_strerror(e));
        }
        fclose(tf);
    }
    bsp_free(c);
    free(out.p);
}

int main(int argc, char **argv) {
    if (dfx_load_args(&fx, argc, argv) != 0) return 2;
    CHECK(fx.nfiles >= 30, "the manifest lists %zu files", fx.nfiles);
    for (size_t i = 0; i < fx.nfiles; i++) check_file(&fx.files[i]);
    flip_tests();
    find_tests();
    handmade_tests();
    expand_api_tests();
    golden_tests();
    dfx_free(&fx);
    return t_done("test_bspatch_deflate");
}
