/* cli_util.c - atomic output files and small helpers for the command-line programs. */
#define _POSIX_C_SOURCE 200809L
#include "cli_util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The temporary file to remove if a signal ends the process. Written before the handler can
 * see it, read only by the handler. */
static char *volatile g_tmp_path;

static void on_signal(int sig) {
    char *p = g_tmp_path;
    if (p) unlink(p);
    signal(sig, SIG_DFL);
    raise(sig);
}

static const char *g_bus_msg;
static int g_bus_code;

static void on_sigbus(int sig) {
    (void)sig;
    char *p = g_tmp_path;
    if (p) unlink(p);
    const char *m = g_bus_msg;
    size_t n = strlen(m);
    while (n > 0) {
        ssize_t w = write(2, m, n);
        if (w <= 0) break;
        m += w;
        n -= (size_t)w;
    }
    _exit(g_bus_code);
}

void cli_sigbus_exit(const char *msg, int code) {
    g_bus_msg = msg;
    g_bus_code = code;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

static void install_handlers(void) {
    static int done;
    if (done) return;
    done = 1;
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

static char *dir_of(const char *path) {
    char *copy = strdup(path);
    if (!copy) return NULL;
    char *d = strdup(dirname(copy));
    free(copy);
    return d;
}

int cli_out_open(cli_outfile *out, const char *path, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    install_handlers();
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s is a directory; give a file name for the output", path);
        return -1;
    }
    char *dir = dir_of(path);
    char *copy = strdup(path);
    if (!dir || !copy) {
        free(dir);
        free(copy);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *base = basename(copy);
    size_t n = strlen(dir) + strlen(base) + 32;
    char *tmp = malloc(n);
    if (!tmp) {
        free(dir);
        free(copy);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(tmp, n, "%s/.%s.tmp-XXXXXX", dir, base);
    free(dir);
    free(copy);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a temporary file in the directory of %s: %s", path,
                 strerror(errno));
        free(tmp);
        return -1;
    }
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
    g_tmp_path = tmp;
    out->tmp_path = tmp;
    out->fp = fdopen(fd, "wb");
    out->final_path = strdup(path);
    if (!out->fp || !out->final_path) {
        if (!out->fp) close(fd);
        cli_out_abort(out);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void cli_out_abort(cli_outfile *out) {
    if (out->fp) {
        fclose(out->fp);
        out->fp = NULL;
    }
    if (out->tmp_path) {
        g_tmp_path = NULL;
        unlink(out->tmp_path);
        free(out->tmp_path);
        out->tmp_path = NULL;
    }
    free(out->final_path);
    out->final_path = NULL;
}

int cli_out_commit(cli_outfile *out, char *err, size_t errlen) {
    if (!out->fp) {
        snprintf(err, errlen, "internal error: output not open");
        return -1;
    }
    int bad = fflush(out->fp) != 0;
    int e = errno;
    if (!bad && fsync(fileno(out->fp)) != 0) {
        bad = 1;
        e = errno;
    }
    if (fclose(out->fp) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    out->fp = NULL;
    if (bad) {
        snprintf(err, errlen, "cannot write %s: %s", out->final_path, strerror(e));
        cli_out_abort(out);
        return -1;
    }
    if (rename(out->tmp_path, out->final_path) != 0) {
        snprintf(err, errlen, "cannot rename the temporary file to %s: %s", out->final_path,
                 strerror(errno));
        cli_out_abort(out);
        return -1;
    }
    g_tmp_path = NULL;
    char *dir = dir_of(out->final_path);
    if (dir) {
        int dfd = open(dir, O_RDONLY);
        if (dfd >= 0) {
            fsync(dfd); /* best effort: some file systems refuse fsync on directories */
            close(dfd);
        }
        free(dir);
    }
    free(out->tmp_path);
    out->tmp_path = NULL;
    free(out->final_path);
    out->final_path = NULL;
    return 0;
}

int cli_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

FILE *cli_scratch_open(const char *near, char *err, size_t errlen) {
    char *dir = dir_of(near);
    size_t n = dir ? strlen(dir) + 32 : 0;
    char *tmp = dir ? malloc(n) : NULL;
    if (!tmp) {
        free(dir);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(tmp, n, "%s/.bsdelta-scratch-XXXXXX", dir);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a scratch file in %s: %s", dir, strerror(errno));
        free(dir);
        free(tmp);
        return NULL;
    }
    unlink(tmp); /* the open file lives on; nothing remains whatever happens next */
    free(dir);
    free(tmp);
    FILE *fp = fdopen(fd, "w+b");
    if (!fp) {
        close(fd);
        snprintf(err, errlen, "out of memory");
    }
    return fp;
}
