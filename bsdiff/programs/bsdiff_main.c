/* bsdiff_main.c - the bsdiff command: bsdiff [options] oldfile newfile patchfile. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_POPULATE */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bsdiff.h"
#include "cli_util.h"

/* Exit codes (documented in --help). */
enum {
    EXIT_OK = 0,
    EXIT_USAGE = 1,  /* bad command line */
    EXIT_INPUT = 2,  /* an input is missing or unreadable, or the output names an input */
    EXIT_OUTPUT = 3, /* the patch cannot be created or written */
    EXIT_MEMORY = 4, /* out of memory, or the --mem-limit cannot be met */
    EXIT_INTERNAL = 5 /* compressor or thread failure, interrupted */
};

static const char *prog = "bsdiff";

static void usage(FILE *f) {
    fprintf(f,
"Usage: %s [options] oldfile newfile patchfile\n"
"\n"
"Writes a patch that turns oldfile into newfile (apply it with bspatch).\n"
"\n"
"Options:\n"
"  --format F       bsdelta (default): streaming format with hashes of both files, applied\n"
"                   in one pass with fixed memory; bsdiff40: classic format, applied by\n"
"                   every bspatch 4.x\n"
"  --compressor C   bzip2 (default) or zstd (BSDELTA only): zstd patches are about 4%%\n"
"                   smaller and apply faster, but the diff takes 2-3 times as long\n"
"  --level N        compression level: bzip2 1..9 (default 9), zstd 1..22 (default 19)\n"
"  --bz-search M    bzip2 block search: on tries every block whole and as the blocks of its\n"
"                   halves (down to 1/64 of a block), each with every Huffman table count,\n"
"                   and keeps the smallest: 2-4%% smaller patches of binaries, for about\n"
"                   four times the compression work (the diff takes 30-50%% longer);\n"
"                   auto (default): on for bsdiff40, whose bytes are all a classic client\n"
"                   can save, off for bsdelta\n"
"  --deflate M      auto (default, BSDELTA only): when both files hold deflate streams\n"
"                   (.gz/.tgz, zip entries), diff the streams' tokens instead of their\n"
"                   compressed bytes, so an archive with a few changed files gives a patch\n"
"                   the size of those changes; bspatch needs scratch space next to its\n"
"                   output for the old file's expansion (about 1.6 x its deflate data).\n"
"                   off: always diff the bytes as they are\n"
"  -j N, --threads N  worker threads (default: number of cores). The patch is the same\n"
"                   for every N.\n"
"  --mem-limit N    fail cleanly instead of using more than about N bytes (suffixes K, M, G;\n"
"                   the inputs themselves count)\n"
"  -v, --verbose    print stage timings (read, hash/pre-match, sort, scan, compress), the\n"
"                   patch size and its ratio to newfile on stderr\n"
"  -h, --help       this text\n"
"  --version        print the version\n"
"\n"
"The patch is written to a temporary file beside patchfile and renamed into place only when\n"
"complete; on any failure patchfile is left untouched. A progress line is shown on a terminal\n"
"for inputs over 50 MB.\n"
"\n"
"Exit codes:\n"
"  0  success\n"
"  1  usage error (unknown option, bad value, wrong number of arguments)\n"
"  2  an input is missing or unreadable, shrank during the diff, or patchfile is the\n"
"     same file as an input\n"
"  3  the patch cannot be created or written\n"
"  4  out of memory, or the --mem-limit cannot be met\n"
"  5  internal failure (compressor, threads) or interrupted\n",
            prog);
}

/* An input file: mapped (large files: no copy, no page zeroing; a near-identical 9 MB pair
 * diffs about a fifth faster) or read into memory. */
typedef struct input {
    unsigned char *data;
    size_t size;
    int mapped;
} input;

static void input_free(input *in) {
    if (in->mapped) munmap(in->data, in->size);
    else free(in->data);
    memset(in, 0, sizeof *in);
}

#define MAP_MIN ((size_t)1 << 20)

static int read_file(const char *path, input *in) {
    memset(in, 0, sizeof *in);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot open %s: %s\n", prog, path, strerror(errno));
        return EXIT_INPUT;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "%s: %s is not a regular file\n", prog, path);
        close(fd);
        return EXIT_INPUT;
    }
    if ((uint64_t)st.st_size >= MAP_MIN && (uint64_t)st.st_size <= SIZE_MAX) {
        int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
        flags |= MAP_POPULATE;
#endif
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, flags, fd, 0);
        if (m != MAP_FAILED) {
            close(fd);
            in->data = m;
            in->size = (size_t)st.st_size;
            in->mapped = 1;
            return EXIT_OK;
        }
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    unsigned char *p = malloc(cap);
    if (!p) {
        fprintf(stderr, "%s: out of memory reading %s (%lld bytes)\n", prog, path,
                (long long)st.st_size);
        close(fd);
        return EXIT_MEMORY;
    }
    for (;;) {
        if (len == cap) { /* the file grew while we read it */
            unsigned char *q = realloc(p, cap * 2);
            if (!q) {
                free(p);
                close(fd);
                fprintf(stderr, "%s: out of memory reading %s\n", prog, path);
                return EXIT_MEMORY;
            }
            p = q;
            cap *= 2;
        }
        ssize_t r = read(fd, p + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            fprintf(stderr, "%s: cannot read %s: %s\n", prog, path, strerror(errno));
            free(p);
            close(fd);
            return EXIT_INPUT;
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    close(fd);
    in->data = p;
    in->size = len;
    return EXIT_OK;
}

static int parse_u64(const char *s, unsigned long long *out, int suffixes) {
    char *end;
    errno = 0;
    if (!*s || *s == '-') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) return -1;
    unsigned long long mul = 1;
    if (suffixes && *end) {
        switch (*end) {
        case 'k': case 'K': mul = 1ull << 10; break;
        case 'm': case 'M': mul = 1ull << 20; break;
        case 'g': case 'G': mul = 1ull << 30; break;
        default: return -1;
        }
        end++;
    }
    if (*end || v > ~0ull / mul) return -1;
    *out = v * mul;
    return 0;
}

