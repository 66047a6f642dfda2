/* test_bsdiff_sort.c - the two-thread suffix sort (bsd_sort_split) gives exactly the suffix
 * array of one libdivsufsort call, on texts that stress its cut and its merge; it declines
 * (and leaves the work to the caller) where it cannot be exact or has no room; and the index
 * built on it (bsd_sa_build: array, bucket table, filter) is the one-thread index. */
#include <divsufsort.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bsd_internal.h"
#include "t_check.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) { return t_rnd(&rng); }

#define MIB ((int64_t)1 << 20)
#define BIG_ROOM ((uint64_t)1 << 40)

/* Three side parts; each must run once (hex digit k of side_runs counts part k, from two
 * threads: an atomic add). */
#define SIDE_PARTS 3
static _Atomic int side_runs;
static void side(void *arg, int part) {
    (void)arg;
    side_runs += 1 << (4 * part);
}
#define SIDE_ONCE 0x111

/* Sorts d[0, n) both ways; returns bsd_sort_split's code and checks the arrays agree. */
static int split_matches(const char *name, const unsigned char *d, int64_t n, uint64_t room) {
    int32_t *want = t_alloc((size_t)n * 4), *got = t_alloc((size_t)n * 4);
    CHECK(divsufsort(d, want, (saidx_t)n) == 0, "%s: divsufsort failed", name);
    memset(got, 0xA5, (size_t)n * 4);
    side_runs = 0;
    int rc = bsd_sort_split(d, n, got, room, side, NULL, SIDE_PARTS);
    if (rc == 0) {
        int64_t i = 0;
        while (i < n && got[i] == want[i]) i++;
        CHECK(i == n, "%s: split array differs from divsufsort's at entry %lld", name,
              (long long)i);
        CHECK(side_runs == SIDE_ONCE, "%s: side parts ran %x times", name, side_runs);
    } else if (rc == 2) {
        CHECK(side_runs == SIDE_ONCE, "%s: side parts ran %x times (merge gave up)", name,
              side_runs);
    } else {
        CHECK(side_runs == 0, "%s: side work ran although the sort declined", name);
    }
    free(want);
    free(got);
    return rc;
}

