/* pkgtool_main.c - the pkgtool command: pack, release, check, verify, ls. */
#define _POSIX_C_SOURCE 200809L
#include "pkgtool.h"
#include "pkgtool_cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    EXIT_OK = 0,
    EXIT_USAGE = 1,
    EXIT_INPUT = 2,   /* input or store/app/release not found or unreadable */
    EXIT_IO = 3,      /* cannot write (disk full, permissions) */
    EXIT_UNSAFE = 4,  /* unsafe entry in the input */
    EXIT_EXISTS = 5,  /* label or content already released */
    EXIT_STORE = 6,   /* damaged store; verify found problems */
    EXIT_DIFF = 7,    /* diff or patch verification failed */
    EXIT_NOMEM = 10,
    /* device commands */
    EXIT_NETWORK = 11,   /* a store file could not be fetched */
    EXIT_SIGNATURE = 12, /* index unsigned or badly signed */
    EXIT_EXPIRED = 13,   /* index expired */
    EXIT_REPLAY = 14,    /* index older than one seen before */
    EXIT_INTEGRITY = 15, /* a download did not verify */
    EXIT_INSTALL = 16    /* damaged install directory, or it is in use */
};

static const char *usage_text =
    "usage: pkgtool COMMAND [options]\n"
    "\n"
    "release machine:\n"
    "  pack INPUT -o BUNDLE.zip\n"
    "      Make a canonical, reproducible bundle of INPUT (a directory, or an archive: zip, tar,\n"
    "      tar.gz ...): entries stored uncompressed and sorted, fixed times and permissions, and\n"
    "      a manifest (.bsdelta/manifest.json) with every file's size and SHA-256. Prints the\n"
    "      bundle id (the SHA-256 of the bundle).\n"
    "  release --store S --app A --label L [--min-native N] [--mandatory] [--message M]\n"
    "          [--keep K] [--pin] [--max-ratio R] [--compressor C] [-j N] [--sign KEY]\n"
    "          [--expires-in DAYS] INPUT\n"
    "      Pack INPUT and add it to the store as release L of app A, with a verified patch from\n"
    "      every retained release (the last K, default 5, plus pinned ones). A patch is kept only\n"
    "      if smaller than R (default 0.7) x the full bundle. The index is written last and\n"
    "      atomically; files no retained release needs are removed. Running the same release\n"
    "      again (label, content and options) completes an interrupted one; a used label or\n"
    "      content is otherwise refused (exit 5). --sign writes A/index.json.sig with the\n"
    "      Ed25519 private key KEY; the index expires DAYS (default 90) days after the release.\n"
    "      --compressor zstd makes the patches about 4% smaller and faster to apply, for a diff\n"
    "      2-3 times as long (default bzip2); every bspatch and client of this version applies\n"
    "      both.\n"
    "  keygen --out NAME\n"
    "      Write a new Ed25519 key pair: NAME.key (private, mode 0600) and NAME.pub (for clients).\n"
    "  sign --store S --app A --key KEY [--expires-in DAYS]\n"
    "      Re-sign A's index without a release (its version grows, its expiry moves to now +\n"
    "      DAYS): run it on a schedule so clients never see an expired index.\n"
    "  check --store S --app A [--from BUNDLE_ID] [--native N] [--full]\n"
    "      Print the update decision for a client as JSON: none, patch, full or native_update.\n"
    "  verify --store S [--trust KEY.pub]\n"
    "      Re-hash every file, re-apply every patch, check each index (and its expiry; with\n"
    "      --trust, its signature by KEY). Lists every problem.\n"
    "  ls --store S --app A\n"
    "      List the releases and their patches.\n"
    "\n"
    "device (docs/DEVICE.md):\n"
    "  update --install-dir D --store URL_OR_DIR --app A --native N [--trust KEY.pub] [--full]\n"
    "         [--retries N] [--json] [-q]\n"
    "      Bring D to the newest release this native shell N can run: check the index (signature\n"
    "      with --trust, expiry, replay), stream the patch into the patcher while it downloads\n"
    "      (or fetch the full bundle; the full bundle also when the patch fails), resume cut\n"
    "      transfers with HTTP Range (N times, default 5; a partial bundle is kept for the next\n"
    "      run), verify every hash, unpack beside the running version, switch atomically. The new\n"
    "      version is pending until confirmed. Progress lines name the steps; PKGTOOL_KILL_AT=TEXT\n"
    "      stops the process at the first one containing TEXT (for crash tests).\n"
    "  install --install-dir D [--app A] BUNDLE.zip\n"
    "      Install a local bundle (the one the app ships with) as the current, confirmed version\n"
    "      (--app is needed only when nothing is installed in D yet).\n"
    "  start --install-dir D\n"
    "      Print the directory the app should run. A pending version started once before and never\n"
    "      confirmed is rolled back first.\n"
    "  confirm --install-dir D      the running version is healthy: keep it\n"
    "  rollback --install-dir D     go back to the previous version now (the one left is rejected)\n"
    "  status --install-dir D [--json]\n"
    "      Current and previous version, pending state, rejected releases.\n"
    "\n"
    "exit codes: 0 ok, 1 usage, 2 input or store entry not found/unreadable, 3 cannot write (disk\n"
    "full, permissions), 4 unsafe entry in the input, 5 already released / key exists, 6 damaged\n"
    "store (verify found problems), 7 diff or patch verification failed, 10 out of memory,\n"
    "11 network, 12 index unsigned or badly signed, 13 index expired, 14 index older than one\n"
    "seen before, 15 a download did not verify, 16 damaged or busy install directory.\n";

