/* bsp_testutil.h - small helpers shared by the bspatch test programs: checks that count
 * failures instead of aborting, whole-file I/O, and deterministic test data. Header-only. */
#ifndef BSP_TESTUTIL_H
#define BSP_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bsdelta_testenc.h"

#include "t_check.h"

static inline unsigned char *t_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 65536, n = 0;
    unsigned char *b = t_alloc(cap);
    size_t k;
    while ((k = fread(b + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            unsigned char *nb = realloc(b, cap *= 2);
            if (!nb) exit(2);
            b = nb;
        }
    }
    fclose(f);
    *len = n;
    return b;
}

static inline int t_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int bad = len && fwrite(data, 1, len, f) != len;
    if (fclose(f) != 0) bad = 1;
    return bad ? -1 : 0;
}

/* Deterministic data kinds. */
enum t_kind { T_RANDOM, T_TEXT, T_ZEROS };

static inline unsigned char *t_gen(enum t_kind kind, size_t len, uint64_t seed) {
    static const char *words[] = {"the ", "patch ", "old ", "new ", "file ", "bytes ",
                                  "stream ", "header ", "\n", "of ", "a ", "delta "};
    unsigned char *b = t_alloc(len);
    uint64_t st = seed;
    size_t i = 0;
    while (i < len) {
        if (kind == T_RANDOM) {
            b[i++] = (unsigned char)tenc_rand(&st);
        } else if (kind == T_ZEROS) {
            b[i++] = 0;
        } else {
            const char *w = words[tenc_rand(&st) % (sizeof words / sizeof words[0])];
            for (; *w && i < len; w++) b[i++] = (unsigned char)*w;
        }
    }
    return b;
}

/* A copy of src with a few realistic edits: byte changes, an insert and a deletion. */
static inline unsigned char *t_edit(const unsigned char *src, size_t len, uint64_t seed,
                                    size_t *out_len) {
    uint64_t st = seed;
    unsigned char *b = t_alloc(len + 64);
    memcpy(b, src, len);
    size_t n = len;
    for (int k = 0; k < 8 && n > 0; k++) b[tenc_rand(&st) % n] ^= (unsigned char)(1 + k);
    if (n > 0) { /* insert 40 bytes */
        size_t at = tenc_rand(&st) % n;
        memmove(b + at + 40, b + at, n - at);
        for (int k = 0; k < 40; k++) b[at + k] = (unsigned char)tenc_rand(&st);
        n += 40;
    }
    if (n > 100) { /* delete up to 30 bytes */
        size_t at = tenc_rand(&st) % (n - 30);
        memmove(b + at, b + at + 30, n - at - 30);
        n -= 30;
    }
    *out_len = n;
    return b;
}

#endif /* BSP_TESTUTIL_H */
