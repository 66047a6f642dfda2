/* fuzz_replay.c - runs a fuzz target's LLVMFuzzerTestOneInput on every file given, or on every
 * file of the directories given, so the committed corpora run as ordinary ctest tests (with any
 * compiler, no libFuzzer needed). A crash or invariant abort fails the test; so does an empty
 * corpus (a wrong path must not pass silently). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    size_t cap = 4096, n = 0, k;
    unsigned char *b = malloc(cap);
    while (b && (k = fread(b + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) {
            unsigned char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    fclose(f);
    if (!b) return -1;
    /* A copy of exactly n bytes, so ASan catches reads past the input as libFuzzer would. */
    unsigned char *exact = malloc(n ? n : 1);
    if (!exact) return -1;
    memcpy(exact, b, n);
    free(b);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    return 0;
}

int main(int argc, char **argv) {
    long files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "fuzz_replay: %s does not exist\n", argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (run_file(argv[i])) return 1;
            files++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (!d) return 1;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.') continue;
            size_t len = strlen(argv[i]) + strlen(de->d_name) + 2;
            char *p = malloc(len);
            if (!p) return 1;
            snprintf(p, len, "%s/%s", argv[i], de->d_name);
            if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
                if (run_file(p)) return 1;
                files++;
            }
            free(p);
        }
        closedir(d);
    }
    printf("fuzz_replay: %ld inputs ran without a crash\n", files);
    if (files == 0) {
        fprintf(stderr, "fuzz_replay: no inputs found\n");
        return 1;
    }
    return 0;
}