static int exit_for(pkg_error e) {
    switch (e) {
    case PKG_OK: return EXIT_OK;
    case PKG_E_MISUSE: return EXIT_USAGE;
    case PKG_E_NOMEM: return EXIT_NOMEM;
    case PKG_E_IO: return EXIT_IO;
    case PKG_E_INPUT:
    case PKG_E_NOT_FOUND: return EXIT_INPUT;
    case PKG_E_UNSAFE: return EXIT_UNSAFE;
    case PKG_E_EXISTS: return EXIT_EXISTS;
    case PKG_E_STORE: return EXIT_STORE;
    case PKG_E_DIFF:
    case PKG_E_VERIFY: return EXIT_DIFF;
    case PKG_E_NETWORK: return EXIT_NETWORK;
    case PKG_E_SIGNATURE: return EXIT_SIGNATURE;
    case PKG_E_EXPIRED: return EXIT_EXPIRED;
    case PKG_E_REPLAY: return EXIT_REPLAY;
    case PKG_E_INTEGRITY: return EXIT_INTEGRITY;
    case PKG_E_INSTALL: return EXIT_INSTALL;
    }
    return EXIT_NOMEM;
}

int fail(pkg_ctx *ctx, pkg_error e) {
    fprintf(stderr, "pkgtool: %s: %s\n", pkg_strerror(e), pkg_detail(ctx));
    return exit_for(e);
}

/* Progress lines go to stderr. PKGTOOL_KILL_AT=TEXT (for crash-safety tests) kills the process
 * with SIGKILL at the first progress line containing TEXT. */
void progress(void *opaque, const char *text) {
    if (opaque && *(const int *)opaque) return; /* -q */
    fprintf(stderr, "pkgtool: %s\n", text);
    const char *kill_at = getenv("PKGTOOL_KILL_AT");
    if (kill_at && *kill_at && strstr(text, kill_at)) raise(SIGKILL);
}

