/* pkg_decide.c - the update decision (docs/STORE.md, "The update decision"): which release a
 * client should move to and how. Pure function of the index; used by `pkgtool check` on the
 * store and by the device client on the index it downloaded. */
#include "pkg_index.h"

#include <string.h>

void pkg_decide(const pkg_index *ix, const char *from_id, const char *native, int want_full,
                int (*patch_usable)(void *opaque, const pkg_patch_ref *p), void *opaque, pkg_decision *d) {
    memset(d, 0, sizeof *d);
    d->target = -1;
    d->why_mandatory = -1;
    d->from = (from_id && *from_id) ? pkg_find_id(ix, from_id) : -1;
    if (!native || !*native) native = "0";
    if (!ix->nrel) return;
    size_t newest = ix->nrel - 1;
    long runnable = -1; /* newest release this native shell can run */
    for (size_t k = ix->nrel; k-- > 0;)
        if (pkg_version_cmp(ix->rel[k].min_native, native) <= 0) {
            runnable = (long)k;
            break;
        }
    if (pkg_version_cmp(ix->rel[newest].min_native, native) > 0) {
        d->action = PKG_ACT_NATIVE;
        /* the client can still move to the newest release its shell runs, if that is newer
         * than what it holds and its bundle is kept */
        if (runnable < 0 || (d->from >= 0 && d->from >= runnable) || !ix->rel[runnable].retained) return;
        d->target = runnable;
    } else if (d->from == (long)newest || (d->from >= 0 && d->from > runnable)) {
        d->action = PKG_ACT_NONE;
        return;
    } else {
        d->target = (long)newest;
    }
    const pkg_rel *r = &ix->rel[d->target];
    for (long k = d->from + 1; k <= d->target; k++)
        if (ix->rel[k].mandatory) d->why_mandatory = k;
    const pkg_patch_ref *p = NULL;
    if (want_full) d->reason = "full bundle requested";
    else if (d->from < 0) d->reason = "unknown base: no patch can apply";
    else {
        for (size_t k = 0; k < r->npatches; k++)
            if (!strcmp(r->patches[k].from, ix->rel[d->from].id)) p = &r->patches[k];
        if (!p) d->reason = "no patch from this base (not retained, or a patch would not be smaller)";
        else if (patch_usable && !patch_usable(opaque, p)) {
            p = NULL;
            d->reason = "the patch file is missing from the store";
        }
    }
    d->patch = p;
    d->route = p ? PKG_ACT_PATCH : PKG_ACT_FULL;
    if (d->action != PKG_ACT_NATIVE) d->action = d->route;
}
