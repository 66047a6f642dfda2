/* test_bsdiff_find.c - the searches of the matcher give the same answers however they are
 * sped up:
 * - the second-level table of the suffix-array index (three-byte ranges for the largest
 *   two-byte buckets) is right, and every longest-match search returns the same length and the
 *   same position with it as without it, including which of several whole matches of a short
 *   pattern, the two-byte suffix at the head of its bucket and the one-byte suffix at the tail
 *   of the bucket before its own;
 * - the q-gram filter holds every q-gram of the text and lets few absent ones through;
 * - the block pre-match on two threads (the second half walked at the same time) finds the
 *   anchors of the one-thread walk, one for one, and gives up where it does;
 * - the restricted index leaves repeated content out only where a copy stays in, and for
 *   near-identical inputs keeps what new's uncovered bytes share with old's uncovered parts;
 * - the classic scan's shortcuts (answers known from the filter or from the cover matcher's
 *   searches) give the segments of a scan that searches every time, and its rule of taking
 *   the rest of the match it is in finds about as much. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bsd_internal.h"
#include "bsd_testutil.h"
#include "t_check.h"

static uint64_t rng = 0xD1B54A32D192ED03ull;
static uint32_t rnd(void) { return t_rnd(&rng); }

#define MIB ((int64_t)1 << 20)
#define BIG_ROOM ((uint64_t)1 << 40)
#define PROBES 150000

/* The table against the array: each big bucket's ranges tile it (after its two-byte suffix, if
 * any) and hold exactly the suffixes with that third byte. Returns the number of big buckets. */
static int check_table(const char *name, const bsd_sa *s) {
    const int32_t *sa = s->sa;
    const unsigned char *d = s->text;
    int64_t n = s->size;
    int big = 0;
    for (unsigned k = 0; k < 65536; k++) {
        if (s->sub_of[k] < 0) continue;
        big++;
        const uint32_t *r = s->sub + (size_t)s->sub_of[k] * 257;
        int64_t b0 = s->bucket[k], b1 = s->bucket[k + 1];
        int two = n >= 2 && ((unsigned)d[n - 2] << 8 | d[n - 1]) == k;
        b1 -= k == s->tail_key; /* the one-byte suffix is not in the range */
        CHECK(r[0] == b0 + two && r[256] == b1, "%s: key %04x: ranges [%u, %u) in bucket [%lld, "
              "%lld)", name, k, r[0], r[256], (long long)b0, (long long)b1);
        for (int c = 0; c < 256; c++) {
            CHECK(r[c] <= r[c + 1], "%s: key %04x: range of %d runs backwards", name, k, c);
            for (uint32_t q = r[c]; q < r[c + 1] && q < b1; q++) {
                int64_t p = sa[q];
                if (p + 2 >= n || d[p] != k >> 8 || d[p + 1] != (k & 0xFF) || d[p + 2] != c) {
                    CHECK(0, "%s: key %04x byte %d: SA entry %u (suffix %lld) is not in range",
                          name, k, c, q, (long long)p);
                    return big;
                }
            }
        }
    }
    return big;
}

/* One search on both indexes: the same answer, and for a pattern taken whole from the text
 * (at least, at least 8 bytes) a whole match - which also checks the q-gram filter holds every
 * q-gram of the text. */
static int same_find(const char *name, const bsd_sa *a, const bsd_sa *b, const unsigned char *p,
                     int64_t plen, const char *kind, int64_t at_least) {
    int64_t pa = -1, pb = -1;
    int64_t la = bsd_sa_find(a, p, plen, &pa), lb = bsd_sa_find(b, p, plen, &pb);
    if (la < at_least) {
        CHECK(0, "%s: %s search of %lld bytes from the text found %lld", name, kind,
              (long long)plen, (long long)la);
        return 0;
    }
    if (la != lb || (la && pa != pb)) {
        CHECK(0, "%s: %s search of %lld bytes: %lld at %lld without the table, %lld at %lld with",
              name, kind, (long long)plen, (long long)la, (long long)pa, (long long)lb,
              (long long)pb);
        return 0;
    }
    return 1;
}

/* Builds the index of d[0, n) without and with the table and compares searches of patterns
 * taken from the text (whole, run to the end, with a changed byte) and of random ones. */
