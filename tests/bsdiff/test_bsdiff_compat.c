/* test_bsdiff_compat.c - Debian's bspatch 4.3 (/usr/bin/bspatch) applies our BSDIFF40 patches
 * byte-exactly, on generated pairs of every kind. Exits 77 (skipped) only when /usr/bin/bspatch
 * is not installed. usage: test_bsdiff_compat WORKDIR */
#include <sys/stat.h>
#include <unistd.h>

#include "bsd_testutil.h"

#define DEBIAN_BSPATCH "/usr/bin/bspatch"

static int write_file(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int bad = n && fwrite(d, 1, n, f) != n;
    return fclose(f) || bad ? -1 : 0;
}

static unsigned char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    rewind(f);
    unsigned char *b = t_alloc((size_t)len);
    *n = fread(b, 1, (size_t)len, f);
    fclose(f);
    return b;
}

int main(int argc, char **argv) {
    if (access(DEBIAN_BSPATCH, X_OK) != 0) {
        printf("SKIPPED: %s is not installed (apt-get install bsdiff)\n", DEBIAN_BSPATCH);
        return 77;
    }
    const char *dir = argc > 1 ? argv[1] : "compat-work";
    mkdir(dir, 0755);
    char po[512], pn[512], pp[512], cmd[2048];
    snprintf(po, sizeof po, "%s/old", dir);
    snprintf(pn, sizeof pn, "%s/new", dir);
    snprintf(pp, sizeof pp, "%s/patch", dir);
    static const size_t sizes[] = {1, 1000, 65536, 400000, 1500000};
    uint64_t seed = 42;
    for (int kind = 0; kind < T_KINDS; kind++) {
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si], m, plen, got;
            unsigned char *old = t_gen((enum t_kind)kind, n, seed++);
            unsigned char *nw = t_mutate(old, n, 1 + (int)si * 3, seed++, &m);
            unsigned char *p = t_diff(old, n, nw, m, BSD_FORMAT_BSDIFF40, 2, &plen);
            CHECK(p != NULL, "diff kind %d size %zu", kind, n);
            if (p && !write_file(po, old, n) && !write_file(pp, p, plen)) {
                remove(pn);
                snprintf(cmd, sizeof cmd, "%s '%s' '%s' '%s'", DEBIAN_BSPATCH, po, pn, pp);
                int rc = system(cmd);
                unsigned char *out = read_file(pn, &got);
                CHECK(rc == 0 && out && got == m && (m == 0 || !memcmp(out, nw, m)),
                      "Debian bspatch on kind %d, old %zu, new %zu (rc %d)", kind, n, m, rc);
                free(out);
            }
            bsd_buffer_free(p);
            free(old);
            free(nw);
        }
    }
    return t_done("test_bsdiff_compat");
}
