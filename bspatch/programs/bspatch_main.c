/* bspatch_main.c - the bspatch command: applies a BSDELTA or BSDIFF40 patch, writing the new
 * file atomically (nothing is left behind on failure). */
#define _FILE_OFFSET_BITS 64
#define _POSIX_C_SOURCE 200809L
#include "bspatch.h"
#include "cli_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum exit_code {
    EXIT_OK = 0,
    EXIT_USAGE = 1,
    EXIT_INPUT = 2,
    EXIT_OUTPUT = 3,
    EXIT_NOT_PATCH = 4,
    EXIT_CORRUPT = 5,
    EXIT_TRUNCATED = 6,
    EXIT_WRONG_BASE = 7,
    EXIT_MISMATCH = 8,
    EXIT_LIMIT = 9,
    EXIT_INTERNAL = 10
};

static void usage(FILE *to) {
    fputs("usage: bspatch [options] OLDFILE NEWFILE PATCHFILE\n"
          "\n"
          "Applies PATCHFILE to OLDFILE and writes NEWFILE. The patch format is detected from\n"
          "its first bytes:\n"
          "  BSDELTA   bsdelta's streaming format: read once, front to back; the old file's\n"
          "            size and XXH3-128 are checked before anything is written, the new\n"
          "            file's hash after. Versions 1 and 2, bzip2- or zstd-compressed.\n"
          "            A deflate-aware patch (bsdiff --deflate auto, the default for .gz/.tgz\n"
          "            and zip files) also needs scratch space beside NEWFILE for the old\n"
          "            file's expansion (about 1.6 x its deflate data), removed afterwards.\n"
          "  BSDIFF40  the classic bsdiff 4.x format (no hashes: a wrong old file of the right\n"
          "            size gives a wrong result). Needs a seekable patch file.\n"
          "\n"
          "NEWFILE is written to a temporary file in its directory, fsynced and renamed only on\n"
          "success: on any failure no NEWFILE and no temporary file remain, and an existing\n"
          "NEWFILE is untouched. NEWFILE may be OLDFILE (in-place update). Memory use is fixed\n"
          "(a few MiB) whatever the file sizes.\n"
          "\n"
          "options:\n"
          "  PATCHFILE -     read the patch from standard input (BSDELTA only)\n"
          "  -v, --verbose   print one summary line (format, sizes, time, MB/s) to stderr\n"
          "  --low-memory    bzip2 low-memory mode: ~1.3 MiB less per decoder, ~2x slower\n"
          "  --max-size N    refuse patches whose new file exceeds N bytes (suffix k, M, G)\n"
          "  -h, --help      this help\n"
          "  --version       print the version\n"
          "\n"
          "exit codes:\n"
          "  0  success\n"
          "  1  usage error\n"
          "  2  an input (old file or patch) is missing or unreadable\n"
          "  3  the new file cannot be written (permissions, disk full, ...)\n"
          "  4  not a patch, or a patch format/version this bspatch does not support\n"
          "  5  corrupt patch\n"
          "  6  truncated patch (incomplete download?)\n"
          "  7  wrong old file: the patch was made from a different file\n"
          "  8  the result does not match the hash recorded in the patch\n"
          "  9  the patch exceeds --max-size\n"
          " 10  out of memory or internal error\n",
          to);
}

static int exit_for(bsp_error e) {
    switch (e) {
    case BSP_OK: return EXIT_OK;
    case BSP_E_NOT_PATCH:
    case BSP_E_UNSUPPORTED: return EXIT_NOT_PATCH;
    case BSP_E_CORRUPT: return EXIT_CORRUPT;
    case BSP_E_TRUNCATED: return EXIT_TRUNCATED;
    case BSP_E_WRONG_BASE: return EXIT_WRONG_BASE;
    case BSP_E_RESULT_MISMATCH: return EXIT_MISMATCH;
    case BSP_E_LIMIT: return EXIT_LIMIT;
    case BSP_E_READ_OLD:
    case BSP_E_READ_PATCH: return EXIT_INPUT;
    case BSP_E_WRITE: return EXIT_OUTPUT;
    case BSP_E_NOMEM:
    case BSP_E_MISUSE: break;
    }
    return EXIT_INTERNAL;
}

static int parse_size(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-') return -1;
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K') mul = 1024, end++;
    else if (*end == 'M') mul = 1024 * 1024, end++;
    else if (*end == 'G') mul = 1024ull * 1024 * 1024, end++;
    if (*end) return -1;
    if (v > UINT64_MAX / mul) return -1;
    *out = v * mul;
    return 0;
}

/* Scratch store for deflate-aware patches: an unlinked temporary file beside NEWFILE, created
 * on first use (patches without deflate streams never need it). */
typedef struct cli_scratch {
    const char *near;
    FILE *fp;
    bsp_filescratch fs;
    bsp_scratch inner;
    char err[512];
} cli_scratch;

static int cs_reset(void *opaque) {
    cli_scratch *s = opaque;
    if (!s->fp) {
        if (!(s->fp = cli_scratch_open(s->near, s->err, sizeof s->err))) return -1;
        bsp_scratch_from_file(&s->inner, &s->fs, s->fp);
    }
    return s->inner.reset(s->inner.opaque);
}
static int cs_write(void *opaque, const void *buf, size_t len) {
    cli_scratch *s = opaque;
    if (s->inner.write(s->inner.opaque, buf, len) == 0) return 0;
    snprintf(s->err, sizeof s->err, "cannot write the scratch file beside %s: %s", s->near,
             errno ? strerror(errno) : "write failed");
    return -1;
}
static int cs_read_at(void *opaque, uint64_t off, void *buf, size_t len) {
    cli_scratch *s = opaque;
    return s->inner.read_at(s->inner.opaque, off, buf, len);
}