static void compare(const char *name, const unsigned char *d, int64_t n) {
    bsd_sa a, b;
    char err[256];
    CHECK(bsd_sa_build(&a, d, n, 24, 0, 1, 0, err, sizeof err) == 0, "%s: build: %s", name, err);
    CHECK(bsd_sa_build(&b, d, n, 24, BIG_ROOM, 2, BIG_ROOM, err, sizeof err) == 0,
          "%s: build with the table: %s", name, err);
    CHECK(a.sub == NULL && a.sub_bytes == 0, "%s: table built with no memory given", name);
    CHECK(b.sub != NULL && b.sub_bytes > 0 && b.sub_bytes <= bsd_sub_bytes(n),
          "%s: table of %llu bytes (limit %llu)", name, (unsigned long long)b.sub_bytes,
          (unsigned long long)bsd_sub_bytes(n));
    if (!b.sub) goto out;
    CHECK(memcmp(a.sa, b.sa, (size_t)n * 4) == 0, "%s: arrays differ", name);
    int big = check_table(name, &b);
    CHECK(big >= 8, "%s: only %d buckets got a second level", name, big);

    unsigned char p[96];
    int ok = 1;
    for (int t = 0; t < PROBES && ok; t++) {
        int64_t at = (int64_t)(rnd() % (uint32_t)n), plen = 8 + rnd() % 56;
        switch (t % 5) {
        case 0: /* short: many whole matches, the search stops at the first it meets */
            plen = 8 + rnd() % 4;
            /* fall through */
        case 1:
            if (at + plen > n) plen = n - at;
            if (plen < 8) continue;
            ok = same_find(name, &a, &b, d + at, plen, "text", plen);
            break;
        case 2: /* near the end: patterns that run into the last suffixes */
            at = n - 1 - rnd() % 200;
            plen = n - at;
            memcpy(p, d + at, (size_t)(plen < 96 ? plen : 96));
            if (plen > 96) plen = 96;
            if (plen >= 8) p[plen - 1] ^= (unsigned char)(rnd() % 2);
            ok = same_find(name, &a, &b, p, plen, "end", 0);
            break;
        case 3: /* a changed byte after the first two: another three-byte range, or none */
            if (at + plen > n) at = n - plen;
            memcpy(p, d + at, (size_t)plen);
            p[2 + rnd() % (uint32_t)(plen - 2)] = (unsigned char)rnd();
            ok = same_find(name, &a, &b, p, plen, "changed", 0);
            break;
        default: /* the first two bytes of the text, then anything */
            if (at + 2 > n) at = n - 2;
            p[0] = d[at];
            p[1] = d[at + 1];
            for (int64_t i = 2; i < plen; i++) p[i] = (unsigned char)rnd();
            ok = same_find(name, &a, &b, p, plen, "random", 0);
        }
    }
    /* the tails themselves: the last suffixes as patterns */
    for (int64_t at = n - 8; at >= n - 64 && ok; at--)
        ok = same_find(name, &a, &b, d + at, n - at, "tail", n - at);
out:
    bsd_sa_free(&a);
    bsd_sa_free(&b);
}

static int same_segs(const bsd_seglist *a, const bsd_seglist *b) {
    return a->n == b->n && (a->n == 0 || !memcmp(a->v, b->v, a->n * sizeof *a->v));
}

/* Bytes of new the segments match exactly. */
static int64_t seg_matched(const bsd_seglist *l, const bsd_finder *f, const unsigned char *nw) {
    int64_t c = 0;
    for (size_t i = 0; i < l->n; i++)
        for (int64_t k = 0; k < l->v[i].len; k++)
            c += nw[l->v[i].newp + k] == f->o->data[l->v[i].oldp + k];
    return c;
}

/* Both matchers over new in 1 MiB chunks: the same segments with the shortcuts that change no
 * answer as without them; with the classic scan's own rule (the rest of the match it is in,
 * not searched), other segments that match about as many bytes, in about as many segments. */
