/* fuzz_deflate.c - libFuzzer target for the deflate expansion (bsdelta_deflate.h): the
 * exactness claim on files, and the encoder on hostile expansions.
 *
 * Input layout: byte 0 mode, then the payload.
 *   mode bit 0 clear, "file": the payload is a file. bsp_dfl_find's ranges must be sorted,
 *     disjoint and inside the file; bsp_dfl_expand must accept them (all of them, or with mode
 *     bit 1 only those of even index: any subset of found streams is a valid list) and the
 *     encoder must turn the expansion back into exactly the payload.
 *   mode bit 0 set, "expansion": the payload is pushed into bsp_dfl_enc, then finished. Only
 *     documented errors, sticky, and a sink that is never called after a failure. With mode
 *     bit 1 the sink fails after a number of bytes taken from the mode. When the encoder
 *     accepts the payload, its output must pass the "file" check, and so must that output
 *     wrapped as a gzip member; if the payload starts with a deflate item, the wrapped file
 *     must have that stream found (the expander takes whatever the encoder writes).
 *   Bit 2 picks large push sizes (up to 64 KiB) instead of 1..17 bytes; bits 3-7 seed them. */
#include "bsdelta_deflate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUT ((size_t)1 << 20)

static void die(const char *what, long a, long b) {
    fprintf(stderr, "fuzz_deflate invariant violated: %s (%ld, %ld)\n", what, a, b);
    abort();
}

/* Push sizes from a tiny LCG. */
typedef struct chunker {
    uint32_t st;
    size_t lim;
} chunker;

static void chunker_init(chunker *c, unsigned mode, size_t size) {
    c->st = (mode >> 3) * 2654435761u + (uint32_t)size;
    c->lim = (mode & 4) ? 65536 : 17;
}
static size_t chunker_next(chunker *c, size_t left) {
    c->st = c->st * 1103515245u + 12345u;
    size_t k = 1 + (c->st >> 8) % c->lim;
    return k < left ? k : left;
}

/* Growing buffers for the expansion and the encoder's output, kept across inputs: the
 * library's in-memory scratch store used as a sink (max 0: no limit). */
static bsp_memscratch g_exp, g_out;
static bsp_scratch g_exp_store, g_out_store;

static void stores_init(void) {
    static int done;
    if (done) return;
    bsp_scratch_in_memory(&g_exp_store, &g_exp, 0);
    bsp_scratch_in_memory(&g_out_store, &g_out, 0);
    done = 1;
}

/* A sink that compares with the expected bytes; the first difference is fatal. */
typedef struct cmp_sink {
    const unsigned char *want;
    size_t n, pos;
} cmp_sink;

static int cmp_write(void *opaque, const void *p, size_t n) {
    cmp_sink *c = opaque;
    if (n > c->n - c->pos)
        die("re-encoding is longer than the original", (long)(c->pos + n), (long)c->n);
    const unsigned char *q = p;
    for (size_t i = 0; i < n; i++)
        if (q[i] != c->want[c->pos + i]) die("re-encoding differs from the original at byte",
                                             (long)(c->pos + i), (long)c->n);
    c->pos += n;
    return 0;
}

/* The exactness property on data[0, size). Returns the number of ranges found. */
static size_t check_file(const unsigned char *data, size_t size, unsigned mode) {
    bsp_dfl_range *r = NULL;
    size_t count = 0;
    bsp_error e = bsp_dfl_find(size ? data : NULL, size, &r, &count);
    if (e == BSP_E_NOMEM) return 0;
    if (e != BSP_OK) die("bsp_dfl_find failed", e, 0);
    if ((count == 0) != (r == NULL)) die("bsp_dfl_find: ranges and count disagree", (long)count, 0);
    uint64_t prev = 0;
    for (size_t i = 0; i < count; i++) {
        if (r[i].offset < prev || r[i].length == 0 || r[i].offset > size ||
            r[i].length > size - r[i].offset)
            die("bsp_dfl_find: a range out of order or outside the data", (long)i,
                (long)r[i].offset);
        prev = r[i].offset + r[i].length;
    }
    size_t kept = count;
    if (mode & 2) { /* even-index ranges only */
        kept = 0;
        for (size_t i = 0; i < count; i += 2) r[kept++] = r[i];
    }

    bsp_memsource ms;
    bsp_source src;
    bsp_source_from_memory(&src, &ms, size ? data : (const unsigned char *)"", size);
    g_exp_store.reset(g_exp_store.opaque);
    bsp_sink xs = {g_exp_store.opaque, g_exp_store.write};
    uint64_t xlen = 0;
    char detail[200];
    e = bsp_dfl_expand(&src, r, kept, &xs, &xlen, detail, sizeof detail);
    if (e == BSP_E_NOMEM || e == BSP_E_WRITE) goto out; /* out of memory, ours or theirs */
    if (e != BSP_OK) {
        fprintf(stderr, "bsp_dfl_expand: %s\n", detail);
        die("a found range does not expand", e, (long)kept);
    }
    if (xlen != g_exp.len)
        die("expanded_size differs from the bytes written", (long)xlen, (long)g_exp.len);

    cmp_sink cs = {data, size, 0};
    bsp_sink ks = {&cs, cmp_write};
    bsp_dfl_enc *enc = bsp_dfl_enc_create(&ks);
    if (!enc) goto out;
    chunker ch;
    chunker_init(&ch, mode, size);
    for (size_t pos = 0; e == BSP_OK && pos < g_exp.len;) {
        size_t k = chunker_next(&ch, g_exp.len - pos);
        e = bsp_dfl_enc_write(enc, g_exp.buf + pos, k);
        pos += k;
    }
    if (e == BSP_OK) e = bsp_dfl_enc_finish(enc);
    if (e != BSP_OK) {
        fprintf(stderr, "encoder: %s\n", bsp_dfl_enc_detail(enc));
        die("the encoder refuses an expansion", e, (long)cs.pos);
    }
    if (cs.pos != size || bsp_dfl_enc_written(enc) != size)
        die("re-encoding is shorter than the original", (long)cs.pos, (long)size);
    bsp_dfl_enc_free(enc);
out:
    bsp_dfl_free(r);
    return count;
}

