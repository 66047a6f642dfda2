/* test_bsdiff_roundtrip.c - patches made by the bsdiff library rebuild new byte-exactly through
 * the bspatch library: random and structured files of many sizes with every kind of edit, both
 * formats, edge cases, adversarial inputs, the same bytes for every thread count, and the API's
 * error paths. */
#include "bsd_testutil.h"

static const bsd_format formats[] = {BSD_FORMAT_BSDELTA, BSD_FORMAT_BSDIFF40};
static const char *fname(bsd_format f) { return f == BSD_FORMAT_BSDELTA ? "bsdelta" : "bsdiff40"; }

/* Checks both formats, and that threads 1, 2 and 4 give identical bytes. */
/* Both formats, BSDELTA with each compressor: variant 0 BSDELTA/bzip2, 1 BSDIFF40, 2
 * BSDELTA/zstd. */
static void check_pair(const char *what, const unsigned char *old, size_t n,
                       const unsigned char *nw, size_t m, int check_threads) {
    for (int v = 0; v < 3; v++) {
        int f = v % 2;
        t_comp = v == 2 ? BSD_COMP_ZSTD : BSD_COMP_BZIP2;
        const char *vn = v == 2 ? "bsdelta/zstd" : fname(formats[f]);
        size_t plen = 0;
        int ok = t_roundtrip(old, n, nw, m, formats[f], 1, &plen);
        CHECK(ok, "%s (%s, old %zu, new %zu): round trip", what, vn, n, m);
        if (!check_threads) continue;
        size_t l1, l2, l4;
        unsigned char *p1 = t_diff(old, n, nw, m, formats[f], 1, &l1);
        unsigned char *p2 = t_diff(old, n, nw, m, formats[f], 2, &l2);
        unsigned char *p4 = t_diff(old, n, nw, m, formats[f], 4, &l4);
        CHECK(p1 && p2 && p4 && l1 == l2 && l1 == l4 && !memcmp(p1, p2, l1) &&
                  !memcmp(p1, p4, l1),
              "%s (%s): patches differ between 1, 2 and 4 threads (%zu/%zu/%zu bytes)", what, vn,
              l1, l2, l4);
        bsd_buffer_free(p1);
        bsd_buffer_free(p2);
        bsd_buffer_free(p4);
    }
    t_comp = BSD_COMP_BZIP2;
}

static void property_tests(void) {
    static const size_t sizes[] = {0, 1, 7, 100, 4096, 70001, 300000};
    uint64_t seed = 1;
    for (int kind = 0; kind < T_KINDS; kind++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si];
            unsigned char *old = t_gen((enum t_kind)kind, n, seed++);
            for (int nmut = 1; nmut <= 16; nmut *= 4) {
                size_t m;
                unsigned char *nw = t_mutate(old, n, nmut, seed++, &m);
                char what[64];
                snprintf(what, sizeof what, "kind %d, %d edits", kind, nmut);
                check_pair(what, old, n, nw, m, 0);
                free(nw);
            }
            free(old);
        }
    }
}

/* Larger than one scan chunk (1 MiB) so that the split over threads is exercised. */
static void thread_tests(void) {
    size_t n = 1300000, m;
    for (int kind = T_TEXT; kind <= T_BINARY; kind++) {
        unsigned char *old = t_gen((enum t_kind)kind, n, 100 + (uint64_t)kind);
        unsigned char *nw = t_mutate(old, n, 12, 200 + (uint64_t)kind, &m);
        check_pair(kind == T_TEXT ? "text 1.3 MB" : "binary 1.3 MB", old, n, nw, m, 1);
        /* near-identical: a few byte flips (the pre-match path) */
        memcpy(nw, old, n);
        for (size_t i = 1; i < 6; i++) nw[i * n / 6] ^= 0x55;
        check_pair("near-identical 1.3 MB", old, n, nw, n, 1);
        free(old);
        free(nw);
    }
    /* new text, then new binary data: the bzip2 writer ends a block where the data changes
     * character; the classic scan is tried on each chunk's first 128 KiB */
    size_t h = 1200000;
    unsigned char *old = t_gen(T_TEXT, 2 * h, 300), *nw = malloc(2 * h);
    unsigned char *text = t_gen(T_TEXT, h, 301), *bin = t_gen(T_BINARY, h, 302);
    CHECK(old && nw && text && bin, "out of memory");
    memcpy(nw, text, h);
    memcpy(nw + h, bin, h);
    check_pair("text then binary 2.4 MB", old, 2 * h, nw, 2 * h, 1);
    free(text);
    free(bin);
    free(old);
    free(nw);
}

static void edge_cases(void) {
    unsigned char *big = t_gen(T_BINARY, 200000, 7);
    unsigned char one = 'x', other = 'y';
    check_pair("both empty", NULL, 0, NULL, 0, 1);
    check_pair("empty old", NULL, 0, big, 200000, 1);
    check_pair("empty new", big, 200000, NULL, 0, 1);
    check_pair("one byte, same", &one, 1, &one, 1, 0);
    check_pair("one byte, other", &one, 1, &other, 1, 0);
    check_pair("identical", big, 200000, big, 200000, 1);
    check_pair("old >> new", big, 200000, big + 150000, 300, 0);
    check_pair("new >> old", big + 1000, 300, big, 200000, 0);
    check_pair("new starts inside old", big, 200000, big + 777, 100000, 0);
    free(big);
}

