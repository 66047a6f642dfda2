/* t_deflate_fixtures.h - loads the deflate fixtures of tests/bspatch/deflate/ through their
 * manifest, fixtures.txt (written by make_fixtures.py, which documents its lines): every file
 * with the deflate streams bsp_dfl_find must report, the old/new pairs, the golden patches.
 * Header-only; used by the deflate tests of bspatch and bsdiff. */
#ifndef T_DEFLATE_FIXTURES_H
#define T_DEFLATE_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bsdelta_deflate.h"

#include "t_check.h"

#define DFX_MAX_FILES 64
#define DFX_MAX_RANGES 32
#define DFX_MAX_LINKS 8

typedef struct dfx_file {
    char name[64];
    unsigned char *data;
    size_t len;
    bsp_dfl_range want[DFX_MAX_RANGES]; /* what bsp_dfl_find must report, in order */
    size_t nwant;
    bsp_dfl_range refused[4]; /* valid deflate streams the module must not expand */
    size_t nrefused;
} dfx_file;

/* An old/new pair (name: its label), or a golden patch (name, data: the patch). */
typedef struct dfx_link {
    char name[64];
    const dfx_file *old, *nw;
    unsigned char *data;
    size_t len;
} dfx_link;

typedef struct dfx_set {
    dfx_file files[DFX_MAX_FILES];
    size_t nfiles;
    dfx_link pairs[DFX_MAX_LINKS];
    size_t npairs;
    dfx_link patches[DFX_MAX_LINKS];
    size_t npatches;
} dfx_set;

/* Whole file dir/name, or NULL. */
static inline unsigned char *dfx_slurp(const char *dir, const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *b = NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        b = t_alloc((size_t)size);
        if (fread(b, 1, (size_t)size, f) != (size_t)size) {
            free(b);
            b = NULL;
        }
        *len = (size_t)size;
    }
    fclose(f);
    return b;
}

static inline const dfx_file *dfx_get(const dfx_set *s, const char *name) {
    for (size_t i = 0; i < s->nfiles; i++)
        if (!strcmp(s->files[i].name, name)) return &s->files[i];
    return NULL;
}

/* Fills a link from "NAME OLD NEW" (the rest of a pair or patch line). */
static inline int dfx_link_parse(dfx_set *s, dfx_link *l) {
    const char *name = strtok(NULL, " \n"), *o = strtok(NULL, " \n"), *n = strtok(NULL, " \n");
    if (!name || !o || !n || strlen(name) >= sizeof l->name) return -1;
    strcpy(l->name, name);
    l->old = dfx_get(s, o);
    l->nw = dfx_get(s, n);
    return l->old && l->nw ? 0 : -1;
}

/* Loads dir/fixtures.txt and every file it names into *s (zeroed first). 0, or -1 with a
 * message on stderr. */
static inline int dfx_load(dfx_set *s, const char *dir) {
    memset(s, 0, sizeof *s);
    char path[1024], line[4096];
    snprintf(path, sizeof path, "%s/fixtures.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    int bad = 0;
    while (!bad && fgets(line, sizeof line, f)) {
        const char *kind = strtok(line, " \n");
        if (!kind || kind[0] == '#') continue;
        if (!strcmp(kind, "file")) {
            const char *name = strtok(NULL, " \n");
            if (s->nfiles == DFX_MAX_FILES || !name || strlen(name) >= 64) {
                bad = 1;
                break;
            }
            dfx_file *x = &s->files[s->nfiles++];
            strcpy(x->name, name);
            if (!(x->data = dfx_slurp(dir, name, &x->len))) bad = 1;
            for (const char *r; !bad && (r = strtok(NULL, " \n"));) {
                unsigned long long off, len;
                int refused = r[0] == '!';
                if (sscanf(r + refused, "%llu+%llu", &off, &len) != 2) bad = 1;
                else if (refused && x->nrefused < 4)
                    x->refused[x->nrefused++] = (bsp_dfl_range){off, len};
                else if (!refused && x->nwant < DFX_MAX_RANGES)
                    x->want[x->nwant++] = (bsp_dfl_range){off, len};
                else bad = 1;
            }
        } else if (!strcmp(kind, "pair") && s->npairs < DFX_MAX_LINKS) {
            bad = dfx_link_parse(s, &s->pairs[s->npairs++]) != 0;
        } else if (!strcmp(kind, "patch") && s->npatches < DFX_MAX_LINKS) {
            dfx_link *l = &s->patches[s->npatches++];
            bad = dfx_link_parse(s, l) != 0 || !(l->data = dfx_slurp(dir, l->name, &l->len));
        } else {
            bad = 1;
        }
    }
    fclose(f);
    if (bad) fprintf(stderr, "%s: a bad line, or a file it names is missing\n", path);
    return bad ? -1 : 0;
}

/* A test program's start: its one argument is the fixture directory. 0, or -1 after a
 * message. */
static inline int dfx_load_args(dfx_set *s, int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
        return -1;
    }
    return dfx_load(s, argv[1]);
}

