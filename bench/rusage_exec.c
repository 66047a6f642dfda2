/* bsdelta-bench-exec: runs one command and reports its wall time, CPU time and peak RSS (from
 * wait4() on that child alone), killing its process group after an optional timeout.
 *
 * Why a helper instead of measuring from the Python harness directly: Linux keeps a process's
 * peak RSS across exec(), so a child forked by a 20 MB interpreter reports at least 20 MB. This
 * program is small; what it forks starts from its own ~1 MB, so small patchers measure true. */
#define _DEFAULT_SOURCE /* wait4(), setitimer() */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv_seconds(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static void usage(void)
{
    fprintf(stderr, "usage: bsdelta-bench-exec [-t SECONDS] -o RESULTFILE -- COMMAND [ARG...]\n"
                    "Runs COMMAND (stdin, stdout, stderr inherited) and writes one line to "
                    "RESULTFILE:\n"
                    "  status=exited|signaled|timeout|execfail code=N wall=S user=S sys=S "
                    "maxrss_kb=K\n"
                    "Exit status: 0 when the line was written, 2 on a usage or system error.\n");
}

int main(int argc, char **argv)
{
    double timeout = 0;
    const char *result_path = NULL;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
            timeout = strtod(argv[++i], NULL);
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            result_path = argv[++i];
        } else {
            usage();
            return 2;
        }
    }
    if (!result_path || i >= argc) {
        usage();
        return 2;
    }
    FILE *res = fopen(result_path, "w");
    if (!res) {
        fprintf(stderr, "bsdelta-bench-exec: cannot write %s: %s\n", result_path, strerror(errno));
        return 2;
    }

    /* A close-on-exec pipe: the child writes its errno into it only when exec fails. */
    int fds[2];
    if (pipe(fds) != 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) {
        perror("bsdelta-bench-exec: pipe");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: wait4() returns EINTR on the alarm */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);

    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("bsdelta-bench-exec: fork");
        return 2;
    }
    if (pid == 0) {
        close(fds[0]);
        setpgid(0, 0); /* its own group, so a timeout kills whatever it started too */
        signal(SIGALRM, SIG_DFL);
        execvp(argv[i], argv + i);
        int e = errno;
        ssize_t w = write(fds[1], &e, sizeof e);
        (void)w;
        _exit(127);
    }
    setpgid(pid, pid); /* also here: no race with the child's own call */
    close(fds[1]);
    int exec_errno = 0;
    ssize_t got;
    do
        got = read(fds[0], &exec_errno, sizeof exec_errno);
    while (got < 0 && errno == EINTR);
    close(fds[0]);
    int exec_failed = got == (ssize_t)sizeof exec_errno;

    if (timeout > 0 && !exec_failed) {
        struct itimerval it;
        memset(&it, 0, sizeof it);
        it.it_value.tv_sec = (time_t)timeout;
        it.it_value.tv_usec = (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6);
        if (it.it_value.tv_sec == 0 && it.it_value.tv_usec == 0)
            it.it_value.tv_usec = 1;
        setitimer(ITIMER_REAL, &it, NULL);
    }
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    int killed = 0;
    for (;;) {
        pid_t r = wait4(pid, &status, 0, &ru);
        if (r == pid)
            break;
        if (r < 0 && errno == EINTR) {
            if (timed_out && !killed) {
                kill(-pid, SIGKILL);
                kill(pid, SIGKILL);
                killed = 1;
            }
            continue;
        }
        perror("bsdelta-bench-exec: wait4");
        return 2;
    }
    double wall = now() - t0;
    if (killed)
        kill(-pid, SIGKILL); /* grandchildren that outlived the child */

    const char *what;
    int code;
    if (exec_failed) {
        what = "execfail";
        code = exec_errno;
    } else if (killed) {
        what = "timeout";
        code = -1;
    } else if (WIFEXITED(status)) {
        what = "exited";
        code = WEXITSTATUS(status);
    } else {
        what = "signaled";
        code = WIFSIGNALED(status) ? WTERMSIG(status) : -1;
    }
    fprintf(res, "status=%s code=%d wall=%.6f user=%.6f sys=%.6f maxrss_kb=%ld\n", what, code,
            wall, tv_seconds(ru.ru_utime), tv_seconds(ru.ru_stime), ru.ru_maxrss);
    if (exec_failed)
        fprintf(stderr, "bsdelta-bench-exec: cannot run %s: %s\n", argv[i], strerror(exec_errno));
    if (fclose(res) != 0) {
        perror("bsdelta-bench-exec: writing the result");
        return 2;
    }
    return 0;
}
