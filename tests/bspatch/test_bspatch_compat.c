/* test_bspatch_compat.c - BSDIFF40 patches made by Debian's bsdiff 4.3 (/usr/bin/bsdiff) from
 * varied inputs, and hand-built ones for empty files (which that bsdiff cannot mmap), applied
 * byte-exactly by our bspatch command and library.
 * usage: test_bspatch_compat BSPATCH_CLI WORKDIR   (exit 77 = skipped: no /usr/bin/bsdiff) */
#define _POSIX_C_SOURCE 200809L
#include "bsdelta_format.h"
#include "bspatch.h"
#include "bsp_testutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEBIAN_BSDIFF "/usr/bin/bsdiff"

static const char *g_cli, *g_dir;

/* Runs argv with optional stdin/stdout files; returns the exit status (-1 if it did not exit). */
static int run(char *const argv[], const char *in, const char *out) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (in) {
            int fd = open(in, O_RDONLY);
            if (fd < 0 || dup2(fd, 0) < 0) _exit(126);
        }
        if (out) {
            int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || dup2(fd, 1) < 0) _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *path(const char *name) {
    static char bufs[8][4096];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 4096, "%s/%s", g_dir, name);
    return b;
}

/* Applies patch file pp to old with our CLI and with the library; both must give new exactly. */
static void check_apply(const char *what, const unsigned char *old, size_t ol, const char *pp,
                        const unsigned char *nw, size_t nl) {
    char *op = path("old"), *outp = path("out");
    t_write_file(op, old, ol);
    unlink(outp);
    char *argv[] = {(char *)g_cli, op, outp, (char *)pp, NULL};
    int rc = run(argv, NULL, NULL);
    CHECK(rc == 0, "%s: our bspatch exits %d", what, rc);
    size_t got_len = 0;
    unsigned char *got = t_read_file(outp, &got_len);
    CHECK(got && got_len == nl && memcmp(got, nw, nl) == 0, "%s: CLI output differs (%zu vs %zu bytes)",
          what, got_len, nl);
    free(got);

    size_t pl;
    unsigned char *p = t_read_file(pp, &pl);
    CHECK(p != NULL, "%s: cannot read the patch", what);
    if (!p) return;
    bsp_header h;
    CHECK(bsp_parse_header(p, pl, &h) == BSP_OK && h.format == BSP_FORMAT_BSDIFF40 && h.new_size == nl,
          "%s: header", what);
    bsp_ctx *ctx = bsp_create();
    unsigned char *out = t_alloc(nl);
    bsp_memsink ms = {out, nl, 0};
    bsp_memsource os, ps;
    bsp_source osrc, psrc;
    bsp_sink sink;
    bsp_source_from_memory(&osrc, &os, old, ol);
    bsp_source_from_memory(&psrc, &ps, p, pl);
    bsp_sink_to_memory(&sink, &ms);
    bsp_error e = bsp_apply(ctx, &osrc, &psrc, &sink);
    CHECK(e == BSP_OK && ms.len == nl && memcmp(out, nw, nl) == 0, "%s: library: %s (%s)", what,
          bsp_strerror(e), bsp_detail(ctx));
    bsp_set_low_memory(ctx, 1);
    ms.len = 0;
    e = bsp_apply(ctx, &osrc, &psrc, &sink);
    CHECK(e == BSP_OK && ms.len == nl && memcmp(out, nw, nl) == 0, "%s: library, low memory: %s",
          what, bsp_strerror(e));
    bsp_free(ctx);
    free(out);
    free(p);
}

/* A Debian-made patch truncated at every byte must give BSP_E_TRUNCATED, and with seeded bit
 * flips never a crash, never output past new, and OK only with the right output (flips in
 * bzip2's final padding bits change nothing). */
