/* Reservations' board choice for a grant (rs->write_mu held): the first free matching board for
 * one lease, or a distinct free board for every role of a multi-board request, all or none. */
#include "reservations.h"
#include "reservations_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "health/health.h"
#include "store/store_reservations.h"
#include "util.h"

/* Assign role k onward a distinct free board from cand (cand[k][0..ncand[k]-1] are board indexes;
 * used[] marks taken ones). Backtracking: a few roles over a few boards. */
static bool assign(size_t k, size_t n, size_t *const *cand, const size_t *ncand, bool *used, size_t *pick)
{
        if (k == n)
                return true;
        for (size_t c = 0; c < ncand[k]; c++) {
                size_t b = cand[k][c];
                if (used[b])
                        continue;
                used[b] = true;
                pick[k] = b;
                if (assign(k + 1, n, cand, ncand, used, pick))
                        return true;
                used[b] = false;
        }
        return false;
}

/* The indexes of boards that role ({"role", "match"}) could get: present ones that match, and
 * with free_only those not leased either. *ret (n + 1 entries, freed by the caller) and *ret_n;
 * refused when none matches, or (without free_only) none is present. rs->write_mu held. */
static int role_candidates_w(struct reservations *rs, const json_t *role, const json_t *boards, bool free_only,
                                  int64_t now_ms, size_t **ret, size_t *ret_n, struct corral_error *err)
{
        const json_t *match = json_object_get(role, "match");
        const char *name = json_string_value(json_object_get(role, "role"));
        size_t *cand = calloc(json_array_size(boards) + 1, sizeof(size_t)), n = 0, nmatch = 0, i;
        *ret = cand;
        *ret_n = 0;
        if (!cand)
                return corral_error_set(err, CORRAL_E_NO_MEMORY, NULL, -ENOMEM, "Out of memory.");
        json_t *b;
        json_array_foreach(boards, i, b) {
                if (!reservations_board_matches(b, match))
                        continue;
                nmatch++;
                const char *state = json_string_value(json_object_get(b, "state"));
                if (!state || !strcmp(state, "offline") || health_row_quarantined(b))
                        continue;
                if (free_only && resv_find_board_locked(rs, json_string_value(json_object_get(b, "id")), now_ms))
                        continue;
                cand[n++] = i;
        }
        *ret_n = n;
        if (!nmatch)
                return corral_error_set(err, CORRAL_E_NO_MATCHING_BOARD,
                                        json_pack("{s:s, s:O}", "role", name, "match", match), -ENOENT,
                                        "No board matches role '%s''s 'match'.", name);
        if (!free_only && !n)
                return corral_error_set(err, CORRAL_E_NO_BOARD_ONLINE,
                                        json_pack("{s:s, s:O}", "role", name, "match", match), -ENODEV,
                                        "Role '%s': %zu board(s) match, but none is online.", name, nmatch);
        return 0;
}

/* Several roles' boards in one change under rs->write_mu: every role gets a distinct board or no
 * role gets any (so multi-board requests never hold part of what they need and never deadlock).
 * All are recorded in the store first, then published to memory at once (readers never see part). */
int resv_create_group_w(struct reservations *rs, const struct resv_request *req, const json_t *boards,
                        int64_t now_ms, struct after *a, json_t **ret, struct corral_error *err)
{
        size_t n = json_array_size(req->boards), nb = json_array_size(boards);
        size_t *cand[RESV_GROUP_MAX] = { 0 }, ncand[RESV_GROUP_MAX] = { 0 }, pick[RESV_GROUP_MAX];
        bool *used = calloc(nb + 1, sizeof(bool));
        int rc = 0;
        if (!used)
                return corral_error_set(err, CORRAL_E_NO_MEMORY, NULL, -ENOMEM, "Out of memory.");
        /* present: candidates ignoring leases (may the roles be met at all right now?) */
        for (int pass = 0; pass < 2 && rc == 0; pass++) {
                for (size_t k = 0; k < n && rc == 0; k++) {
                        free(cand[k]);
                        rc = role_candidates_w(rs, json_array_get(req->boards, k), boards, pass == 1, now_ms,
                                                    &cand[k], &ncand[k], err);
                }
                if (rc)
                        break;
                memset(used, 0, (nb + 1) * sizeof(bool));
                if (!assign(0, n, cand, ncand, used, pick)) {
                        if (pass == 0)
                                rc = corral_error_set(err, CORRAL_E_NOT_ENOUGH_BOARDS, json_pack("{s:I}", "roles", (json_int_t)n),
                                                   -ENODEV, "The %zu roles need %zu distinct online boards matching "
                                                   "their 'match'; there are not that many.", n, n);
                        else
                                rc = corral_error_set(err, CORRAL_E_BOARD_RESERVED, json_pack("{s:I}", "roles", (json_int_t)n),
                                                   -EBUSY, "Not enough of the matching boards are free for all %zu roles "
                                                   "at once; none was taken.", n);
                }
        }
        json_t *list = json_array();
        struct resv *got[RESV_GROUP_MAX];
        size_t ngot = 0;
        for (size_t k = 0; rc == 0 && k < n; k++) {
                const json_t *role = json_array_get(req->boards, k);
                json_t *one = NULL;
                rc = resv_grant_store(rs, json_object_get(role, "match"), req,
                                 json_string_value(json_object_get(json_array_get(boards, pick[k]), "id")), now_ms,
                                 ngot, &got[ngot], &one, err);
                if (rc == -EEXIST) /* another host took one of the boards meanwhile: none is kept */
                        rc = corral_error_set(err, CORRAL_E_BOARD_RESERVED, json_pack("{s:I}", "roles", (json_int_t)n),
                                              -EBUSY, "Another host leased one of the chosen boards meanwhile; none "
                                              "was taken.");
                if (rc == 0) {
                        ngot++;
                        json_object_set(one, "role", json_object_get(role, "role"));
                        json_array_append_new(list, one);
                }
        }
        if (rc < 0) {
                /* all or none: give back what this request recorded before the failure (never in memory) */
                for (size_t k = 0; k < ngot; k++) {
                        store_resv_end(rs->store, got[k]->id, "released");
                        resv_free(got[k]);
                }
                json_decref(list);
        } else {
                resv_grant_publish(rs, got, ngot, a, now_ms);
                *ret = json_pack("{s:o}", "reservations", list);
        }
        for (size_t k = 0; k < n; k++)
                free(cand[k]);
        free(used);
        return rc;
}

