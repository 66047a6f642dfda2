/* fuzz_bsdelta.c - libFuzzer target for the BSDELTA patcher: the push API (bsp_stream_feed in
 * fuzzer-chosen chunk sizes) checked against the pull API (bsp_apply) on the same bytes.
 *
 * Input layout: byte 0 mode, byte 1 old file selector, byte 2 chunking seed, then the patch.
 *   mode bit 0 clear: the patch is the input as given (header included);
 *   mode bit 0 set:   a valid header is built here (right old size and hash, correct checksum,
 *                     compressor = mode bit 1, new size from the next 2 input bytes, new hash =
 *                     the next 16 input bytes) and the rest of the input is the body, so the
 *                     fuzzer reaches the command parser at once. Then, so the header checks are
 *                     reached with a valid checksum too: bit 3 damages the old hash, bit 4 adds 1
 *                     to old_size, bit 6 puts new-hash byte 0 in the top byte of new_size, bit 7
 *                     takes compressor and flags from new-hash bytes 1 and 2; when that sets
 *                     the deflate flag and chunking-seed bit 6 is set, the deflate section's
 *                     checksum is recomputed too, so its stream list is reached however the
 *                     fuzzer changed it.
 *   mode bit 2: bzip2 low-memory mode; bit 5: a new-size limit of 100 bytes.
 * The old file is fuzz_bsdelta_old(selector) (fuzz_olds.h: selectors 0xF0-0xF2 hold deflate
 * streams). Deflate-aware patches (header flag BSDL_FLAG_DEFLATE) get an in-memory scratch store
 * of at most SCRATCH_MAX bytes, emptied after each input.
 * Invariants (abort on violation): both APIs give the same result and the same output; output
 * never exceeds the declared new size; a patch refused at its header writes nothing; success
 * means exactly new_size bytes. */
#include "bspatch.h"
#include "bsdelta_format.h"

#include "fuzz_olds.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#define MAX_NEW ((size_t)1 << 20)
#define SCRATCH_MAX ((size_t)64 << 20)

typedef struct cap_sink {
    unsigned char *buf;
    size_t len, total;
} cap_sink;