static int parse(int argc, char **argv, args *a) {
    memset(a, 0, sizeof *a);
    a->retries = -1;
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        const char **str = NULL;
        if (!strcmp(s, "--store")) str = &a->store;
        else if (!strcmp(s, "--app")) str = &a->app;
        else if (!strcmp(s, "--label")) str = &a->label;
        else if (!strcmp(s, "--min-native")) str = &a->min_native;
        else if (!strcmp(s, "--message")) str = &a->message;
        else if (!strcmp(s, "--from")) str = &a->from;
        else if (!strcmp(s, "--native")) str = &a->native;
        else if (!strcmp(s, "-o") || !strcmp(s, "--output") || !strcmp(s, "--out")) str = &a->out;
        else if (!strcmp(s, "--sign") || !strcmp(s, "--key")) str = &a->key;
        else if (!strcmp(s, "--install-dir")) str = &a->install_dir;
        else if (!strcmp(s, "--trust")) str = &a->trust;
        else if (!strcmp(s, "--json")) a->json = 1;
        else if (!strcmp(s, "-q") || !strcmp(s, "--quiet")) a->quiet = 1;
        else if (!strcmp(s, "--mandatory")) a->mandatory = 1;
        else if (!strcmp(s, "--pin")) a->pin = 1;
        else if (!strcmp(s, "--full")) a->full = 1;
        else if (!strcmp(s, "--compressor")) {
            const char *v = i + 1 < argc ? argv[++i] : "";
            if (!strcmp(v, "zstd")) a->zstd = 1;
            else if (!strcmp(v, "bzip2")) a->zstd = 0;
            else {
                fprintf(stderr, "pkgtool: --compressor takes bzip2 or zstd\n");
                return -1;
            }
        }
        else if (!strcmp(s, "--keep") || !strcmp(s, "-j") || !strcmp(s, "--max-ratio") ||
                 !strcmp(s, "--expires-in") || !strcmp(s, "--retries")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "pkgtool: %s needs a value\n", s);
                return -1;
            }
            char *end;
            const char *v = argv[++i];
            if (!strcmp(s, "--max-ratio")) {
                a->max_ratio = strtod(v, &end);
                if (*end || a->max_ratio <= 0 || a->max_ratio > 1) {
                    fprintf(stderr, "pkgtool: --max-ratio takes a number in (0, 1]\n");
                    return -1;
                }
            } else {
                long n = strtol(v, &end, 10);
                long lo = !strcmp(s, "--retries") ? 0 : 1, hi = !strcmp(s, "--expires-in") ? 36500 : 1000;
                if (*end || n < lo || n > hi) {
                    fprintf(stderr, "pkgtool: %s takes a whole number from %ld to %ld\n", s, lo, hi);
                    return -1;
                }
                if (!strcmp(s, "--keep")) a->keep = (unsigned)n;
                else if (!strcmp(s, "--expires-in")) a->expires_days = (unsigned)n;
                else if (!strcmp(s, "--retries")) a->retries = (int)n;
                else a->threads = (unsigned)n;
            }
        } else if (s[0] == '-' && s[1]) {
            fprintf(stderr, "pkgtool: unknown option %s (see pkgtool --help)\n", s);
            return -1;
        } else if (!a->input) {
            a->input = s;
        } else {
            fprintf(stderr, "pkgtool: unexpected argument %s\n", s);
            return -1;
        }
        if (str) {
            if (i + 1 >= argc) {
                fprintf(stderr, "pkgtool: %s needs a value\n", s);
                return -1;
            }
            *str = argv[++i];
        }
    }
    return 0;
}

int need(const char *v, const char *what) {
    if (v) return 0;
    fprintf(stderr, "pkgtool: missing %s (see pkgtool --help)\n", what);
    return -1;
}