static void shortcuts_same(const char *name, const bsd_finder *f, const unsigned char *nw,
                           int64_t m) {
    bsd_scan_params prm = {.min_gain = 8, .trust = 32, .margin = 8, .min_cover = 8,
                           .stride_max = 8, .window = 16, .max_merge = 4096, .c_cmd = 160,
                           .c_lit = 7, .c_mis = 16, .c_match = 1, .ext_match = 1,
                           .ext_mism = 1, .real_close = 5};
    for (int64_t cs = 0; cs < m; cs += MIB) {
        int64_t ce = cs + MIB < m ? cs + MIB : m;
        bsd_seglist c[3] = {{0}}, b[3] = {{0}}, alt[3] = {{0}};
        for (int k = 0; k < 3; k++) {
            bsd_scan_shortcuts = k;
            CHECK(bsd_scan_chunk(f, nw, cs, ce, &prm, &c[k]) == 0, "%s: classic scan", name);
            CHECK(bsd_scan_both(f, nw, cs, ce, &prm, &b[k], &alt[k]) == 0, "%s: both", name);
        }
        bsd_scan_shortcuts = 2;
        int64_t m1 = seg_matched(&c[1], f, nw), m2 = seg_matched(&c[2], f, nw);
        CHECK(m2 * 1000 >= m1 * 995 && c[2].n * 100 <= c[1].n * 102,
              "%s: chunk at %lld: taking the match's rest: %lld bytes matched in %zu segments, "
              "searching: %lld in %zu", name, (long long)cs, (long long)m2, c[2].n,
              (long long)m1, c[1].n);
        CHECK(c[0].n > 100, "%s: chunk at %lld: only %zu segments", name, (long long)cs, c[0].n);
        CHECK(same_segs(&c[0], &c[1]), "%s: chunk at %lld: classic scan differs (%zu / %zu "
              "segments)", name, (long long)cs, c[0].n, c[1].n);
        CHECK(same_segs(&b[0], &b[1]) && same_segs(&alt[0], &alt[1]),
              "%s: chunk at %lld: the two matchers' results differ", name, (long long)cs);
        for (int k = 0; k < 3; k++) {
            bsd_seglist_free(&c[k]);
            bsd_seglist_free(&b[k]);
            bsd_seglist_free(&alt[k]);
        }
    }
}

/* Relocated machine code: old is code-like bytes (skewed, with short idioms that recur, so
 * that a match is often followed by a longer one elsewhere) holding 4-byte addresses; new
 * moves the addresses by a delta (outside every third 64 KiB), inserts and deletes here and
 * there, and has stretches of bytes old lacks (the filter's rejections). */
static void scan_shortcuts(void) {
    int64_t n = 3 * MIB + 123, m = 0;
    unsigned char *old = t_alloc((size_t)n), *nw = t_alloc((size_t)n + MIB);
    static const char idioms[8][6] = {"\x48\x89\xe5", "\x41\x57\x41\x56", "\x0f\x1f\x44",
                                      "\xc3\x90\x90", "\xe8", "\x48\x8b\x45", "\xff\x25",
                                      "\x31\xc0"};
    int64_t i = 0;
    while (i < n) {
        uint32_t r = rnd() % 10;
        if (r < 5) {
            const char *s = idioms[rnd() % 8];
            for (size_t k = 0; s[k] && i < n; k++) old[i++] = (unsigned char)s[k];
        } else if (r < 7 && i + 4 <= n) { /* an address */
            uint32_t a = 0x400000 + rnd() % 0x10000;
            memcpy(old + i, &a, 4);
            i += 4;
        } else {
            old[i++] = rnd() % 3 ? (unsigned char)(rnd() % 16) : (unsigned char)rnd();
        }
    }
    int64_t at_new[64], at_old[64]; /* places in the data that does not move */
    int nat = 0;
    for (i = 0; i < n;) {
        if ((i >> 16) % 3 == 0 && (i & 0xFFFF) == 0x100 && nat < 64) {
            at_new[nat] = m;
            at_old[nat++] = i;
        }
        uint32_t r = rnd() % 1000;
        if (r < 2) { /* insert */
            for (int k = 0; k < 40; k++) nw[m++] = (unsigned char)rnd();
        } else if (r < 4) { /* delete */
            i += 1 + rnd() % 64;
        } else if (r < 5 && m < 2 * MIB) { /* a stretch old lacks */
            for (int k = 0; k < 3000; k++) nw[m++] = (unsigned char)rnd();
        } else if (i + 4 <= n && old[i + 2] == 0x40 && old[i + 3] == 0 && (i >> 16) % 3) {
            /* (every third 64 KiB of old is data that does not move) */
            uint32_t a;
            memcpy(&a, old + i, 4);
            a += 0x1230;
            memcpy(nw + m, &a, 4);
            m += 4;
            i += 4;
        } else {
            nw[m++] = old[i++];
        }
        if (m + 4000 > n + MIB) break;
    }
    bsd_ctx *c = bsd_create();
    bsd_old *o = NULL;
    bsd_sa s;
    char err[256];
    CHECK(c && bsd_prepare_old(c, old, (size_t)n, &o) == BSD_OK, "shortcuts: prepare");
    CHECK(bsd_sa_build(&s, old, n, 24, BIG_ROOM, 2, BIG_ROOM, err, sizeof err) == 0,
          "shortcuts: build: %s", err);
    if (o) {
        bsd_finder f = {.o = o, .sa = &s};
        shortcuts_same("relocated code", &f, nw, m);
        /* with anchors: exact stretches taken as given, the suffix array elsewhere */
        bsd_seglist anc = {0};
        for (int k = 0; k < nat; k++) {
            int64_t l =
                bsd_matchlen(nw + at_new[k], m - at_new[k], old + at_old[k], n - at_old[k]);
            if (l >= 64 && (!anc.n || anc.v[anc.n - 1].newp + anc.v[anc.n - 1].len <= at_new[k]))
                bsd_seglist_push(&anc, at_new[k], at_old[k], l);
        }
        CHECK(anc.n >= 3, "shortcuts: only %zu anchors", anc.n);
        f.anc = anc.v;
        f.nanc = anc.n;
        shortcuts_same("relocated code with anchors", &f, nw, m);
        bsd_seglist_free(&anc);
        bsd_old_free(o);
    }
    bsd_sa_free(&s);
    bsd_free(c);
    free(old);
    free(nw);
}