static void hostile_debian(const char *what, const unsigned char *old, size_t ol, const char *pp,
                           const unsigned char *nw, size_t nl) {
    size_t pl;
    unsigned char *p = t_read_file(pp, &pl);
    if (!p) return;
    bsp_ctx *ctx = bsp_create();
    unsigned char *out = t_alloc(nl), *q = t_alloc(pl);
    bsp_memsource os, ps;
    bsp_source osrc, psrc;
    bsp_sink sink;
    bsp_source_from_memory(&osrc, &os, old, ol);
    for (size_t cut = 0; cut < pl; cut++) {
        bsp_memsink ms = {out, nl, 0};
        bsp_sink_to_memory(&sink, &ms);
        bsp_source_from_memory(&psrc, &ps, p, cut);
        bsp_error e = bsp_apply_bsdiff40(ctx, &osrc, &psrc, &sink);
        CHECK(e == BSP_E_TRUNCATED, "%s: cut at %zu of %zu: %s", what, cut, pl, bsp_strerror(e));
    }
    uint64_t st = 42;
    for (int n = 0; n < 300; n++) {
        memcpy(q, p, pl);
        uint64_t r = tenc_rand(&st);
        q[(r >> 3) % pl] ^= (unsigned char)(1u << (r & 7));
        bsp_memsink ms = {out, nl, 0};
        bsp_sink_to_memory(&sink, &ms);
        bsp_source_from_memory(&psrc, &ps, q, pl);
        bsp_error e = bsp_apply_bsdiff40(ctx, &osrc, &psrc, &sink);
        CHECK(e == BSP_E_CORRUPT || e == BSP_E_TRUNCATED || e == BSP_E_NOT_PATCH ||
                  (e == BSP_OK && ms.len == nl && memcmp(out, nw, nl) == 0),
              "%s: bit flip %d: %s (%s)", what, n, bsp_strerror(e), bsp_detail(ctx));
    }
    bsp_free(ctx);
    free(out);
    free(q);
    free(p);
}

/* Debian bsdiff old -> new, then check_apply. */
static void debian_case(const char *what, const unsigned char *old, size_t ol, const unsigned char *nw,
                        size_t nl) {
    char *op = path("dold"), *np = path("dnew"), *pp = path("dpatch");
    t_write_file(op, old, ol);
    t_write_file(np, nw, nl);
    char *argv[] = {DEBIAN_BSDIFF, op, np, pp, NULL};
    int rc = run(argv, NULL, NULL);
    CHECK(rc == 0, "%s: Debian bsdiff exits %d", what, rc);
    if (rc != 0) return;
    struct stat st;
    stat(pp, &st);
    printf("%-28s old %9zu  new %9zu  Debian patch %7lld bytes\n", what, ol, nl, (long long)st.st_size);
    check_apply(what, old, ol, pp, nw, nl);
    if (nl <= 4000) hostile_debian(what, old, ol, pp, nw, nl); /* small: each cut re-decodes */
}

/* A BSDIFF40 patch assembled by hand: the 32-byte header and three streams made by the bzip2
 * program (independent of the libbz2 calls of our test encoder). */
static void handmade_case(const char *what, const unsigned char *old, size_t ol,
                          const unsigned char *nw, size_t nl) {
    /* empty old: one command (0, nl, 0) copying everything from the extra block;
     * empty new: no command at all */
    unsigned char ctrl[24];
    size_t ctrl_len = 0;
    if (nl > 0) {
        bsdf40_encode_off(ctrl, 0);
        bsdf40_encode_off(ctrl + 8, (int64_t)nl);
        bsdf40_encode_off(ctrl + 16, 0);
        ctrl_len = 24;
    }
    char *raw[3] = {path("hctrl"), path("hdiff"), path("hextra")};
    char *bz[3] = {path("hctrl.bz2"), path("hdiff.bz2"), path("hextra.bz2")};
    t_write_file(raw[0], ctrl, ctrl_len);
    t_write_file(raw[1], "", 0);
    t_write_file(raw[2], nw, nl);
    size_t len[3];
    unsigned char *blk[3];
    for (int i = 0; i < 3; i++) {
        char *argv[] = {"/bin/bzip2", "-c", NULL};
        CHECK(run(argv, raw[i], bz[i]) == 0, "%s: bzip2 failed", what);
        blk[i] = t_read_file(bz[i], &len[i]);
        if (!blk[i]) return;
    }
    unsigned char h[32];
    memcpy(h, "BSDIFF40", 8);
    bsdf40_encode_off(h + 8, (int64_t)len[0]);
    bsdf40_encode_off(h + 16, (int64_t)len[1]);
    bsdf40_encode_off(h + 24, (int64_t)nl);
    tenc_buf p = {0};
    tenc_buf_put(&p, h, 32);
    for (int i = 0; i < 3; i++) {
        tenc_buf_put(&p, blk[i], len[i]);
        free(blk[i]);
    }
    char *pp = path("hpatch");
    t_write_file(pp, p.data, p.len);
    printf("%-28s old %9zu  new %9zu  hand-built patch %4zu bytes\n", what, ol, nl, p.len);
    tenc_buf_free(&p);
    check_apply(what, old, ol, pp, nw, nl);
}

