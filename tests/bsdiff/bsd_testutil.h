/* bsd_testutil.h - helpers shared by the bsdiff tests: counted checks, deterministic data of
 * several kinds, mutations that turn an old file into a new one, and patch application through
 * the bspatch library. Header-only. */
#ifndef BSD_TESTUTIL_H
#define BSD_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bsdiff.h"
#include "bspatch.h"

#include "t_check.h"

static inline uint64_t t_rand(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

enum t_kind { T_RANDOM, T_TEXT, T_BINARY, T_ZEROS, T_KINDS };

/* T_BINARY imitates machine code and tables: records with small integers and addresses,
 * repeated opcode-like patterns, padding. */
static inline unsigned char *t_gen(enum t_kind kind, size_t len, uint64_t seed) {
    static const char *words[] = {"function ", "return ", "var ", "this.", "(a, b)", "{\n",
                                  "}\n", "if ", "else ", "null", "0x", "const ", "=> ", ";"};
    unsigned char *b = t_alloc(len);
    uint64_t st = seed;
    size_t i = 0;
    while (i < len) {
        uint64_t r = t_rand(&st);
        if (kind == T_RANDOM) {
            for (int k = 0; k < 8 && i < len; k++) b[i++] = (unsigned char)(r >> (8 * k));
        } else if (kind == T_ZEROS) {
            b[i++] = 0;
        } else if (kind == T_TEXT) {
            const char *w = words[r % (sizeof words / sizeof words[0])];
            for (size_t k = 0; w[k] && i < len; k++) b[i++] = (unsigned char)w[k];
        } else {
            unsigned char rec[16] = {0x48, 0x8b, 0x05, 0, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0x90, 0x90,
                                     0xc3, 0};
            uint32_t addr = (uint32_t)(i * 3 + (r & 0xff));
            memcpy(rec + 3, &addr, 4);
            rec[8] = (unsigned char)(r >> 8);
            rec[15] = (unsigned char)(r >> 16 & 7);
            for (int k = 0; k < 16 && i < len; k++) b[i++] = rec[k];
        }
    }
    return b;
}

/* Applies nmut random edits of every kind to a copy of old. *out_len gets the new length. */
static inline unsigned char *t_mutate(const unsigned char *old, size_t n, int nmut, uint64_t seed,
                                      size_t *out_len) {
    size_t cap = n * 2 + 4096, len = n;
    unsigned char *b = t_alloc(cap);
    if (n) memcpy(b, old, n);
    uint64_t st = seed;
    for (int k = 0; k < nmut; k++) {
        uint64_t r = t_rand(&st);
        size_t at = len ? (size_t)(t_rand(&st) % len) : 0;
        size_t span = (size_t)(t_rand(&st) % (len / 8 + 64));
        switch (r % 7) {
        case 0: /* insert random bytes */
            if (len + span > cap) break;
            memmove(b + at + span, b + at, len - at);
            for (size_t i = 0; i < span; i++) b[at + i] = (unsigned char)t_rand(&st);
            len += span;
            break;
        case 1: /* delete */
            if (span > len - at) span = len - at;
            memmove(b + at, b + at + span, len - at - span);
            len -= span;
            break;
        case 2: { /* move a block */
            if (span > len - at) span = len - at;
            unsigned char *tmp = t_alloc(span);
            memcpy(tmp, b + at, span);
            memmove(b + at, b + at + span, len - at - span);
            size_t to = len - span ? (size_t)(t_rand(&st) % (len - span + 1)) : 0;
            memmove(b + to + span, b + to, len - span - to);
            memcpy(b + to, tmp, span);
            free(tmp);
            break;
        }
        case 3: { /* duplicate a block */
            if (span > len - at) span = len - at;
            if (len + span > cap) break;
            size_t to = (size_t)(t_rand(&st) % (len + 1));
            unsigned char *tmp = t_alloc(span);
            memcpy(tmp, b + at, span);
            memmove(b + to + span, b + to, len - to);
            memcpy(b + to, tmp, span);
            free(tmp);
            len += span;
            break;
        }
        case 4: /* flip bytes */
            for (size_t i = 0; i < span % 97 && len; i++) b[(at + i * 13) % len] ^= (unsigned char)(r >> 8 | 1);
            break;
        case 5: /* append */
            if (len + span > cap) break;
            for (size_t i = 0; i < span; i++) b[len + i] = (unsigned char)t_rand(&st);
            len += span;
            break;
        default: /* truncate */
            if (span < len) len -= span / 4;
            break;
        }
    }
    *out_len = len;
    return b;
}

/* Applies patch to old with the bspatch library; returns the bsp_error and the output. */
static inline bsp_error t_apply(const unsigned char *old, size_t n, const unsigned char *patch,
                                size_t plen, size_t expect_len, unsigned char **out,
                                size_t *out_len) {
    bsp_ctx *c = bsp_create();
    bsp_source so, sp;
    bsp_memsource mo, mp;
    bsp_source_from_memory(&so, &mo, old, n);
    bsp_source_from_memory(&sp, &mp, patch, plen);
    bsp_memsink ms = {t_alloc(expect_len + 1), expect_len + 1, 0};
    bsp_sink sk;
    bsp_sink_to_memory(&sk, &ms);
    bsp_error e = bsp_apply(c, &so, &sp, &sk);
    if (e) fprintf(stderr, "bspatch: %s: %s\n", bsp_strerror(e), bsp_detail(c));
    bsp_free(c);
    *out = ms.buf;
    *out_len = ms.len;
    return e;
}

/* Compressor t_diff uses for BSDELTA patches (BSDIFF40 is always bzip2). */
static bsd_compressor t_comp = BSD_COMP_BZIP2;

/* Diffs with the given format and threads; returns the patch (NULL on error). */
static inline unsigned char *t_diff(const unsigned char *old, size_t n, const unsigned char *nw,
                                    size_t m, bsd_format fmt, unsigned threads, size_t *plen) {
    bsd_ctx *c = bsd_create();
    bsd_options o;
    bsd_options_init(&o);
    o.format = fmt;
    o.threads = threads;
    if (fmt == BSD_FORMAT_BSDELTA) o.compressor = t_comp;
    unsigned char *p = NULL;
    bsd_error e = bsd_set_options(c, &o);
    if (!e) e = bsd_diff_buffers(c, old, n, nw, m, &p, plen);
    if (e) fprintf(stderr, "bsdiff: %s: %s\n", bsd_strerror(e), bsd_detail(c));
    bsd_free(c);
    return p;
}

/* Diff, apply, compare. Returns 1 when new is rebuilt byte-exactly. */
static inline int t_roundtrip(const unsigned char *old, size_t n, const unsigned char *nw,
                              size_t m, bsd_format fmt, unsigned threads, size_t *plen_out) {
    size_t plen = 0, olen = 0;
    unsigned char *p = t_diff(old, n, nw, m, fmt, threads, &plen), *out = NULL;
    if (!p) return 0;
    bsp_error e = t_apply(old, n, p, plen, m, &out, &olen);
    int ok = !e && olen == m && (m == 0 || memcmp(out, nw, m) == 0);
    if (plen_out) *plen_out = plen;
    bsd_buffer_free(p);
    free(out);
    return ok;
}

#endif
