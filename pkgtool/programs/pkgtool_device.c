/* pkgtool_device.c - the device commands of pkgtool: update, install, start, confirm,
 * rollback, status (docs/DEVICE.md). Thin wrappers around pkgclient.h. */
#define _POSIX_C_SOURCE 200809L
#include "http_transport.h"
#include "pkgclient.h"
#include "pkgtool_cli.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *result_name(int r) {
    switch (r) {
    case PKC_UPDATED: return "updated";
    case PKC_UP_TO_DATE: return "up_to_date";
    case PKC_NATIVE_UPDATE: return "native_update";
    case PKC_REJECTED: return "rejected";
    }
    return "?";
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void print_result(const pkc_update_result *r, const args *a) {
    if (a->json) {
        printf("{\"result\": \"%s\", \"method\": \"%s\", \"from\": ", result_name(r->result),
               r->result != PKC_UPDATED ? "none" : r->method == PKC_METHOD_PATCH ? "patch" : "full");
        if (r->from_id[0]) {
            printf("{\"id\": \"%s\", \"label\": ", r->from_id);
            json_str(r->from_label);
            printf("}");
        } else {
            printf("null");
        }
        printf(", \"to\": ");
        if (r->to_id[0]) {
            printf("{\"id\": \"%s\", \"label\": ", r->to_id);
            json_str(r->to_label);
            printf("}");
        } else {
            printf("null");
        }
        printf(", \"newest\": ");
        json_str(r->newest_label);
        printf(", \"native_update\": %s, \"mandatory\": %s, \"message\": ", r->native_update ? "true" : "false",
               r->mandatory ? "true" : "false");
        json_str(r->message);
        printf(", \"fallback\": ");
        json_str(r->fallback);
        printf(", \"signature_checked\": %s, \"index_version\": %llu, \"download_size\": %llu, "
               "\"bytes_fetched\": %llu, \"resumes\": %u}\n",
               r->signature_checked ? "true" : "false", (unsigned long long)r->index_version,
               (unsigned long long)r->download_size, (unsigned long long)r->bytes_fetched, r->resumes);
        return;
    }
    switch (r->result) {
    case PKC_UPDATED:
        printf("updated %s -> %s with the %s (%llu bytes downloaded)%s\n", r->from_id[0] ? r->from_label : "(nothing)",
               r->to_label, r->method == PKC_METHOD_PATCH ? "patch" : "full bundle",
               (unsigned long long)r->bytes_fetched,
               r->mandatory ? "; mandatory update" : "");
        if (r->fallback[0]) printf("  not a patch: %s\n", r->fallback);
        if (r->message[0]) printf("  message: %s\n", r->message);
        printf("  the new version is pending: run 'pkgtool start', and 'pkgtool confirm' once it works\n");
        break;
    case PKC_UP_TO_DATE: printf("up to date (%s)\n", r->from_id[0] ? r->from_label : "nothing installed"); break;
    case PKC_REJECTED:
        printf("release %s was rolled back on this device before; staying on %s\n", r->to_label,
               r->from_id[0] ? r->from_label : "the built-in bundle");
        break;
    case PKC_NATIVE_UPDATE: break;
    }
    if (r->native_update)
        printf("release %s needs a newer version of the app itself: update the app from the app store\n",
               r->newest_label);
}

/* status without --json: the same facts as lines */
static void print_status(const char *json, const char *dir) {
    cJSON *st = cJSON_Parse(json);
    const char *names[2] = {"current", "previous"};
    printf("install directory %s (app %s, index version seen %.0f)\n", dir,
           cJSON_GetStringValue(cJSON_GetObjectItem(st, "app")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(st, "index_version")));
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItem(st, names[i]);
        if (cJSON_IsObject(v))
            printf("%-9s %s  %s\n", names[i], cJSON_GetStringValue(cJSON_GetObjectItem(v, "label")),
                   cJSON_GetStringValue(cJSON_GetObjectItem(v, "id")));
        else
            printf("%-9s none%s\n", names[i], i ? "" : " (the app runs the bundle it ships with)");
    }
    if (cJSON_IsTrue(cJSON_GetObjectItem(st, "pending")))
        printf("pending   yes: started %.0f time(s) without 'pkgtool confirm'; the next unconfirmed start rolls "
               "back\n",
               cJSON_GetNumberValue(cJSON_GetObjectItem(st, "started")));
    else
        printf("pending   no\n");
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(st, "rejected")) printf("rejected  %s\n", cJSON_GetStringValue(r));
    cJSON_Delete(st);
}