/* The pre-match of new against old on one thread and on two: the same anchors and result. */
static void prematch_same(const char *name, const unsigned char *old, size_t n,
                          const unsigned char *nw, size_t m, int want_rc) {
    bsd_ctx *c = bsd_create();
    bsd_old *o = NULL;
    CHECK(c && bsd_prepare_old(c, old, n, &o) == BSD_OK, "%s: prepare", name);
    if (!o) {
        bsd_free(c);
        return;
    }
    bsd_seglist a = {0}, b = {0};
    int ra = bsd_prematch(o, nw, (int64_t)m, 1, &a), rb = bsd_prematch(o, nw, (int64_t)m, 2, &b);
    CHECK(ra == want_rc && rb == ra, "%s: result %d on one thread, %d on two (want %d)", name, ra,
          rb, want_rc);
    CHECK(a.n == b.n && (a.n == 0 || !memcmp(a.v, b.v, a.n * sizeof *a.v)),
          "%s: %zu anchors on one thread, %zu on two, or they differ", name, a.n, b.n);
    CHECK(want_rc == 0 || a.n > 0, "%s: no anchors", name);
    bsd_seglist_free(&a);
    bsd_seglist_free(&b);
    bsd_old_free(o);
    bsd_free(c);
}

static void prematch_tests(void) {
    size_t n = (size_t)6 << 20, m;
    unsigned char *old = t_gen(T_TEXT, n, 5);
    /* a few edits: the walks meet just past the middle */
    unsigned char *nw = t_mutate(old, n, 12, 41, &m);
    prematch_same("few edits", old, n, nw, m, 1);
    free(nw);
    /* many edits, binary-like data */
    unsigned char *bin = t_gen(T_BINARY, n, 6);
    nw = t_mutate(bin, n, 60, 42, &m);
    prematch_same("many edits", bin, n, nw, m, 1);
    free(nw);
    /* the second half of new unlike old, then old again at the end: the walks meet late */
    nw = t_alloc(n);
    memcpy(nw, old, n);
    for (size_t i = n / 2 - 1000; i < n / 2 + n / 4; i++) nw[i] = (unsigned char)t_rnd(&rng);
    prematch_same("unlike middle", old, n, nw, n, 1);
    /* new unlike old: both give up */
    for (size_t i = 0; i < n; i++) nw[i] = (unsigned char)t_rnd(&rng);
    prematch_same("unlike", old, n, nw, n, 0);
    /* only the first eighth unlike old: the one-thread walk gives up there, so must two */
    memcpy(nw + n / 4, old + n / 4, n - n / 4);
    prematch_same("unlike start", old, n, nw, n, 0);
    free(nw);
    free(bin);
    free(old);

    /* Just over the two-thread size, the give-up test comes late: new starts with 900 KB unlike
     * old, then 350 KB of old, then unlike bytes again. The one-thread walk reaches the middle
     * inside that anchor with the test still to come, and gives up right after it; the two
     * walks must not meet before the test is made. */
    size_t sm = ((size_t)2 << 20) + (200 << 10);
    old = t_gen(T_TEXT, sm, 8);
    nw = t_alloc(sm);
    memcpy(nw, old, sm);
    for (size_t i = 0; i < 900000; i++) nw[i] = (unsigned char)t_rnd(&rng);
    for (size_t i = 1250000; i < sm; i++) nw[i] = (unsigned char)t_rnd(&rng);
    prematch_same("late give-up", old, sm, nw, sm, 0);
    free(nw);
    free(old);

    /* The walks end an anchor at the same place on different alignments: old holds a block
     * twice (the table knows the first copy), new is old shifted by 100 bytes with a changed
     * byte where the second copy ends, then 20 bytes still on the shift (found only by a walk
     * on that alignment), then other bytes. The second walk starts inside the second copy, on
     * the first copy's alignment: meeting it there would lose the 20-byte anchor. */
    n = (size_t)6 << 20;
    old = t_gen(T_TEXT, n, 9);
    size_t c1 = 10016, c2 = n / 2 - 60000, len = 100000; /* same phase in 32-byte blocks */
    memcpy(old + c2, old + c1, len);
    nw = t_alloc(n);
    for (size_t i = 0; i < 100; i++) nw[i] = (unsigned char)t_rnd(&rng);
    memcpy(nw + 100, old, n - 100);
    size_t e = c2 + len + 100; /* in new: where the second copy ends */
    nw[e] ^= 0x55;
    nw[(size_t)3 << 19] ^= 0x55; /* an early change: the give-up test is made before e */
    for (size_t i = e + 21; i < e + 400; i++) nw[i] = (unsigned char)t_rnd(&rng);
    prematch_same("two alignments", old, n, nw, n, 1);
    free(nw);
    free(old);

    /* A block held twice in old (the table knows the first copy), and new = old with 5 bytes
     * inserted right before the second copy: the walk must pick the second copy up again near
     * its shifted alignment, not jump back to the first one. */
    n = (size_t)3 << 20;
    old = t_gen(T_TEXT, n, 10);
    c1 = (size_t)1 << 20;
    c2 = (size_t)2 << 20;
    memcpy(old + c2, old + c1, (size_t)64 << 10);
    nw = t_alloc(n + 5);
    memcpy(nw, old, c2);
    for (size_t i = 0; i < 5; i++) nw[c2 + i] = (unsigned char)t_rnd(&rng);
    memcpy(nw + c2 + 5, old + c2, n - c2);
    prematch_same("nearby copy", old, n, nw, n + 5, 1);
    {
        bsd_ctx *c = bsd_create();
        bsd_old *o = NULL;
        bsd_seglist a = {0};
        CHECK(c && bsd_prepare_old(c, old, n, &o) == BSD_OK, "nearby copy: prepare");
        if (o && bsd_prematch(o, nw, (int64_t)(n + 5), 1, &a) == 1) {
            int64_t at = (int64_t)c2 + 5 + 1000, off = INT64_MIN;
            for (size_t i = 0; i < a.n; i++)
                if (a.v[i].newp <= at && at < a.v[i].newp + a.v[i].len)
                    off = a.v[i].oldp - a.v[i].newp;
            CHECK(off == -5, "nearby copy: new's second copy anchored at offset %lld, not -5 (the "
                  "copy after the same bytes as in new)", (long long)off);
        } else {
            CHECK(0, "nearby copy: the pre-match failed or gave up");
        }
        bsd_seglist_free(&a);
        bsd_old_free(o);
        bsd_free(c);
    }
    free(nw);
    free(old);

    /* Long runs of one byte, resized in new: near any place the current alignment puts a block
     * of a run, old has the same bytes for a little while (the rest of a run), the table's
     * place for as long as the run; taking the near one each time cut the anchors into pieces
     * (tens of thousands here, and a scan of minutes on 16 MB) */
    n = (size_t)4 << 20;
    old = t_alloc(n);
    nw = t_alloc(n + (n >> 2));
    size_t at = 0, an = 0;
    while (at < n) {
        size_t len = 16384 + t_rnd(&rng) % 65536, nl = len + t_rnd(&rng) % 2048 - 1024;
        unsigned char b = (unsigned char)t_rnd(&rng);
        if (len > n - at) len = n - at;
        memset(old + at, b, len);
        if (an + nl <= n + (n >> 2)) {
            memset(nw + an, b, nl);
            an += nl;
        }
        at += len;
    }
    {
        bsd_ctx *c = bsd_create();
        bsd_old *o = NULL;
        bsd_seglist a = {0};
        CHECK(c && bsd_prepare_old(c, old, n, &o) == BSD_OK, "runs: prepare");
        int rc = o ? bsd_prematch(o, nw, (int64_t)an, 1, &a) : -1;
        CHECK(rc == 1 && a.n < 1000, "runs: pre-match %d with %zu anchors (a few per run wanted)",
              rc, a.n);
        bsd_seglist_free(&a);
        bsd_old_free(o);
        bsd_free(c);
    }
    prematch_same("runs", old, n, nw, an, 1);
    free(nw);
    free(old);
}