/* Inputs that make a naive matcher quadratic; each must finish and round-trip. */
static void adversarial(void) {
    size_t n = 400000, i;
    unsigned char *a = t_alloc(n + 1), *b = t_alloc(n + 1);
    uint64_t st = 99;

    memset(a, 'a', n); /* long run of one byte against a slightly different run */
    memset(b, 'a', n);
    b[n / 2] = 'b';
    check_pair("run of one byte", a, n, b, n - 1000, 0);

    for (i = 0; i < n; i++) a[i] = (unsigned char)(t_rand(&st) % 251); /* periodic, period 1000 */
    for (i = 1000; i < n; i++) a[i] = a[i - 1000];
    memcpy(b, a, n);
    for (i = 0; i < n; i += 4093) b[i] ^= 1;
    check_pair("periodic", a, n, b + 500, n - 500, 0);

    unsigned char *r = t_gen(T_RANDOM, n, 5); /* every 7th byte changed */
    memcpy(b, r, n);
    for (i = 0; i < n; i += 7) b[i] ^= 0xa5;
    check_pair("every 7th byte", r, n, b, n, 0);

    unsigned char *r2 = t_gen(T_RANDOM, n, 6); /* unrelated */
    check_pair("unrelated random", r, n, r2, n, 0);
    /* large enough that a chunk probes the classic scan first (which finds nothing here) */
    size_t big = 1600000;
    unsigned char *r3 = t_gen(T_RANDOM, big, 7), *r4 = t_gen(T_RANDOM, big, 8);
    check_pair("unrelated random, 1.6 MB", r3, big, r4, big, 0);
    free(r3);
    free(r4);

    check_pair("shifted by one", r, n, r + 1, n - 1, 0); /* old = new shifted by one byte */
    memcpy(b + 1, r, n - 1);
    b[0] = 0;
    check_pair("shifted by one (other way)", r, n, b, n, 0);
    free(a);
    free(b);
    free(r);
    free(r2);
}

static int file_sink(void *opaque, const void *buf, size_t len) {
    return fwrite(buf, 1, len, (FILE *)opaque) == len ? 0 : -1;
}
static int fail_sink(void *opaque, const void *buf, size_t len) {
    (void)opaque, (void)buf, (void)len;
    return -1;
}
static int cancel_progress(void *opaque, bsd_stage st, uint64_t done, uint64_t total) {
    (void)opaque, (void)st, (void)done, (void)total;
    return 1;
}