static int cmd_update(pkg_ctx *ctx, const args *a) {
    if (need(a->install_dir, "--install-dir D") || need(a->store, "--store URL_OR_DIR") || need(a->app, "--app A") ||
        need(a->native, "--native N (the native shell's version)"))
        return 1;
    pkc_update_opts o;
    pkc_update_opts_init(&o);
    o.install_dir = a->install_dir;
    o.app = a->app;
    o.native = a->native;
    o.trust_key = a->trust;
    o.want_full = a->full;
    o.retries = a->retries;
    o.progress = progress;
    o.progress_opaque = (void *)&a->quiet;
    int is_http = !strncmp(a->store, "http://", 7) || !strncmp(a->store, "https://", 8);
    if (is_http) {
        if (http_transport_init(&o.transport, a->store) != 0) {
            fprintf(stderr, "pkgtool: cannot initialize the HTTP client (libcurl)\n");
            return 10;
        }
    } else {
        struct stat sb;
        if (stat(a->store, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "pkgtool: the store %s is neither an http(s):// URL nor a directory\n", a->store);
            return 2;
        }
        pkc_transport_dir(&o.transport, a->store);
    }
    if (!a->trust && !a->quiet)
        fprintf(stderr, "pkgtool: warning: the index is not signature-checked (pass --trust KEY.pub)\n");
    pkc_update_result r;
    pkg_error e = pkc_update(ctx, &o, &r);
    if (is_http) http_transport_free(&o.transport);
    if (e) {
        int rc = fail(ctx, e);
        fprintf(stderr, "pkgtool: the installed version is unchanged\n");
        return rc;
    }
    print_result(&r, a);
    return 0;
}

int device_command(pkg_ctx *ctx, const char *cmd, const args *a, int *rc) {
    pkg_error e = PKG_OK;
    if (!strcmp(cmd, "update")) {
        *rc = cmd_update(ctx, a);
        return 1;
    }
    if (!strcmp(cmd, "install")) {
        if (need(a->install_dir, "--install-dir D") || need(a->input, "BUNDLE.zip")) {
            *rc = 1;
        } else if ((e = pkc_install_bundle(ctx, a->install_dir, a->app, a->input))) {
            *rc = fail(ctx, e);
        } else {
            printf("installed %s as the current version of %s in %s\n", a->input, a->app, a->install_dir);
            *rc = 0;
        }
        return 1;
    }
    if (!strcmp(cmd, "start") || !strcmp(cmd, "confirm") || !strcmp(cmd, "rollback") || !strcmp(cmd, "status")) {
        if (need(a->install_dir, "--install-dir D")) {
            *rc = 1;
            return 1;
        }
        char *out = NULL;
        int rolled = 0;
        if (!strcmp(cmd, "start")) e = pkc_start(ctx, a->install_dir, &out, &rolled);
        else if (!strcmp(cmd, "confirm")) e = pkc_confirm(ctx, a->install_dir);
        else if (!strcmp(cmd, "rollback")) e = pkc_rollback(ctx, a->install_dir);
        else e = pkc_status(ctx, a->install_dir, &out);
        if (e) {
            *rc = fail(ctx, e);
            return 1;
        }
        *rc = 0;
        if (!strcmp(cmd, "start")) {
            if (rolled)
                fprintf(stderr, "pkgtool: the new version was started before and never confirmed: rolled back\n");
            printf("%s\n", out);
        } else if (!strcmp(cmd, "confirm")) {
            printf("confirmed: the current version of %s stays\n", a->install_dir);
        } else if (!strcmp(cmd, "rollback")) {
            printf("rolled back %s to the previous version\n", a->install_dir);
        } else if (a->json) {
            fputs(out, stdout);
        } else {
            print_status(out, a->install_dir);
        }
        pkg_buffer_free(out);
        return 1;
    }
    return 0;
}