static const char *format_name(const bsp_stats *st) {
    return st->format == BSP_FORMAT_BSDIFF40 ? "BSDIFF40" : "BSDELTA";
}

int main(int argc, char **argv) {
    int verbose = 0, low_mem = 0;
    uint64_t max_size = 0;
    const char *pos[3];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--version")) {
            puts("bspatch (bsdelta) 0.1.0");
            return EXIT_OK;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (!strcmp(a, "--low-memory")) {
            low_mem = 1;
        } else if (!strcmp(a, "--max-size")) {
            if (i + 1 >= argc || parse_size(argv[++i], &max_size) != 0) {
                fprintf(stderr, "bspatch: --max-size needs a size such as 200M\n");
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--")) {
            for (i++; i < argc && npos < 3; i++) pos[npos++] = argv[i];
            if (i < argc) npos = 4;
            break;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "bspatch: unknown option %s (see bspatch --help)\n", a);
            return EXIT_USAGE;
        } else {
            if (npos == 3) {
                npos = 4;
                break;
            }
            pos[npos++] = a;
        }
    }
    if (npos != 3) {
        fprintf(stderr, "bspatch: expected OLDFILE NEWFILE PATCHFILE (see bspatch --help)\n");
        return EXIT_USAGE;
    }
    const char *oldpath = pos[0], *newpath = pos[1], *patchpath = pos[2];
    int from_stdin = !strcmp(patchpath, "-");

    FILE *oldf = fopen(oldpath, "rb");
    if (!oldf) {
        fprintf(stderr, "bspatch: cannot open the old file %s: %s\n", oldpath, strerror(errno));
        return EXIT_INPUT;
    }
    bsp_source old;
    if (bsp_source_from_file(&old, oldf) != 0) {
        fprintf(stderr, "bspatch: the old file %s is not a regular, seekable file\n", oldpath);
        fclose(oldf);
        return EXIT_INPUT;
    }
    FILE *patchf = from_stdin ? stdin : fopen(patchpath, "rb");
    if (!patchf) {
        fprintf(stderr, "bspatch: cannot open the patch %s: %s\n", patchpath, strerror(errno));
        fclose(oldf);
        return EXIT_INPUT;
    }
    bsp_source patch_src;
    int seekable = !from_stdin && bsp_source_from_file(&patch_src, patchf) == 0;
    if (!from_stdin && !seekable) {
        /* A named pipe or similar: read it as a stream (BSDELTA only). */
        clearerr(patchf);
    }

    bsp_ctx *ctx = bsp_create();
    if (!ctx) {
        fprintf(stderr, "bspatch: out of memory\n");
        return EXIT_INTERNAL;
    }
    if (max_size) bsp_set_max_new_size(ctx, max_size);
    bsp_set_low_memory(ctx, low_mem);

    char err[1024];
    cli_outfile out;
    if (cli_out_open(&out, newpath, err, sizeof err) != 0) {
        fprintf(stderr, "bspatch: %s\n", err);
        bsp_free(ctx);
        return EXIT_OUTPUT;
    }
    bsp_sink sink;
    bsp_sink_to_file(&sink, out.fp);
    cli_scratch cs = {.near = newpath};
    bsp_scratch scratch = {&cs, cs_reset, cs_write, cs_read_at};
    bsp_set_scratch(ctx, &scratch);

    double t0 = cli_now();
    bsp_error e;
    if (seekable) {
        e = bsp_apply(ctx, &old, &patch_src, &sink);
    } else {
        bsp_reader rd;
        bsp_reader_from_file(&rd, patchf);
        e = bsp_apply_stream(ctx, &old, &rd, &sink);
    }
    double secs = cli_now() - t0;
    int code = exit_for(e);
    if (e != BSP_OK) {
        cli_out_abort(&out);
        fprintf(stderr, "bspatch: %s: %s\n", bsp_strerror(e), bsp_detail(ctx));
        if (e == BSP_E_UNSUPPORTED && !seekable)
            fprintf(stderr, "bspatch: save the patch to a file and pass its name instead of '-'\n");
        else if (e == BSP_E_WRITE && cs.err[0])
            fprintf(stderr, "bspatch: %s\n", cs.err);
        else if (e == BSP_E_WRITE)
            fprintf(stderr, "bspatch: cannot write %s: %s\n", newpath, strerror(errno));
        else if (e == BSP_E_TRUNCATED)
            fprintf(stderr, "bspatch: the patch is incomplete; download it again\n");
        else if (e == BSP_E_WRONG_BASE)
            fprintf(stderr, "bspatch: this patch does not apply to %s; use the patch made from "
                            "this file, or the full new file\n", oldpath);
    } else if (cli_out_commit(&out, err, sizeof err) != 0) {
        fprintf(stderr, "bspatch: %s\n", err);
        code = EXIT_OUTPUT;
    } else if (verbose) {
        bsp_stats st;
        bsp_get_stats(ctx, &st);
        double mb = (double)st.new_size / 1e6;
        fprintf(stderr,
                "bspatch: %s, old %llu bytes, new %llu bytes, patch %llu bytes, %llu commands, "
                "%.3f s, %.1f MB/s\n",
                format_name(&st), (unsigned long long)st.old_size, (unsigned long long)st.new_size,
                (unsigned long long)st.patch_bytes, (unsigned long long)st.commands, secs,
                secs > 0 ? mb / secs : 0.0);
    }
    bsp_free(ctx);
    if (cs.fp) fclose(cs.fp);
    fclose(oldf);
    if (!from_stdin) fclose(patchf);
    return code;
}