/* The first system ELF binary found, as the "real binary" input. */
static unsigned char *system_elf(const char **name, size_t *len) {
    static const char *cands[] = {"/usr/bin/cmake", "/usr/bin/gdb", "/usr/bin/ctest", "/bin/bash",
                                  "/bin/ls"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        unsigned char *b = t_read_file(cands[i], len);
        if (b && *len > 4 && memcmp(b, "\x7f" "ELF", 4) == 0) {
            *name = cands[i];
            return b;
        }
        free(b);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_bspatch_compat BSPATCH_CLI WORKDIR\n");
        return 2;
    }
    g_cli = argv[1];
    g_dir = argv[2];
    if (access(DEBIAN_BSDIFF, X_OK) != 0) {
        printf("SKIP: %s is not installed (apt-get install bsdiff); the compatibility test needs "
               "Debian's bsdiff 4.3 to make reference patches\n", DEBIAN_BSDIFF);
        return 77;
    }
    mkdir(g_dir, 0755);

    size_t nl;
    unsigned char *a = t_gen(T_RANDOM, 40000, 1), *an = t_edit(a, 40000, 2, &nl);
    debian_case("random, edited", a, 40000, an, nl);
    unsigned char *sm = t_edit(a, 3000, 7, &nl);
    debian_case("small random, edited", a, 3000, sm, nl);
    free(sm);
    unsigned char *r2 = t_gen(T_RANDOM, 30000, 3);
    debian_case("random, unrelated", a, 40000, r2, 30000);
    unsigned char *t = t_gen(T_TEXT, 120000, 4), *tn = t_edit(t, 120000, 5, &nl);
    debian_case("text, edited", t, 120000, tn, nl);
    debian_case("identical", t, 120000, t, 120000);
    debian_case("old >> new", t, 120000, t + 5000, 700);
    debian_case("new >> old", t + 100, 300, t, 120000);
    debian_case("one byte each", (const unsigned char *)"a", 1, (const unsigned char *)"b", 1);
    const char *elf_name;
    size_t el;
    unsigned char *elf = system_elf(&elf_name, &el);
    CHECK(elf != NULL, "no system ELF binary found");
    if (elf) {
        /* a realistic rebuild: byte edits, an insert and a deletion (t_edit), plus a patched
         * string table-like area */
        unsigned char *en = t_edit(elf, el, 6, &nl);
        memcpy(en + nl / 3, "bsdelta was here", 16);
        char what[64];
        snprintf(what, sizeof what, "ELF %s, edited", elf_name);
        debian_case(what, elf, el, en, nl);
        free(en);
    }
    unsigned char *empty = t_alloc(0);
    handmade_case("empty old and new", empty, 0, empty, 0);
    handmade_case("empty old", empty, 0, t, 5000);
    handmade_case("empty new", t, 5000, empty, 0);
    handmade_case("non-empty, via extra only", a, 100, t, 3000);

    free(a);
    free(an);
    free(r2);
    free(t);
    free(tn);
    free(elf);
    free(empty);
    return t_done("test_bspatch_compat");
}