/* The filter's false passes: over a random text with 8 filter bits per position (where one
 * bit per q-gram passes 11.7% of absent ones), two bits in one word must pass well under 8%.
 * A filter that lets more through still finds the same matches, only slower, so this is the
 * test that would notice. */
static void filter_rate(void) {
    int64_t n = MIB;
    unsigned char *d = t_alloc((size_t)n);
    for (int64_t i = 0; i < n; i++) d[i] = (unsigned char)rnd();
    bsd_sa s;
    char err[256];
    CHECK(bsd_sa_build(&s, d, n, 30, 0, 1, 0, err, sizeof err) == 0, "filter: build: %s", err);
    CHECK(((uint64_t)1 << s.bloom_bits) == (uint64_t)8 * (uint64_t)n, "filter: %llu bits for %lld "
          "positions", (unsigned long long)1 << s.bloom_bits, (long long)n);
    int64_t pass = 0, tries = 200000, held = 0;
    unsigned char q[8];
    for (int64_t t = 0; t < tries; t++) {
        for (int k = 0; k < 8; k++) q[k] = (unsigned char)rnd();
        pass += bsd_sa_maybe(&s, q); /* random 8-grams: absent but for 1 in 2^40 */
        held += bsd_sa_maybe(&s, d + rnd() % (uint32_t)(n - 7));
    }
    CHECK(held == tries, "filter: %lld of %lld q-grams of the text ruled out",
          (long long)(tries - held), (long long)tries);
    CHECK(pass * 100 < tries * 8, "filter: %.2f%% of absent q-grams pass", 100.0 * pass / tries);
    /* the filter read for several positions at once: bit i is the answer at the i-th (over
     * random bytes holding a piece of the text; positions in order, some repeated) */
    unsigned char r[72];
    int64_t wrong = 0, present = 0, at[32];
    for (int t = 0; t < 2000; t++) {
        for (int k = 0; k < 72; k++) r[k] = (unsigned char)rnd();
        memcpy(r + rnd() % 40, d + rnd() % (uint32_t)(n - 24), 24);
        int count = 1 + (int)(rnd() % 32);
        for (int k = 0; k < count; k++) at[k] = (k ? at[k - 1] : 0) + rnd() % 3;
        if (at[count - 1] > 64) count = 1;
        uint32_t mask = bsd_sa_maybe_at(&s, r, at, count);
        for (int k = 0; k < 32; k++) {
            uint32_t want = k < count ? (uint32_t)bsd_sa_maybe(&s, r + at[k]) : 0;
            wrong += (mask >> k & 1) != want;
            present += want;
        }
    }
    CHECK(wrong == 0 && present > 2000, "filter: %lld answers of a run wrong (%lld present)",
          (long long)wrong, (long long)present);
    bsd_sa_free(&s);
    free(d);
}