static void api_tests(void) {
    size_t n = 150000;
    unsigned char *old = t_gen(T_TEXT, n, 11);
    bsd_ctx *c = bsd_create();
    bsd_options o;

    /* one prepared old, several new files, both formats */
    bsd_old *po = NULL;
    CHECK(bsd_prepare_old(c, old, n, &po) == BSD_OK && po, "prepare");
    for (int k = 0; k < 3; k++) {
        size_t m;
        unsigned char *nw = t_mutate(old, n, 3 + k * 5, 300 + (uint64_t)k, &m);
        for (int f = 0; f < 2; f++) {
            bsd_options_init(&o);
            o.format = formats[f];
            CHECK(bsd_set_options(c, &o) == BSD_OK, "options");
            FILE *fp = tmpfile();
            bsd_sink s = {fp, NULL};
            CHECK(bsd_diff(c, po, nw, m, &s) == BSD_E_MISUSE, "NULL write callback");
            size_t plen, olen;
            unsigned char *p = NULL, *out = NULL;
            /* through the convenience file writer and back */
            rewind(fp);
            CHECK(bsd_diff_to_file(c, old, n, nw, m, fp) == BSD_OK, "to file: %s", bsd_detail(c));
            plen = (size_t)ftell(fp);
            p = t_alloc(plen);
            rewind(fp);
            CHECK(fread(p, 1, plen, fp) == plen, "read back");
            fclose(fp);
            CHECK(t_apply(old, n, p, plen, m, &out, &olen) == BSP_OK && olen == m &&
                      !memcmp(out, nw, m),
                  "prepared old, new #%d, %s", k, fname(formats[f]));
            free(p);
            free(out);
        }
        free(nw);
    }
    CHECK(bsd_old_build_index(c, po) == BSD_OK, "build index");
    {
        size_t m;
        unsigned char *nw = t_mutate(old, n, 9, 77, &m);
        CHECK(t_roundtrip(old, n, nw, m, BSD_FORMAT_BSDELTA, 1, NULL), "after build_index");
        bsd_sink s = {NULL, fail_sink};
        CHECK(bsd_diff(c, po, nw, m, &s) == BSD_E_WRITE && bsd_detail(c)[0], "failing sink");
        free(nw);
    }
    bsd_old_free(po);
    bsd_old_free(NULL);

    /* An old diffed once (the convenience calls drop its block index after the pre-match) and
     * the same old prepared and reused: the same patches, from the fast path each time. Large
     * enough for the pre-match to replace the full suffix array. */
    {
        size_t bn = (size_t)6 << 20, m;
        unsigned char *big = t_gen(T_TEXT, bn, 21);
        bsd_old *bo = NULL;
        bsd_options_init(&o);
        CHECK(bsd_set_options(c, &o) == BSD_OK && bsd_prepare_old(c, big, bn, &bo) == BSD_OK,
              "prepare 6 MiB");
        for (int k = 0; k < 2 && bo; k++) {
            unsigned char *nw = t_mutate(big, bn, 4 + k, 900 + (uint64_t)k, &m);
            unsigned char *once = NULL, *reused = NULL;
            size_t lonce = 0, lreused = 0;
            bsd_stats st1, st2;
            CHECK(bsd_diff_buffers(c, big, bn, nw, m, &once, &lonce) == BSD_OK, "once: %s",
                  bsd_detail(c));
            bsd_get_stats(c, &st1);
            FILE *fp = tmpfile();
            bsd_sink s = {fp, file_sink};
            CHECK(fp && bsd_diff(c, bo, nw, m, &s) == BSD_OK, "reused #%d: %s", k, bsd_detail(c));
            bsd_get_stats(c, &st2);
            if (fp) {
                lreused = (size_t)ftell(fp);
                reused = t_alloc(lreused);
                rewind(fp);
                CHECK(fread(reused, 1, lreused, fp) == lreused, "read back");
                fclose(fp);
            }
            CHECK(st1.fast_path == 1 && st2.fast_path == 1, "new #%d: fast path %d once, %d reused",
                  k, st1.fast_path, st2.fast_path);
            CHECK(once && reused && lonce == lreused && !memcmp(once, reused, lonce),
                  "new #%d: %zu bytes diffed once, %zu with the prepared old", k, lonce, lreused);
            bsd_buffer_free(once);
            free(reused);
            free(nw);
        }
        bsd_old_free(bo);
        free(big);
    }

    /* options */
    bsd_options_init(&o);
    o.format = (bsd_format)9;
    CHECK(bsd_set_options(c, &o) == BSD_E_MISUSE && bsd_detail(c)[0], "bad format");
    bsd_options_init(&o);
    o.level = 10;
    CHECK(bsd_set_options(c, &o) == BSD_E_MISUSE, "bad level");
    bsd_options_init(&o);
    o.format = BSD_FORMAT_BSDIFF40;
    o.compressor = BSD_COMP_ZSTD;
    CHECK(bsd_set_options(c, &o) == BSD_E_UNSUPPORTED, "zstd with bsdiff40");

    /* memory cap too small: clean failure with a message, no patch */
    bsd_options_init(&o);
    o.mem_limit = 1 << 20;
    CHECK(bsd_set_options(c, &o) == BSD_OK, "cap");
    unsigned char *p = NULL;
    size_t plen = 0;
    unsigned char *r = t_gen(T_RANDOM, n, 3);
    CHECK(bsd_diff_buffers(c, old, n, r, n, &p, &plen) == BSD_E_LIMIT && !p &&
              strstr(bsd_detail(c), "cap"),
          "memory cap: %s", bsd_detail(c));
    o.mem_limit = 0;
    o.progress = cancel_progress;
    bsd_set_options(c, &o);
    CHECK(bsd_diff_buffers(c, old, n, r, n, &p, &plen) == BSD_E_CANCELLED && !p, "cancel");
    CHECK(strcmp(bsd_strerror(BSD_E_LIMIT), bsd_strerror(BSD_E_NOMEM)) != 0, "strerror");
    CHECK(!strcmp(bsd_strerror((bsd_error)1234), "unknown error"), "strerror unknown");

    { /* zstd body at a chosen level: its header names compressor 2, and it applies */
        bsd_options_init(&o);
        o.compressor = BSD_COMP_ZSTD;
        o.level = 3;
        CHECK(bsd_have_zstd() && bsd_set_options(c, &o) == BSD_OK, "zstd options");
        CHECK(bsd_diff_buffers(c, old, n, r, n, &p, &plen) == BSD_OK && plen > 64 && p[56] == 2,
              "zstd patch");
        unsigned char *out = NULL;
        size_t olen = 0;
        CHECK(p && t_apply(old, n, p, plen, n, &out, &olen) == BSP_OK && olen == n &&
                  !memcmp(out, r, n),
              "zstd patch applies");
        free(out);
        bsd_buffer_free(p);
    }
    free(r);
    bsd_free(c);
    bsd_free(NULL);
    free(old);
}

#include <time.h>
static void run(const char *name, void (*fn)(void)) { /* prints durations for information only */
    clock_t t0 = clock();
    fn();
    printf("  %-16s %.2fs cpu\n", name, (double)(clock() - t0) / CLOCKS_PER_SEC);
}

int main(void) {
    run("property", property_tests);
    run("edge cases", edge_cases);
    run("adversarial", adversarial);
    run("threads", thread_tests);
    run("api", api_tests);
    return t_done("test_bsdiff_roundtrip");
}
