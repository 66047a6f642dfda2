/* pkgtool_cli.h - what the pkgtool command's source files share: parsed options, exit codes,
 * error and progress output. */
#ifndef PKGTOOL_CLI_H
#define PKGTOOL_CLI_H

#include "pkgtool.h"

typedef struct args {
    const char *store, *app, *label, *min_native, *message, *from, *native, *out, *input;
    const char *key, *install_dir, *trust;
    int mandatory, pin, full, json, quiet, zstd;
    int retries; /* -1 = default */
    unsigned keep, threads, expires_days;
    double max_ratio;
} args;

/* Prints "pkgtool: <error>: <detail>" and returns the exit code for e. */
int fail(pkg_ctx *ctx, pkg_error e);
/* A progress line on stderr (opaque: int *quiet or NULL). PKGTOOL_KILL_AT=TEXT (crash tests)
 * kills the process with SIGKILL at the first line containing TEXT. */
void progress(void *opaque, const char *text);
/* Complains about a missing option; -1 when v is NULL. */
int need(const char *v, const char *what);

/* Runs the device commands (update, install, start, confirm, rollback, status): returns 1 and
 * sets *rc when cmd is one of them, else 0. */
int device_command(pkg_ctx *ctx, const char *cmd, const args *a, int *rc);

#endif