/* Parts of old that repeat one another (three copies of a 64 KiB block, the last with one byte
 * changed, among unique bytes; and short parts, kept whole): the kept parts lie inside the
 * parts, in order, and hold less; every left-out range occurs in the kept text. */
static void dedupe(void) {
    int64_t blk = 64 << 10, gap = 10000, n = 3 * (blk + gap) + 500;
    unsigned char *d = t_alloc((size_t)n);
    for (int64_t i = 0; i < n; i++) d[i] = (unsigned char)rnd();
    for (int c = 1; c < 3; c++) memcpy(d + c * (blk + gap), d, (size_t)blk);
    d[2 * (blk + gap) + blk / 2] ^= 0x55;
    /* parts: [0, 3 (blk + gap)) less 16 bytes at an odd place (as the restricted index gets
     * them: never adjacent), and two short ones */
    int64_t r[8] = {0, blk + 1234, blk + 1250, 3 * (blk + gap) - blk - 1250, 3 * (blk + gap), 200,
                    3 * (blk + gap) + 300, 100};
    int64_t in_bytes = 0;
    for (int i = 0; i < 4; i++) in_bytes += r[2 * i + 1];
    int64_t nk = 0, kept = -1;
    int64_t *k = bsd_dedupe_parts(d, r, 4, &nk, &kept);
    CHECK(k != NULL, "dedupe: parts long enough to cut");
    if (!k) {
        free(d);
        return;
    }
    CHECK(kept < in_bytes - blk, "dedupe: %lld of %lld bytes kept, with two copies of %lld "
          "repeated", (long long)kept, (long long)in_bytes, (long long)blk);
    CHECK(kept > in_bytes - 2 * blk - 4096, "dedupe: %lld of %lld kept: more left out than "
          "repeats", (long long)kept, (long long)in_bytes);
    /* the kept text, and each kept part inside an input part, in order */
    unsigned char *kt = t_alloc((size_t)kept);
    int64_t at = 0, sum = 0, j = 0;
    for (int64_t i = 0; i < nk; i++) {
        int64_t b = k[2 * i], l = k[2 * i + 1];
        CHECK(l > 0 && b >= at, "dedupe: part %lld at %lld (after %lld)", (long long)i,
              (long long)b, (long long)at);
        while (j < 4 && r[2 * j] + r[2 * j + 1] <= b) j++;
        CHECK(j < 4 && b >= r[2 * j] && b + l <= r[2 * j] + r[2 * j + 1],
              "dedupe: part %lld [%lld, +%lld) outside the input parts", (long long)i,
              (long long)b, (long long)l);
        if (sum + l <= kept) memcpy(kt + sum, d + b, (size_t)l);
        sum += l;
        at = b + l;
    }
    CHECK(sum == kept, "dedupe: parts hold %lld, reported %lld", (long long)sum, (long long)kept);
    /* every left-out range: its bytes are in the kept text */
    int64_t ki = 0;
    for (int i = 0; i < 4 && sum == kept; i++) {
        for (int64_t p = r[2 * i], e = r[2 * i] + r[2 * i + 1]; p < e;) {
            while (ki < nk && k[2 * ki] + k[2 * ki + 1] <= p) ki++;
            int64_t q = ki < nk && k[2 * ki] < e ? k[2 * ki] : e;
            if (q <= p) {
                p = k[2 * ki] + k[2 * ki + 1];
                continue;
            }
            int found = 0;
            for (int64_t x = 0; x + (q - p) <= kept && !found; x++)
                found = kt[x] == d[p] && !memcmp(kt + x, d + p, (size_t)(q - p));
            CHECK(found, "dedupe: left out [%lld, %lld), not in the kept text", (long long)p,
                  (long long)q);
            p = q;
        }
    }
    free(kt);
    free(k);
    free(d);
}