static void print_problem(void *opaque, const char *text) {
    (void)opaque;
    printf("PROBLEM %s\n", text);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        puts("pkgtool (bsdelta) 0.1.0");
        return EXIT_OK;
    }
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        }
    const char *cmd = argv[1];
    args a;
    if (parse(argc, argv, &a) != 0) return EXIT_USAGE;
    pkg_ctx *ctx = pkg_create();
    if (!ctx) return EXIT_NOMEM;
    int rc = EXIT_OK;
    pkg_error e;
    if (!strcmp(cmd, "pack")) {
        if (need(a.input, "INPUT") || need(a.out, "-o BUNDLE.zip")) {
            rc = EXIT_USAGE;
        } else {
            pkg_bundle_info info;
            e = pkg_pack_file(ctx, a.input, a.out, &info);
            if (e) rc = fail(ctx, e);
            else printf("%s  %s  (%llu bytes, %llu files)\n", info.id, a.out, (unsigned long long)info.size,
                        (unsigned long long)info.files);
        }
    } else if (!strcmp(cmd, "release")) {
        if (need(a.store, "--store") || need(a.app, "--app") || need(a.label, "--label") ||
            need(a.input, "INPUT")) {
            rc = EXIT_USAGE;
        } else {
            pkg_release_opts o;
            pkg_release_opts_init(&o);
            o.label = a.label;
            if (a.min_native) o.min_native = a.min_native;
            if (a.message) o.message = a.message;
            o.mandatory = a.mandatory;
            o.pin = a.pin;
            if (a.keep) o.keep = a.keep;
            o.threads = a.threads;
            if (a.max_ratio > 0) o.max_ratio = a.max_ratio;
            o.zstd = a.zstd;
            o.expires_days = a.expires_days;
            o.sign_key = a.key;
            o.progress = progress;
            pkg_release_report rep;
            e = pkg_release(ctx, a.store, a.app, a.input, &o, &rep);
            if (e) {
                rc = fail(ctx, e);
            } else {
                printf("released %s of %s: bundle %s (%llu bytes)\n", a.label, a.app, rep.bundle.id,
                       (unsigned long long)rep.bundle.size);
                printf("%-16s %12s %8s %8s  %s\n", "from", "patch bytes", "% full", "seconds", "kept");
                for (size_t i = 0; i < rep.npatches; i++) {
                    pkg_patch_result *p = &rep.patches[i];
                    printf("%-16s %12llu %7.1f%% %8.2f  %s\n", p->from_label, (unsigned long long)p->patch_size,
                           100.0 * (double)p->patch_size / (double)(p->full_size ? p->full_size : 1), p->seconds,
                           p->kept ? "yes" : "no (too large: clients get the full bundle)");
                }
                if (!rep.npatches) printf("(first release: no earlier bundle to patch from)\n");
            }
            pkg_release_report_free(&rep);
        }
    } else if (!strcmp(cmd, "check")) {
        if (need(a.store, "--store") || need(a.app, "--app")) {
            rc = EXIT_USAGE;
        } else {
            char *json;
            e = pkg_check(ctx, a.store, a.app, a.from, a.native, a.full, &json);
            if (e) rc = fail(ctx, e);
            else fputs(json, stdout);
            pkg_buffer_free(e ? NULL : json);
        }
    } else if (!strcmp(cmd, "verify")) {
        if (need(a.store, "--store")) {
            rc = EXIT_USAGE;
        } else {
            uint64_t problems = 0;
            e = pkg_verify_signed(ctx, a.store, a.trust, print_problem, NULL, &problems);
            if (e) rc = fail(ctx, e);
            else if (problems) {
                printf("%llu problem%s found in %s\n", (unsigned long long)problems, problems > 1 ? "s" : "",
                       a.store);
                rc = EXIT_STORE;
            } else {
                printf("store %s verified: every file, hash and patch is consistent\n", a.store);
            }
        }
    } else if (!strcmp(cmd, "ls")) {
        if (need(a.store, "--store") || need(a.app, "--app")) {
            rc = EXIT_USAGE;
        } else {
            char *text;
            e = pkg_list(ctx, a.store, a.app, &text);
            if (e) rc = fail(ctx, e);
            else fputs(text, stdout);
            pkg_buffer_free(e ? NULL : text);
        }
    } else if (!strcmp(cmd, "keygen")) {
        if (need(a.out, "--out NAME")) {
            rc = EXIT_USAGE;
        } else if ((e = pkg_keygen(ctx, a.out))) {
            rc = fail(ctx, e);
        } else {
            printf("wrote %s.key (private: keep it on the release machine, mode 0600) and %s.pub (give it to "
                   "clients: --trust %s.pub)\n", a.out, a.out, a.out);
        }
    } else if (!strcmp(cmd, "sign")) {
        if (need(a.store, "--store") || need(a.app, "--app") || need(a.key, "--key KEY")) {
            rc = EXIT_USAGE;
        } else if ((e = pkg_sign(ctx, a.store, a.app, a.key, a.expires_days, 0))) {
            rc = fail(ctx, e);
        } else {
            printf("signed the index of %s in %s (valid %u days)\n", a.app, a.store,
                   a.expires_days ? a.expires_days : 90);
        }
    } else if (!device_command(ctx, cmd, &a, &rc)) {
        fprintf(stderr, "pkgtool: unknown command '%s' (see pkgtool --help)\n", cmd);
        rc = EXIT_USAGE;
    }
    pkg_free(ctx);
    return rc;
}
