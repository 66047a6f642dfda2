/* bsdelta_testenc_main.c - bsdelta-testenc: command-line wrapper of the test-only encoder, for
 * shell tests. usage: bsdelta-testenc OLD NEW PATCH [--comp none|bzip2] [--seed N] [--bsdiff40] */
#include "bsdelta_format.h"
#include "bsdelta_testenc.h"
#include "bsp_testutil.h"

int main(int argc, char **argv) {
    unsigned comp = BSDL_COMP_BZIP2;
    uint64_t seed = 0;
    int bsdiff40 = 0;
    const char *pos[3];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--comp") && i + 1 < argc) {
            const char *c = argv[++i];
            if (!strcmp(c, "none")) comp = BSDL_COMP_NONE;
            else if (!strcmp(c, "bzip2")) comp = BSDL_COMP_BZIP2;
            else npos = 9;
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--bsdiff40")) {
            bsdiff40 = 1;
        } else if (npos < 3) {
            pos[npos++] = argv[i];
        } else {
            npos = 9;
        }
    }
    if (npos != 3) {
        fprintf(stderr, "usage: bsdelta-testenc OLD NEW PATCH [--comp none|bzip2] [--seed N] "
                        "[--bsdiff40]\n");
        return 1;
    }
    size_t ol, nl, pl;
    unsigned char *o = t_read_file(pos[0], &ol), *n = t_read_file(pos[1], &nl), *p;
    if (!o || !n) {
        fprintf(stderr, "bsdelta-testenc: cannot read %s\n", o ? pos[1] : pos[0]);
        return 2;
    }
    int r = bsdiff40 ? tenc_bsdiff40(o, ol, n, nl, seed, &p, &pl)
                     : tenc_encode(o, ol, n, nl, comp, seed, &p, &pl);
    if (r || t_write_file(pos[2], p, pl)) {
        fprintf(stderr, "bsdelta-testenc: cannot write %s\n", pos[2]);
        return 2;
    }
    free(o);
    free(n);
    free(p);
    return 0;
}