/* The near-identical filter: old's uncovered parts keep only the pieces around strings new's
 * bytes outside the anchors hold. Random old text, three parts; new is random too, with its
 * anchors leaving three gaps, two of them holding copies of old text (300 bytes from the first
 * part, 100 from the third; one copy straddles a gap's end into the anchor): those pieces stay,
 * little else does, the kept parts lie inside the input parts in order, and one and two
 * threads keep the same. */
static void near_filter(void) {
    int64_t n = 200000, m = 100000;
    unsigned char *d = t_alloc((size_t)n), *nw = t_alloc((size_t)m);
    for (int64_t i = 0; i < n; i++) d[i] = (unsigned char)rnd();
    for (int64_t i = 0; i < m; i++) nw[i] = (unsigned char)rnd();
    int64_t r[6] = {0, 50000, 60000, 40000, 120000, 80000}, in_bytes = 170000;
    /* gaps of new: [20000, 21000), [50000, 50500), [80000, 80150); anchors around them */
    bsd_seg anc[4] = {{0, 0, 20000}, {21000, 0, 29000}, {50500, 0, 29500}, {80150, 0, 19850}};
    memcpy(nw + 20300, d + 10000, 300);
    memcpy(nw + 80050, d + 130000, 100);
    int64_t got[2][2], *k[2];
    for (unsigned th = 1; th <= 2; th++) {
        int64_t nk = 0, kept = in_bytes;
        k[th - 1] = bsd_near_parts(d, r, 3, nw, m, anc, 4, th, &nk, &kept);
        got[th - 1][0] = nk;
        got[th - 1][1] = kept;
        CHECK(k[th - 1] != NULL, "near: out of memory");
    }
    if (!k[0] || !k[1]) {
        free(d);
        free(nw);
        return;
    }
    CHECK(got[0][0] == got[1][0] && got[0][1] == got[1][1] &&
              !memcmp(k[0], k[1], (size_t)got[0][0] * 2 * sizeof(int64_t)),
          "near: one and two threads keep different parts");
    int64_t nk = got[0][0], kept = got[0][1], sum = 0, at = -1, j = 0;
    int copy1 = 0, copy2 = 0;
    for (int64_t i = 0; i < nk; i++) {
        int64_t b = k[0][2 * i], l = k[0][2 * i + 1];
        CHECK(l > 0 && b > at, "near: part %lld at %lld (after %lld)", (long long)i, (long long)b,
              (long long)at);
        while (j < 3 && r[2 * j] + r[2 * j + 1] <= b) j++;
        CHECK(j < 3 && b >= r[2 * j] && b + l <= r[2 * j] + r[2 * j + 1],
              "near: part [%lld, +%lld) outside the input parts", (long long)b, (long long)l);
        copy1 |= b <= 10000 && b + l >= 10300;
        copy2 |= b <= 130000 && b + l >= 130100;
        sum += l;
        at = b + l;
    }
    CHECK(sum == kept, "near: parts hold %lld, reported %lld", (long long)sum, (long long)kept);
    CHECK(copy1 && copy2, "near: the copied pieces are not kept whole (%d, %d)", copy1, copy2);
    CHECK(kept <= 400 + 2 * 2 * (256 + 64), "near: %lld of %lld bytes kept for 400 shared",
          (long long)kept, (long long)in_bytes);
    free(k[0]);
    free(k[1]);
    free(d);
    free(nw);
}