/* Why no board of boards could be leased for match: no match at all, none present, or (holders:
 * the present ones' leases) every one reserved, told by the lease that frees up first. */
static int no_free_board(const json_t *match, size_t nmatch, size_t npresent, size_t nquarantined,
                         const struct resv *first_holder, json_t *holders, struct corral_error *err)
{
        if (!nmatch)
                return corral_error_set(err, CORRAL_E_NO_MATCHING_BOARD, json_pack("{s:O}", "match", match), -ENOENT,
                                        "No board matches this reservation's 'match'.");
        if (!npresent && nquarantined)
                return corral_error_set(err, CORRAL_E_BOARD_QUARANTINED,
                                        json_pack("{s:O, s:I}", "match", match, "quarantined", (json_int_t)nquarantined),
                                        -ENODEV, "%zu board(s) match, but %zu of them %s quarantined (out of rotation "
                                        "until released) and none other is online.", nmatch, nquarantined,
                                        nquarantined == 1 ? "is" : "are");
        if (!npresent)
                return corral_error_set(err, CORRAL_E_NO_BOARD_ONLINE, json_pack("{s:O}", "match", match), -ENODEV,
                                        "%zu board(s) match, but none is online.", nmatch);
        char exp[32];
        util_iso_from_ms(first_holder->expires_ms, exp, sizeof(exp));
        json_t *d = resv_holder_details(first_holder);
        json_object_set(d, "holders", holders);
        return corral_error_set(err, CORRAL_E_BOARD_RESERVED, d, -EBUSY,
                                "Every matching board is reserved: %s holds %s until %s%s.", first_holder->owner,
                                first_holder->board, exp, npresent > 1 ? " (the first to free up)" : "");
}

/* The first present board of boards that matches and is not leased: 0 with *ret_pick, or the
 * refusal (err filled). rs->write_mu held. */
static int pick_free_board_w(struct reservations *rs, const json_t *match, const json_t *boards,
                                  int64_t now_ms, const json_t **ret_pick, struct corral_error *err)
{
        const struct resv *first_holder = NULL;
        size_t nmatch = 0, npresent = 0, nquarantined = 0, i;
        json_t *b;
        json_t *holders = json_array();
        json_array_foreach(boards, i, b) {
                if (!reservations_board_matches(b, match))
                        continue;
                nmatch++;
                const char *state = json_string_value(json_object_get(b, "state"));
                if (!state || !strcmp(state, "offline"))
                        continue;
                if (health_row_quarantined(b)) { /* out of rotation: never leased */
                        nquarantined++;
                        continue;
                }
                npresent++;
                const struct resv *h = resv_find_board_locked(rs, json_string_value(json_object_get(b, "id")), now_ms);
                if (!h) {
                        json_decref(holders);
                        *ret_pick = b;
                        return 0;
                }
                json_array_append_new(holders, resv_holder_details(h));
                if (!first_holder || h->expires_ms < first_holder->expires_ms)
                        first_holder = h;
        }
        int rc = no_free_board(match, nmatch, npresent, nquarantined, first_holder, holders, err);
        json_decref(holders);
        return rc;
}

/* One board for req->match: the first free one; on a farm, a board another host leased since
 * the last sync is learnt (sync) and the next one tried. rs->write_mu held. */
int resv_create_one_w(struct reservations *rs, const struct resv_request *req, const json_t *boards,
                      int64_t now_ms, struct after *a, json_t **ret, struct corral_error *err)
{
        for (int tries = 0;; tries++) {
                const json_t *pick = NULL;
                int rc = pick_free_board_w(rs, req->match, boards, now_ms, &pick, err);
                struct resv *r = NULL;
                if (rc == 0) /* resv_grant_store refuses past RESV_MAX_ACTIVE */
                        rc = resv_grant_store(rs, req->match, req, json_string_value(json_object_get(pick, "id")), now_ms,
                                         0, &r, ret, err);
                if (rc == 0)
                        resv_grant_publish(rs, &r, 1, a, now_ms);
                if (rc != -EEXIST)
                        return rc;
                if (tries == RESV_FARM_TRIES)
                        return corral_error_set(err, CORRAL_E_BOARD_RESERVED, json_pack("{s:O}", "match", req->match),
                                                -EBUSY, "Other hosts leased every board tried; try again.");
                resv_sync_w(rs, a);
        }
}
