/* fuzz_bundle.c - libFuzzer target for the device's unpacker (pkc_unpack): the input is a
 * bundle file; it is unpacked into a fresh directory, which must afterwards either hold
 * exactly what the unpacker accepted or not exist at all (a refused bundle leaves nothing),
 * and nothing may be written outside it. Work files live in $TMPDIR (default /tmp). */
#define _POSIX_C_SOURCE 200809L
#include "pkc_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[512];

static void setup(void) {
    if (base[0]) return;
    const char *t = getenv("TMPDIR");
    snprintf(base, sizeof base, "%s/fuzz_bundle.%ld", t && *t ? t : "/tmp", (long)getpid());
    mkdir(base, 0755);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    setup();
    char zip[600], dest[600], outside[600];
    snprintf(zip, sizeof zip, "%s/in.zip", base);
    snprintf(dest, sizeof dest, "%s/root/out", base);
    snprintf(outside, sizeof outside, "%s/root", base);
    pkc_remove_tree(outside);
    mkdir(outside, 0755);
    FILE *f = fopen(zip, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    pkg_ctx *ctx = pkg_create();
    pkg_error e = pkc_unpack(ctx, zip, dest);
    struct stat sb;
    if (e != PKG_OK && lstat(dest, &sb) == 0) abort();  /* a refusal leaves nothing */
    if (e == PKG_OK && (lstat(dest, &sb) != 0 || !S_ISDIR(sb.st_mode))) abort();
    if (e != PKG_OK && e != PKG_E_INTEGRITY && e != PKG_E_NOMEM && e != PKG_E_IO) abort();
    /* nothing beside dest: a path escaping it would land in root/ */
    pkc_remove_tree(dest);
    if (rmdir(outside) != 0) abort();
    pkg_free(ctx);
    unlink(zip);
    return 0;
}