/* The encoder's sink: g_out, failing once it would pass g_out.max bytes (0: never); it must
 * not be called again after failing. */
typedef struct lim_sink {
    int failed;
} lim_sink;

static int lim_write(void *opaque, const void *p, size_t n) {
    lim_sink *l = opaque;
    if (l->failed) die("the encoder wrote after its sink failed", (long)n, 0);
    if (n == 0) die("the encoder wrote 0 bytes", 0, 0);
    if (g_out_store.write(g_out_store.opaque, p, n) != 0) {
        l->failed = 1;
        return -1;
    }
    return 0;
}

static void check_expansion(const unsigned char *x, size_t size, unsigned mode) {
    g_out_store.reset(g_out_store.opaque);
    g_out.max = (mode & 2) ? 1 + (size_t)(mode >> 3) * 37 : 0;
    lim_sink ls = {0};
    bsp_sink ks = {&ls, lim_write};
    bsp_dfl_enc *enc = bsp_dfl_enc_create(&ks);
    if (!enc) return;
    if (bsp_dfl_enc_written(enc) != 0 || bsp_dfl_enc_detail(enc)[0] != 0)
        die("a new encoder is not empty", 0, 0);
    chunker ch;
    chunker_init(&ch, mode, size);
    bsp_error e = BSP_OK;
    uint64_t last = 0;
    for (size_t pos = 0; e == BSP_OK && pos < size;) {
        size_t k = chunker_next(&ch, size - pos);
        e = bsp_dfl_enc_write(enc, x + pos, k);
        pos += k;
        uint64_t w = bsp_dfl_enc_written(enc);
        if (w < last) die("bsp_dfl_enc_written went down", (long)w, (long)last);
        last = w;
        if (e != BSP_OK && e != BSP_E_CORRUPT && e != BSP_E_WRITE)
            die("bsp_dfl_enc_write: undocumented error", e, (long)pos);
    }
    if (e == BSP_OK) {
        e = bsp_dfl_enc_finish(enc);
        if (e != BSP_OK && e != BSP_E_TRUNCATED && e != BSP_E_CORRUPT && e != BSP_E_WRITE)
            die("bsp_dfl_enc_finish: undocumented error", e, 0);
    }
    if ((e == BSP_E_WRITE) != (ls.failed != 0))
        die("BSP_E_WRITE without a sink failure, or a failure without it", e, ls.failed);
    if (e != BSP_OK) {
        size_t dl = strlen(bsp_dfl_enc_detail(enc));
        if (dl == 0) die("an error without a detail message", e, 0);
        if (bsp_dfl_enc_write(enc, "D", 1) != e || bsp_dfl_enc_finish(enc) != e)
            die("an encoder error is not sticky", e, 0);
    } else if (bsp_dfl_enc_written(enc) != g_out.len) {
        die("bsp_dfl_enc_written differs from the bytes written", (long)bsp_dfl_enc_written(enc),
            (long)g_out.len);
    }
    bsp_dfl_enc_free(enc);
    if (e != BSP_OK) return;

    /* What the encoder wrote, as a file (copied to exactly n bytes, so ASan sees reads past
     * them) and as a gzip member's body. */
    size_t n = g_out.len;
    unsigned char *w = malloc(n + 18);
    if (!w) return;
    static const unsigned char gz[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    memcpy(w, gz, 10);
    if (n) memcpy(w + 10, g_out.buf, n);
    memset(w + 10 + n, 0, 8);
    unsigned char *raw = n ? malloc(n) : NULL;
    if (raw) {
        memcpy(raw, g_out.buf, n);
        check_file(raw, n, mode & ~2u);
        free(raw);
    }
    size_t found = check_file(w, n + 18, mode & ~2u);
    if (size && x[0] == 'D' && found == 0)
        die("the encoder's deflate stream is not found in a gzip member", (long)n, 0);
    free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > MAX_INPUT) return 0;
    unsigned mode = data[0];
    stores_init();
    if (mode & 1) check_expansion(data + 1, size - 1, mode);
    else check_file(data + 1, size - 1, mode);
    return 0;
}
