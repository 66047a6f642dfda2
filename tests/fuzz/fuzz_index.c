/* fuzz_index.c - libFuzzer target for what a device does with a downloaded index.json before
 * anything is signed-checked... or after a signing key leaked: parse it (pkg_index_parse), take
 * the update decision for every release and an unknown base on several native versions
 * (pkg_decide), and check the answers are consistent; a parsed index must also serialize and
 * parse back to the same text. Any crash, sanitizer report or abort() is a finding. */
#include "pkg_index.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void decide_all(const pkg_index *ix) {
    static const char *natives[] = {"0", "1", "1.10", "2.5.1", "99999999999999999999", "x"};
    static const char unknown[] = "0000000000000000000000000000000000000000000000000000000000000000";
    for (size_t k = 0; k <= ix->nrel; k++) {
        const char *from = k < ix->nrel ? ix->rel[k].id : unknown;
        for (size_t n = 0; n < sizeof natives / sizeof *natives; n++)
            for (int full = 0; full < 2; full++) {
                pkg_decision d;
                pkg_decide(ix, from, natives[n], full, NULL, NULL, &d);
                if (d.target < -1 || d.target >= (long)ix->nrel || d.from < -1 || d.from >= (long)ix->nrel) abort();
                if ((d.action == PKG_ACT_PATCH || d.action == PKG_ACT_FULL) && d.target < 0) abort();
                if (d.target >= 0 && d.route == PKG_ACT_PATCH) {
                    if (!d.patch || full || d.from < 0 || strcmp(d.patch->from, ix->rel[d.from].id)) abort();
                }
                if (d.target >= 0 && d.route == PKG_ACT_FULL && !d.reason) abort();
                if (d.why_mandatory >= 0 && !ix->rel[d.why_mandatory].mandatory) abort();
            }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pkg_ctx *ctx = pkg_create();
    if (!ctx) return 0;
    pkg_index ix;
    if (pkg_index_parse(ctx, data, size, "fuzz input", "demo", &ix) == PKG_OK) {
        decide_all(&ix);
        char *json = pkg_index_json(&ix);
        if (json) {
            pkg_index again;
            if (pkg_index_parse(ctx, json, strlen(json), "round trip", "demo", &again) != PKG_OK) abort();
            char *json2 = pkg_index_json(&again);
            if (json2 && strcmp(json, json2)) abort();
            free(json2);
            pkg_index_free(&again);
        }
        free(json);
        pkg_index_free(&ix);
    }
    pkg_free(ctx);
    return 0;
}