static inline void dfx_free(dfx_set *s) {
    for (size_t i = 0; i < s->nfiles; i++) free(s->files[i].data);
    for (size_t i = 0; i < s->npatches; i++) free(s->patches[i].data);
}

/* Growable memory sink that can be told to fail: with fail set, a write that would take it
 * past fail_at bytes fails. */
typedef struct t_gsink {
    unsigned char *p;
    size_t len, cap;
    int fail;
    size_t fail_at;
    unsigned long calls;
} t_gsink;

static inline int t_gsink_write(void *opaque, const void *buf, size_t n) {
    t_gsink *g = opaque;
    g->calls++;
    if (g->fail && (g->len > g->fail_at || n > g->fail_at - g->len)) return -1;
    if (n > g->cap - g->len) {
        size_t cap = g->cap ? g->cap : 4096;
        while (cap - g->len < n) cap *= 2;
        unsigned char *p = realloc(g->p, cap);
        if (!p) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
        g->p = p;
        g->cap = cap;
    }
    memcpy(g->p + g->len, buf, n);
    g->len += n;
    return 0;
}

static inline bsp_sink t_gsink_sink(t_gsink *g) {
    bsp_sink s = {g, t_gsink_write};
    return s;
}

/* Empties the sink; its buffer is never NULL afterwards (memcmp on empty output). */
static inline void t_gsink_reset(t_gsink *g) {
    if (!g->p) {
        g->p = t_alloc(4096);
        g->cap = 4096;
    }
    g->len = 0;
    g->calls = 0;
}

/* How a test applies a patch: bsp_apply (a random-access patch), bsp_apply_stream (a reader
 * handing out chunk bytes at a time), or the push API fed chunk bytes at a time (chunk 0:
 * all at once). */
typedef enum t_via { T_VIA_APPLY, T_VIA_STREAM, T_VIA_PUSH } t_via;

static inline bsp_error t_dfx_apply(bsp_ctx *c, const unsigned char *patch, size_t plen,
                                    const unsigned char *old, size_t olen, t_via how, size_t chunk,
                                    t_gsink *out) {
    bsp_memsource ms, ps;
    bsp_source o, src;
    bsp_source_from_memory(&o, &ms, old, olen);
    bsp_source_from_memory(&src, &ps, patch, plen);
    bsp_sink sk = t_gsink_sink(out);
    t_gsink_reset(out);
    if (how == T_VIA_APPLY) return bsp_apply(c, &o, &src, &sk);
    if (how == T_VIA_STREAM) {
        bsp_memreader mr = {patch, plen, 0, chunk};
        bsp_reader rd;
        bsp_reader_from_memory(&rd, &mr);
        return bsp_apply_stream(c, &o, &rd, &sk);
    }
    if (chunk == 0) chunk = plen ? plen : 1;
    bsp_error e = bsp_stream_begin(c, &o, &sk);
    for (size_t pos = 0; !e && pos < plen; pos += chunk)
        e = bsp_stream_feed(c, patch + pos, chunk < plen - pos ? chunk : plen - pos);
    return e ? e : bsp_stream_finish(c);
}

#endif /* T_DEFLATE_FIXTURES_H */