int main(void) {
    scan_shortcuts();
    filter_rate();
    dedupe();
    near_filter();

    int64_t n = 5 * MIB + 777;
    unsigned char *d = t_alloc((size_t)n);

    /* machine-code-like: a skewed byte distribution (zeros and a few opcodes common), so that
     * hundreds of two-byte buckets are large, with copied blocks for long matches */
    for (int64_t i = 0; i < n; i++) {
        uint32_t r = rnd() % 100;
        d[i] = r < 30 ? 0 : r < 45 ? 0xFF : r < 60 ? (unsigned char)(0x40 + rnd() % 8)
                                            : (unsigned char)rnd();
    }
    for (int k = 0; k < 200; k++) {
        int64_t len = 64 + rnd() % 4096, to = rnd() % (n - len), from = rnd() % (n - len);
        memmove(d + to, d + from, (size_t)len);
    }
    compare("skewed", d, n);

    /* the one-byte suffix: the text ends in 0x42 and 0x41 0xFF is a big bucket, whose range
     * then ends with that suffix */
    for (int64_t i = 0; i + 1 < n; i += 2) {
        d[i] = (unsigned char)(rnd() % 4 ? 0x41 : rnd());
        d[i + 1] = (unsigned char)(rnd() % 2 ? 0xFF : rnd());
    }
    d[n - 1] = 0x42;
    compare("one-byte tail", d, n);

    /* the two-byte suffix heads a big bucket: the text ends in a frequent pair */
    for (int64_t i = 0; i < n; i++) d[i] = (unsigned char)("abcab\0\0x"[rnd() % 8]);
    d[n - 2] = 'a';
    d[n - 1] = 'b';
    compare("two-byte tail", d, n);

    /* ends in zeros: no bucket before the one-byte suffix's own */
    d[n - 2] = 0;
    d[n - 1] = 0;
    compare("zero tail", d, n);

    prematch_tests();

    /* below the size that gets a table */
    CHECK(bsd_sub_bytes(MIB) == 0, "a 1 MiB text would get a second level");

    free(d);
    return t_done("bsdiff_find");
}