static int cap_write(void *opaque, const void *p, size_t n) {
    cap_sink *s = opaque;
    if (n > MAX_NEW - s->len) abort(); /* the patcher wrote past the limit it was given */
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

static void die(const char *what, int a, int b) {
    fprintf(stderr, "fuzz_bsdelta invariant violated: %s (%d, %d)\n", what, a, b);
    abort();
}

/* Stores the XXH32 of the deflate section at p[0, n) (varint length, section, checksum) when
 * the section fits in n. */
static void fix_xsect_check(unsigned char *p, size_t n) {
    uint64_t len = 0;
    size_t i = 0;
    for (;;) {
        if (i == n || i == BSDL_VARINT_MAX_LEN) return;
        unsigned char b = p[i];
        len |= (uint64_t)(b & 0x7f) << (7 * i++);
        if (!(b & 0x80)) break;
    }
    if (len > n - i || n - i - len < 4) return;
    bsdl_store_le32(p + i + len, XXH32(p + i, (size_t)len, 0));
}

static unsigned char g_old[FUZZ_BSDELTA_OLD_MAX];
static unsigned char g_out1[MAX_NEW], g_out2[MAX_NEW];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    unsigned mode = data[0], oldsel = data[1], chunkseed = data[2];
    data += 3;
    size -= 3;
    size_t old_len = fuzz_bsdelta_old(oldsel, g_old);

    unsigned char *patch = malloc(size + BSDL_HEADER_LEN + 1);
    if (!patch) return 0;
    size_t plen;
    if (mode & 1) {
        if (size < 18) {
            free(patch);
            return 0;
        }
        unsigned char *h = patch;
        memset(h, 0, BSDL_HEADER_LEN);
        memcpy(h, BSDL_MAGIC, BSDL_MAGIC_LEN);
        h[BSDL_OFF_VERSION] = (chunkseed & 0x80) ? 2 : 1; /* both versions' bodies */
        bsdl_store_le64(h + BSDL_OFF_OLD_SIZE, old_len + ((mode >> 4) & 1));
        uint64_t new_size = (uint64_t)data[0] | ((uint64_t)data[1] << 8);
        if (mode & 0x40) new_size |= (uint64_t)data[2] << 56;
        bsdl_store_le64(h + BSDL_OFF_NEW_SIZE, new_size);
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits(g_old, old_len));
        if (mode & 8) c.digest[5] ^= 0x20;
        memcpy(h + BSDL_OFF_OLD_HASH, c.digest, 16);
        memcpy(h + BSDL_OFF_NEW_HASH, data + 2, 16);
        h[BSDL_OFF_COMPRESSOR] = (mode & 2) ? BSDL_COMP_BZIP2 : BSDL_COMP_NONE;
        if (mode & 0x80) {
            h[BSDL_OFF_COMPRESSOR] = data[3] & 3;
            h[BSDL_OFF_FLAGS] = data[4] & 1;
        }
        bsdl_store_le32(h + BSDL_OFF_HEADER_CHECK, XXH32(h, BSDL_HEADER_CHECKED_LEN, 0));
        memcpy(patch + BSDL_HEADER_LEN, data + 18, size - 18);
        plen = BSDL_HEADER_LEN + size - 18;
        if ((h[BSDL_OFF_FLAGS] & BSDL_FLAG_DEFLATE) && (chunkseed & 0x40))
            fix_xsect_check(patch + BSDL_HEADER_LEN, plen - BSDL_HEADER_LEN);
    } else {
        memcpy(patch, data, size);
        plen = size;
    }

    bsp_ctx *ctx = bsp_create();
    if (!ctx) abort();
    bsp_set_max_new_size(ctx, (mode & 0x20) ? 100 : MAX_NEW);
    bsp_set_low_memory(ctx, (mode >> 2) & 1);
    bsp_memscratch scratch_mem;
    bsp_scratch scratch;
    bsp_scratch_in_memory(&scratch, &scratch_mem, SCRATCH_MAX);
    bsp_set_scratch(ctx, &scratch);
    bsp_memsource ms;
    bsp_source old;
    bsp_source_from_memory(&old, &ms, g_old, old_len);

    /* Push API, chunk sizes from a tiny LCG. */
    cap_sink s1 = {g_out1, 0, 0};
    bsp_sink k1 = {&s1, cap_write};
    bsp_error e1 = bsp_stream_begin(ctx, &old, &k1);
    uint32_t st = chunkseed * 2654435761u + 1;
    size_t pos = 0;
    while (e1 == BSP_OK && pos < plen) {
        st = st * 1103515245u + 12345u;
        size_t lim = (chunkseed & 0x80) ? 4096 : 17;
        size_t k = 1 + (st >> 8) % lim;
        if (k > plen - pos) k = plen - pos;
        e1 = bsp_stream_feed(ctx, patch + pos, k);
        pos += k;
    }
    if (e1 == BSP_OK) e1 = bsp_stream_finish(ctx);
    else if (bsp_stream_feed(ctx, "x", 1) != e1 || bsp_stream_finish(ctx) != e1)
        die("an error is not sticky", e1, 0);
    bsp_stats stats;
    bsp_get_stats(ctx, &stats);
    bsp_header hdr;
    int hdr_ok = bsp_parse_header(patch, plen, &hdr) == BSP_OK;
    if (hdr_ok && hdr.format == BSP_FORMAT_BSDELTA && s1.len > hdr.new_size)
        die("output longer than the declared new size", (int)s1.len, (int)hdr.new_size);
    if ((e1 == BSP_E_NOT_PATCH || e1 == BSP_E_UNSUPPORTED || e1 == BSP_E_WRONG_BASE ||
         e1 == BSP_E_LIMIT) && s1.len != 0)
        die("output written for a patch refused at its header", e1, (int)s1.len);
    if (e1 == BSP_OK && (!hdr_ok || s1.len != hdr.new_size || stats.new_size != hdr.new_size))
        die("success without exactly new_size bytes", (int)s1.len, hdr_ok);

    /* Pull API over the same bytes (a BSDIFF40 magic takes the other path: skip). */
    if (!(plen >= 8 && memcmp(patch, BSDF40_MAGIC, 8) == 0)) {
        cap_sink s2 = {g_out2, 0, 0};
        bsp_sink k2 = {&s2, cap_write};
        bsp_memsource pm;
        bsp_source psrc;
        bsp_source_from_memory(&psrc, &pm, patch, plen);
        bsp_error e2 = bsp_apply(ctx, &old, &psrc, &k2);
        if (e1 != e2) die("push and pull APIs disagree", e1, e2);
        if (e1 == BSP_OK && (s1.len != s2.len || memcmp(g_out1, g_out2, s1.len) != 0))
            die("push and pull outputs differ", (int)s1.len, (int)s2.len);
    }
    bsp_free(ctx);
    bsp_memscratch_release(&scratch_mem);
    free(patch);
    return 0;
}
