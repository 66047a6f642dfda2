/* cli_util.h - helpers shared by the command-line programs (never by the libraries):
 * atomic output files (temporary file in the destination directory, fsync, rename; removed on
 * failure or on SIGINT/SIGTERM/SIGHUP), and same-file checks. POSIX. */
#ifndef BSDELTA_CLI_UTIL_H
#define BSDELTA_CLI_UTIL_H

#include <stddef.h>
#include <stdio.h>

typedef struct cli_outfile {
    char *final_path; /* where the file lands on commit */
    char *tmp_path;   /* the temporary file, in the same directory */
    FILE *fp;         /* open for writing while the outfile is open */
} cli_outfile;

/* Creates a temporary file beside path (mode 0644 less umask). Returns 0, or -1 with a message
 * in err. At most one outfile per process may be open at a time (the signal handler removes
 * it). */
int cli_out_open(cli_outfile *out, const char *path, char *err, size_t errlen);

/* Flushes, fsyncs, closes and renames the temporary file over final_path, then fsyncs the
 * directory. Returns 0, or -1 with a message in err (the temporary file is then removed). */
int cli_out_commit(cli_outfile *out, char *err, size_t errlen);

/* Closes and removes the temporary file; final_path is untouched. Safe to call twice. */
void cli_out_abort(cli_outfile *out);

/* From now on SIGBUS (a memory-mapped input shrank under the process) removes the open
 * outfile's temporary file, prints msg on standard error and exits with code. msg must outlive
 * the process's use of mapped inputs. */
void cli_sigbus_exit(const char *msg, int code);

/* 1 when a and b name the same existing file (same device and inode), else 0. */
int cli_same_file(const char *a, const char *b);

/* Opens a new, already unlinked temporary file ("w+b") in the directory of near: scratch space
 * that disappears when closed or when the process ends, however it ends. NULL with a message
 * in err on failure. */
FILE *cli_scratch_open(const char *near, char *err, size_t errlen);

/* Seconds on a monotonic clock. */
double cli_now(void);

#endif
