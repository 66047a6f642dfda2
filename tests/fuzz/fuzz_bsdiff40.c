/* fuzz_bsdiff40.c - libFuzzer target for the BSDIFF40 patcher (bsp_apply_bsdiff40) on fuzzer
 * bytes. Byte 0 picks the length of a small fixed old file (0..510 bytes); the rest is the patch.
 * Invariants (abort on violation): output never exceeds the header's new size, success means
 * exactly new_size bytes, and bsp_apply (format detection) agrees with bsp_apply_bsdiff40. */
#include "bspatch.h"
#include "bsdelta_format.h"

#include "fuzz_olds.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NEW ((size_t)1 << 20)

typedef struct cap_sink {
    unsigned char *buf;
    size_t len;
} cap_sink;

static int cap_write(void *opaque, const void *p, size_t n) {
    cap_sink *s = opaque;
    if (n > MAX_NEW - s->len) abort(); /* the patcher wrote past the limit it was given */
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

static void die(const char *what, long long a, long long b) {
    fprintf(stderr, "fuzz_bsdiff40 invariant violated: %s (%lld, %lld)\n", what, a, b);
    abort();
}

static unsigned char g_old[512];
static unsigned char g_out1[MAX_NEW], g_out2[MAX_NEW];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t old_len = fuzz_bsdiff40_old(data[0], g_old);
    data++;
    size--;
    bsp_ctx *ctx = bsp_create();
    if (!ctx) abort();
    bsp_set_max_new_size(ctx, MAX_NEW);
    bsp_memsource ms, pm;
    bsp_source old, patch;
    bsp_source_from_memory(&old, &ms, g_old, old_len);
    bsp_source_from_memory(&patch, &pm, data, size);
    cap_sink s1 = {g_out1, 0}, s2 = {g_out2, 0};
    bsp_sink k1 = {&s1, cap_write}, k2 = {&s2, cap_write};
    bsp_error e1 = bsp_apply_bsdiff40(ctx, &old, &patch, &k1);
    bsp_header h;
    if (e1 == BSP_OK) {
        if (bsp_parse_header(data, size, &h) != BSP_OK || h.format != BSP_FORMAT_BSDIFF40)
            die("success on a patch whose header does not parse", e1, 0);
        if (s1.len != h.new_size) die("success without exactly new_size bytes", (long long)s1.len,
                                      (long long)h.new_size);
    }
    if (size >= 32 && bsp_parse_header(data, size, &h) == BSP_OK && s1.len > h.new_size)
        die("output longer than the declared new size", (long long)s1.len, (long long)h.new_size);
    if (size >= 8 && memcmp(data, BSDF40_MAGIC, 8) == 0) {
        bsp_error e2 = bsp_apply(ctx, &old, &patch, &k2);
        if (e1 != e2) die("bsp_apply and bsp_apply_bsdiff40 disagree", e1, e2);
        if (e1 == BSP_OK && memcmp(g_out1, g_out2, s1.len) != 0) die("outputs differ", 0, 0);
    }
    bsp_free(ctx);
    return 0;
}