int main(void) {
    int64_t n = 5 * MIB + 12345;
    unsigned char *d = t_alloc((size_t)n);

    /* random bytes: short common prefixes everywhere */
    for (int64_t i = 0; i < n; i++) d[i] = (unsigned char)rnd();
    CHECK(split_matches("random", d, n, BIG_ROOM) == 0, "random: the sort declined");

    /* two letters: long runs of equal comparisons in the merge */
    for (int64_t i = 0; i < n; i++) d[i] = "ab"[rnd() & 1];
    CHECK(split_matches("binary alphabet", d, n, BIG_ROOM) == 0, "binary alphabet: declined");

    /* halves from disjoint alphabets: every suffix of one half sorts before every suffix of
     * the other, so the merge's pieces hold only A's entries or only B's */
    for (int64_t i = 0; i < n; i++) d[i] = (unsigned char)(rnd() % 128 + (i < n / 2 ? 0 : 128));
    CHECK(split_matches("A before B", d, n, BIG_ROOM) == 0, "A before B: declined");
    for (int64_t i = 0; i < n; i++) d[i] = (unsigned char)(rnd() % 128 + (i < n / 2 ? 128 : 0));
    CHECK(split_matches("B before A", d, n, BIG_ROOM) == 0, "B before A: declined");
    /* and A's entries in the middle of B's: pieces of each kind and mixed ones */
    for (int64_t i = 0; i < n; i++)
        d[i] = (unsigned char)(i < n / 2    ? 100 + rnd() % 50
                               : rnd() % 2 ? rnd() % 100
                                           : 150 + rnd() % 100);
    CHECK(split_matches("A inside B", d, n, BIG_ROOM) == 0, "A inside B: declined");

    /* text lines repeated with small edits (common prefixes of hundreds of bytes) */
    {
        static const char *words[] = {"function ", "return ", "var ", "this.", "const ",
                                      "(a, b)", " {\n", "}\n", "if (", " === ", "null"};
        unsigned char line[256];
        int64_t ll = 0;
        for (int k = 0; k < 20; k++) {
            const char *w = words[rnd() % 11];
            memcpy(line + ll, w, strlen(w));
            ll += (int64_t)strlen(w);
        }
        for (int64_t i = 0; i < n;) {
            for (int64_t k = 0; k < ll && i < n; k++) d[i++] = line[k];
            if (rnd() % 4 == 0) line[rnd() % ll] = (unsigned char)('a' + rnd() % 26);
        }
        CHECK(split_matches("edited lines", d, n, BIG_ROOM) == 0, "edited lines: declined");
    }

    /* a block copied across the middle: the guard bytes at n / 2 repeat before it, so the cut
     * must move to a later candidate, and the long duplicate tests the merge */
    for (int64_t i = 0; i < n; i++) d[i] = (unsigned char)rnd();
    memcpy(d + n / 2 - MIB / 2, d + MIB / 4, (size_t)MIB);
    CHECK(split_matches("duplicated middle", d, n, BIG_ROOM) == 0,
          "duplicated middle: declined though later cuts are exact");

    /* a long run of zeros in the middle, another one earlier */
    for (int64_t i = 0; i < n; i++) d[i] = (unsigned char)rnd();
    memset(d + MIB / 2, 0, (size_t)MIB / 2);
    memset(d + n / 2 - MIB / 4, 0, (size_t)MIB);
    CHECK(split_matches("zero runs", d, n, BIG_ROOM) == 0, "zero runs: not merged");

    /* a two-byte period in both halves away from the cut: each comparison inside it is long
     * and on a new diagonal, so the merge may give up (2), never take unbounded time */
    for (int64_t i = 0; i < n; i++) d[i] = (unsigned char)rnd();
    for (int64_t i = MIB; i < 2 * MIB; i++) d[i] = "xy"[i & 1];
    for (int64_t i = n / 2 + MIB / 2; i < n / 2 + MIB; i++) d[i] = "xy"[i & 1];
    {
        int rc = split_matches("periodic halves", d, n, BIG_ROOM);
        CHECK(rc == 0 || rc == 2, "periodic halves: code %d", rc);
    }

    /* periodic: the guard bytes repeat at every cut, so the sort must decline */
    for (int64_t i = 0; i < n; i++) d[i] = (unsigned char)"0123456789abcdef"[i % 16];
    CHECK(split_matches("periodic", d, n, BIG_ROOM) == 1, "periodic: not declined");

    /* no room, and too small: declined, nothing written */
    for (int64_t i = 0; i < n; i++) d[i] = (unsigned char)rnd();
    CHECK(split_matches("no room", d, n, MIB) == 1, "no room: not declined");
    CHECK(bsd_sort_tmp_bytes(n, MIB) == 0, "no room: temporary memory reported");
    CHECK(split_matches("small", d, MIB - 1, BIG_ROOM) == 1, "small: not declined");

    /* a room between the cuts: a smaller cut, its memory within the room */
    {
        uint64_t room = (uint64_t)n * 4 / 2 - 1; /* not enough for the middle cut */
        uint64_t tmp = bsd_sort_tmp_bytes(n, room);
        CHECK(tmp > 0 && tmp <= room, "tight room: temporary %llu for room %llu",
              (unsigned long long)tmp, (unsigned long long)room);
        CHECK(split_matches("tight room", d, n, room) == 0, "tight room: declined");
    }

    for (int64_t i = MIB; i < 2 * MIB; i++) d[i] = "xy"[i & 1];
    for (int64_t i = n / 2 + MIB / 2; i < n / 2 + MIB; i++) d[i] = "xy"[i & 1];

    /* random texts just above the split size, built from the things that make a merge hard:
     * small alphabets, blocks copied from earlier (sometimes across the cut), runs, and
     * short periods; whatever the sort answers, an array it returns is libdivsufsort's */
    {
        int64_t rn = MIB + 4096;
        unsigned char *r = t_alloc((size_t)rn);
        int merged = 0;
        for (int round = 0; round < 24; round++) {
            unsigned alpha = (unsigned[]){2, 4, 26, 256}[rnd() % 4];
            for (int64_t i = 0; i < rn; i++) r[i] = (unsigned char)('a' + rnd() % alpha);
            for (int k = (int)(rnd() % 6); k-- > 0;) {
                int64_t len = 1 + rnd() % (200 << 10);
                int64_t to = rnd() % (rn - len), from = rnd() % (rn - len);
                switch (rnd() % 3) {
                case 0: memmove(r + to, r + from, (size_t)len); break;
                case 1: memset(r + to, (int)(rnd() & 0xFF), (size_t)len); break;
                default: {
                    int64_t per = 1 + rnd() % 7;
                    for (int64_t i = per; i < len; i++) r[to + i] = r[to + i - per];
                }
                }
            }
            char name[32];
            snprintf(name, sizeof name, "random round %d", round);
            int rc = split_matches(name, r, rn, BIG_ROOM);
            CHECK(rc >= 0 && rc <= 2, "%s: code %d", name, rc);
            merged += rc == 0;
        }
        CHECK(merged >= 12, "only %d of 24 random texts were split and merged", merged);
        free(r);
    }

    /* the index: two threads (split sort, tables on the side) against one; the text still
     * holds the periodic stretches, so a merge that gives up falls back inside bsd_sa_build */
    {
        const int64_t sizes[] = {5 * MIB, 2 * MIB};
        for (int t = 0; t < 2; t++) {
            int64_t sn = sizes[t];
            bsd_sa a, b;
            char err[256];
            CHECK(bsd_sa_build(&a, d, sn, 24, 0, 1, 0, err, sizeof err) == 0, "build -j1: %s", err);
            for (int r = 0; r < 3; r++) {
                /* room for the split sort with the filter filled after the merge, during it,
                 * and none (one-thread sort, tables on the second thread) */
                uint64_t room = r == 0 ? bsd_sort_tmp_bytes(sn, BIG_ROOM) : r == 1 ? BIG_ROOM : 0;
                CHECK(bsd_sa_build(&b, d, sn, 24, 0, 2, room, err, sizeof err) == 0,
                      "build -j2: %s", err);
                CHECK(memcmp(a.sa, b.sa, (size_t)sn * 4) == 0, "index %lld/%d: arrays differ",
                      (long long)sn, r);
                CHECK(memcmp(a.bucket, b.bucket, 65537 * sizeof(int64_t)) == 0,
                      "index %lld/%d: bucket tables differ", (long long)sn, r);
                CHECK(a.bloom_bits == b.bloom_bits &&
                          memcmp(a.bloom, b.bloom, ((size_t)1 << a.bloom_bits) / 8) == 0,
                      "index %lld/%d: filters differ", (long long)sn, r);
                bsd_sa_free(&b);
            }
            bsd_sa_free(&a);
        }
    }

    free(d);
    return t_done("bsdiff_sort");
}