typedef struct prog_state {
    double last;
    int shown;
} prog_state;

static int on_progress(void *opaque, bsd_stage stage, uint64_t done, uint64_t total) {
    prog_state *ps = opaque;
    double now = cli_now();
    if (now - ps->last < 0.2 && done < total) return 0;
    ps->last = now;
    const char *what = stage == BSD_STAGE_SORT ? "sorting old"
                       : stage == BSD_STAGE_SCAN ? "scanning new"
                       : stage == BSD_STAGE_FINISH ? "finishing"
                                                   : "hashing";
    if (stage == BSD_STAGE_SCAN && total)
        fprintf(stderr, "\r%s: %s %3d%%   ", prog, what, (int)(done * 100 / total));
    else
        fprintf(stderr, "\r%s: %s...       ", prog, what);
    ps->shown = 1;
    return 0;
}

int main(int argc, char **argv) {
    bsd_options opt;
    bsd_options_init(&opt);
    int verbose = 0;
    const char *pos[3];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
#define NEEDVAL()                                                                              \
    do {                                                                                       \
        if (i + 1 >= argc) {                                                                   \
            fprintf(stderr, "%s: %s needs a value\n", prog, a);                                \
            return EXIT_USAGE;                                                                 \
        }                                                                                      \
        val = argv[++i];                                                                       \
    } while (0)
        if (!strcmp(a, "--version")) {
            puts("bsdiff (bsdelta) 0.1.0");
            return EXIT_OK;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (!strcmp(a, "--format")) {
            NEEDVAL();
            if (!strcmp(val, "bsdelta")) opt.format = BSD_FORMAT_BSDELTA;
            else if (!strcmp(val, "bsdiff40")) opt.format = BSD_FORMAT_BSDIFF40;
            else {
                fprintf(stderr, "%s: unknown format '%s' (bsdelta or bsdiff40)\n", prog, val);
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--compressor")) {
            NEEDVAL();
            if (!strcmp(val, "bzip2")) opt.compressor = BSD_COMP_BZIP2;
            else if (!strcmp(val, "zstd")) opt.compressor = BSD_COMP_ZSTD;
            else {
                fprintf(stderr, "%s: unknown compressor '%s' (bzip2 or zstd)\n", prog, val);
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--deflate")) {
            NEEDVAL();
            if (!strcmp(val, "auto")) opt.deflate = BSD_DEFLATE_AUTO;
            else if (!strcmp(val, "off")) opt.deflate = BSD_DEFLATE_OFF;
            else {
                fprintf(stderr, "%s: unknown --deflate mode '%s' (auto or off)\n", prog, val);
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--bz-search")) {
            NEEDVAL();
            if (!strcmp(val, "auto")) opt.bz_effort = BSD_BZ_AUTO;
            else if (!strcmp(val, "on")) opt.bz_effort = BSD_BZ_SEARCH;
            else if (!strcmp(val, "off")) opt.bz_effort = BSD_BZ_FAST;
            else {
                fprintf(stderr, "%s: unknown --bz-search mode '%s' (auto, on or off)\n", prog, val);
                return EXIT_USAGE;
            }
        } else if (!strcmp(a, "--level") || !strcmp(a, "-j") || !strcmp(a, "--threads") ||
                   !strcmp(a, "--mem-limit")) {
            NEEDVAL();
            unsigned long long v;
            int mem = !strcmp(a, "--mem-limit");
            if (parse_u64(val, &v, mem) || (!mem && v > 1000)) {
                fprintf(stderr, "%s: bad value '%s' for %s\n", prog, val, a);
                return EXIT_USAGE;
            }
            if (!strcmp(a, "--level")) opt.level = (int)v;
            else if (mem) opt.mem_limit = v;
            else opt.threads = (unsigned)v;
        } else if (!strncmp(a, "-j", 2) && a[2]) {
            unsigned long long v;
            if (parse_u64(a + 2, &v, 0) || v > 1000) {
                fprintf(stderr, "%s: bad value '%s' for -j\n", prog, a + 2);
                return EXIT_USAGE;
            }
            opt.threads = (unsigned)v;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "%s: unknown option %s (see --help)\n", prog, a);
            return EXIT_USAGE;
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            npos++;
        }
    }
    if (npos != 3) {
        fprintf(stderr, "%s: expected oldfile newfile patchfile (see --help)\n", prog);
        return EXIT_USAGE;
    }
    if (opt.format == BSD_FORMAT_BSDIFF40 && opt.compressor != BSD_COMP_BZIP2) {
        fprintf(stderr, "%s: the bsdiff40 format is always bzip2-compressed\n", prog);
        return EXIT_USAGE;
    }

    bsd_ctx *ctx = bsd_create();
    if (!ctx) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return EXIT_MEMORY;
    }
    if (bsd_set_options(ctx, &opt) != BSD_OK) {
        fprintf(stderr, "%s: %s\n", prog, bsd_detail(ctx));
        bsd_free(ctx);
        return EXIT_USAGE;
    }
    if (cli_same_file(pos[0], pos[2]) || cli_same_file(pos[1], pos[2])) {
        fprintf(stderr, "%s: the patch file %s is the same file as an input; refusing to "
                        "overwrite it\n", prog, pos[2]);
        bsd_free(ctx);
        return EXIT_INPUT;
    }

    double t0 = cli_now();
    /* Large inputs are mapped: one that shrinks while we work raises SIGBUS. */
    cli_sigbus_exit("bsdiff: an input file shrank while it was being diffed; inputs must not "
                    "change during the diff (no patch written)\n",
                    EXIT_INPUT);
    input in_old, in_new = {0};
    int rc = read_file(pos[0], &in_old);
    if (!rc) rc = read_file(pos[1], &in_new);
    if (rc) {
        input_free(&in_old);
        bsd_free(ctx);
        return rc;
    }
    const unsigned char *old = in_old.data, *nw = in_new.data;
    size_t old_size = in_old.size, new_size = in_new.size;
    double t_read = cli_now() - t0;

    prog_state ps = {0, 0};
    if (isatty(2) && (old_size > 50000000 || new_size > 50000000)) {
        opt.progress = on_progress;
        opt.progress_opaque = &ps;
        bsd_set_options(ctx, &opt);
    }

    char err[512];
    cli_outfile out;
    if (cli_out_open(&out, pos[2], err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        input_free(&in_old);
        input_free(&in_new);
        bsd_free(ctx);
        return EXIT_OUTPUT;
    }
    bsd_error e = bsd_diff_to_file(ctx, old, old_size, nw, new_size, out.fp);
    if (ps.shown) fprintf(stderr, "\r%60s\r", "");
    bsd_stats st;
    bsd_get_stats(ctx, &st);
    if (e) {
        cli_out_abort(&out);
        fprintf(stderr, "%s: %s: %s\n", prog, bsd_strerror(e), bsd_detail(ctx));
        rc = e == BSD_E_NOMEM || e == BSD_E_LIMIT ? EXIT_MEMORY
             : e == BSD_E_WRITE || e == BSD_E_IO ? EXIT_OUTPUT
                                                 : EXIT_INTERNAL;
    } else if (cli_out_commit(&out, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rc = EXIT_OUTPUT;
    }
    double t_total = cli_now() - t0;
    if (!rc && verbose) {
        fprintf(stderr,
                "%s: old %llu bytes, new %llu bytes -> patch %llu bytes (%.2f%% of new), "
                "%llu commands, %llu diff + %llu extra bytes%s\n",
                prog, (unsigned long long)old_size, (unsigned long long)new_size,
                (unsigned long long)st.patch_size,
                new_size ? 100.0 * (double)st.patch_size / (double)new_size : 0.0,
                (unsigned long long)st.commands, (unsigned long long)st.diff_bytes,
                (unsigned long long)st.extra_bytes, st.fast_path ? " (fast path)" : "");
        if (st.deflate_not_smaller)
            fprintf(stderr, "%s: deflate-aware patch not smaller than the plain one: plain "
                    "written\n", prog);
        if (st.deflate_skipped_for_memory)
            fprintf(stderr, "%s: deflate-aware diff skipped: it would exceed --mem-limit\n", prog);
        if (st.deflate_old_expanded)
            fprintf(stderr,
                    "%s: deflate-aware: %llu + %llu deflate streams expanded to %llu + %llu bytes "
                    "in %.3fs\n",
                    prog, (unsigned long long)st.deflate_old_streams,
                    (unsigned long long)st.deflate_new_streams,
                    (unsigned long long)st.deflate_old_expanded,
                    (unsigned long long)st.deflate_new_expanded, st.deflate_seconds);
        fprintf(stderr,
                "%s: read %.3fs  hash+prematch %.3fs  sort %.3fs  scan %.3fs  compress %.3fs  "
                "total %.3fs  (estimated peak %.1f MiB)\n",
                prog, t_read, st.hash_seconds, st.sort_seconds, st.scan_seconds,
                st.compress_seconds, t_total, (double)st.peak_estimate / 1048576.0);
    }
    bsd_free(ctx);
    input_free(&in_old);
    input_free(&in_new);
    return rc;
}
