/* fuzz_make_seeds.c - writes the valid-patch seeds of corpus/bsdelta and corpus/bsdiff40 (made
 * with the test encoder against the fuzz targets' own old files). Run by hand when the input
 * layout of a target changes: fuzz_make_seeds OUTDIR_BSDELTA OUTDIR_BSDIFF40.
 * Two helpers for make_deflate_seeds.py: fuzz_make_seeds --old SEL FILE writes fuzz_bsdelta's
 * old file for selector SEL; fuzz_make_seeds --expand IN OUT writes the expansion of IN (all the
 * deflate streams bsp_dfl_find sees in it). */
#include "bsdelta_deflate.h"
#include "bsdelta_format.h"
#include "bsdelta_testenc.h"
#include "bsp_testutil.h"
#include "fuzz_olds.h"

static void put(const char *dir, const char *name, const unsigned char *pre, size_t prelen,
                const unsigned char *p, size_t len) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unsigned char *b = t_alloc(prelen + len);
    memcpy(b, pre, prelen);
    memcpy(b + prelen, p, len);
    if (t_write_file(path, b, prelen + len)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    free(b);
}

static int expand_file(const char *in, const char *out) {
    size_t n;
    unsigned char *d = t_read_file(in, &n);
    bsp_dfl_range *r;
    size_t count;
    if (!d || bsp_dfl_find(d, n, &r, &count) != BSP_OK) return 1;
    bsp_memsource ms;
    bsp_source src;
    bsp_source_from_memory(&src, &ms, d, n);
    FILE *f = fopen(out, "wb");
    if (!f) return 1;
    bsp_sink sink;
    bsp_sink_to_file(&sink, f);
    char detail[200];
    bsp_error e = bsp_dfl_expand(&src, r, count, &sink, NULL, detail, sizeof detail);
    if (e != BSP_OK) fprintf(stderr, "%s: %s\n", in, detail);
    int bad = fclose(f) != 0 || e != BSP_OK;
    bsp_dfl_free(r);
    free(d);
    return bad;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--old") == 0) {
        unsigned char old[FUZZ_BSDELTA_OLD_MAX];
        size_t ol = fuzz_bsdelta_old((unsigned)strtoul(argv[2], NULL, 0), old);
        return t_write_file(argv[3], old, ol) != 0;
    }
    if (argc == 4 && strcmp(argv[1], "--expand") == 0) return expand_file(argv[2], argv[3]);
    if (argc != 3) {
        fprintf(stderr, "usage: fuzz_make_seeds OUTDIR_BSDELTA OUTDIR_BSDIFF40\n"
                        "       fuzz_make_seeds --old SEL FILE | --expand IN OUT\n");
        return 1;
    }
    unsigned char old[FUZZ_BSDELTA_OLD_MAX];
    struct { unsigned oldsel, comp, chunk; uint64_t seed; int kind; } bl[] = {
        {50, 0, 0x05, 0, 0},  {50, 0, 0x85, 7, 0}, {50, 1, 0x03, 3, 0}, {50, 1, 0x83, 9, 1},
        {0, 0, 0x01, 5, 0},   {20, 0, 0x02, 0, 2}, {20, 1, 0x04, 0, 2}, {255, 0, 0x90, 11, 1},
        {50, 2, 0x05, 4, 0},  {255, 2, 0x83, 12, 1}, /* zstd bodies: raw mode only */
    };
    for (size_t i = 0; i < sizeof bl / sizeof bl[0]; i++) {
        size_t ol = fuzz_bsdelta_old(bl[i].oldsel, old), nl;
        unsigned char *nw;
        if (bl[i].kind == 2) { nw = t_alloc(0); nl = 0; }                 /* empty new */
        else if (bl[i].kind == 1) nw = t_gen(T_TEXT, nl = 300, i);          /* unrelated new */
        else nw = t_edit(old, ol, i + 1, &nl);                              /* edited old */
        if (ol == 0) { free(nw); nw = t_gen(T_RANDOM, nl = 100, 3); }
        unsigned char *p;
        size_t pl;
        char name[64];
        for (unsigned ver = 1; ver <= 2; ver++) {
            const char *tag = ver == 1 ? "" : "v2-";
            tenc_version = ver;
            /* raw mode: the whole patch as given */
            unsigned char pre[3] = {0, (unsigned char)bl[i].oldsel, (unsigned char)bl[i].chunk};
            if (tenc_encode(old, ol, nw, nl, bl[i].comp, bl[i].seed, &p, &pl)) return 1;
            snprintf(name, sizeof name, "seed-raw-%s%zu", tag, i);
            put(argv[1], name, pre, 3, p, pl);
            /* built-header mode: mode, oldsel, chunk (its top bit picks the version), new size
             * (2 bytes), new hash, body */
            if (nl <= 0xffff && bl[i].comp <= 1) { /* this mode picks none or bzip2 */
                unsigned chunk = ver == 2 ? (bl[i].chunk | 0x80) : (bl[i].chunk & 0x7f);
                unsigned char pre2[3 + 2 + 16] = {(unsigned char)(1 | (bl[i].comp << 1)),
                                                  (unsigned char)bl[i].oldsel,
                                                  (unsigned char)chunk, (unsigned char)nl,
                                                  (unsigned char)(nl >> 8)};
                tenc_hash(nw, nl, pre2 + 5);
                snprintf(name, sizeof name, "seed-hdr-%s%zu", tag, i);
                put(argv[1], name, pre2, sizeof pre2, p + BSDL_HEADER_LEN, pl - BSDL_HEADER_LEN);
            }
            free(p);
        }
        tenc_version = 1;
        free(nw);
    }
    struct { unsigned sel; uint64_t seed; int kind; } bd[] = {
        {100, 0, 0}, {100, 5, 0}, {100, 8, 1}, {0, 2, 1}, {30, 0, 2}, {255, 13, 0},
    };
    for (size_t i = 0; i < sizeof bd / sizeof bd[0]; i++) {
        size_t ol = fuzz_bsdiff40_old(bd[i].sel, old), nl;
        unsigned char *nw;
        if (bd[i].kind == 2) { nw = t_alloc(0); nl = 0; }
        else if (bd[i].kind == 1) nw = t_gen(T_TEXT, nl = 200, i);
        else nw = t_edit(old, ol, i + 1, &nl);
        unsigned char *p;
        size_t pl;
        char name[64];
        unsigned char pre[1] = {(unsigned char)bd[i].sel};
        if (tenc_bsdiff40(old, ol, nw, nl, bd[i].seed, &p, &pl)) return 1;
        snprintf(name, sizeof name, "seed-%zu", i);
        put(argv[2], name, pre, 1, p, pl);
        free(p);
        free(nw);
    }
    return 0;
}
