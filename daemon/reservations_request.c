/* Reservations' request checks: validating a POST /reservations body (match, boards by role,
 * ttl_s, wait_s, owner) and matching a board against a match. Pure logic on JSON. */
#include "reservations.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool string_in(const json_t *arr, const char *s)
{
        size_t i;
        json_t *v;
        json_array_foreach(arr, i, v)
                if (json_is_string(v) && !strcmp(json_string_value(v), s))
                        return true;
        return false;
}

bool reservations_board_matches(const json_t *board, const json_t *match)
{
        const char *id = json_string_value(json_object_get(board, "id"));
        if (!id)
                return false;
        const char *want_board = json_string_value(json_object_get(match, "board"));
        const char *want_family = json_string_value(json_object_get(match, "family"));
        if (want_board && strcmp(want_board, id))
                return false;
        if (want_family) {
                const char *fam = json_string_value(json_object_get(board, "family"));
                if (!fam || strcmp(fam, want_family))
                        return false;
        }
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(match, "labels"), i, l)
                if (!string_in(json_object_get(board, "labels"), json_string_value(l)))
                        return false;
        return true;
}

static int bad_field(struct corral_error *err, const char *field, const char *msg)
{
        return corral_error_set(err, CORRAL_E_INVALID_FIELD, json_pack("{s:s}", "field", field), -EINVAL, "%s", msg);
}

static int parse_match(const json_t *match, struct corral_error *err)
{
        if (!json_is_object(match))
                return corral_error_set(err, CORRAL_E_INVALID_MATCH, NULL, -EINVAL,
                                     "'match' must be an object with any of \"labels\" (list of strings), \"family\" "
                                     "and \"board\" (an id).");
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)match, key, v) {
                if (!strcmp(key, "labels")) {
                        size_t i;
                        json_t *l;
                        if (!json_is_array(v) || json_array_size(v) > 32)
                                return corral_error_set(err, CORRAL_E_INVALID_MATCH, json_pack("{s:s}", "field", "labels"),
                                                     -EINVAL, "'match.labels' must be a list of at most 32 strings.");
                        json_array_foreach(v, i, l)
                                if (!json_is_string(l) || !json_string_length(l) || json_string_length(l) > 64)
                                        return corral_error_set(err, CORRAL_E_INVALID_MATCH,
                                                             json_pack("{s:s}", "field", "labels"), -EINVAL,
                                                             "Each label in 'match.labels' must be a string of 1 to 64 "
                                                             "characters.");
                } else if (!strcmp(key, "family") || !strcmp(key, "board")) {
                        if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 64)
                                return corral_error_set(err, CORRAL_E_INVALID_MATCH, json_pack("{s:s}", "field", key),
                                                     -EINVAL, "'match.%s' must be a string of 1 to 64 characters.",
                                                     key);
                } else {
                        return corral_error_set(
                                err, CORRAL_E_INVALID_MATCH, json_pack("{s:s}", "field", key), -EINVAL,
                                "Unknown key 'match.%s'; a match has \"labels\", \"family\" and \"board\".", key);
                }
        }
        return 0;
}

static int bad_boards(struct corral_error *err, size_t k, const char *field, const char *msg)
{
        char f[48];
        snprintf(f, sizeof(f), "boards[%zu]%s", k, field);
        return corral_error_set(err, CORRAL_E_INVALID_BOARDS, json_pack("{s:s}", "field", f), -EINVAL, "%s%s", f, msg);
}

/* "boards": [{"role": NAME, "match": {...}}, ...], 1 to RESV_GROUP_MAX distinct roles. */
static int parse_boards(const json_t *boards, struct corral_error *err)
{
        if (!json_is_array(boards) || !json_array_size(boards) || json_array_size(boards) > RESV_GROUP_MAX)
                return corral_error_set(err, CORRAL_E_INVALID_BOARDS, json_pack("{s:s}", "field", "boards"), -EINVAL,
                                     "'boards' must be a list of 1 to %d {\"role\": NAME, \"match\": {...}} objects.",
                                     RESV_GROUP_MAX);
        size_t k;
        json_t *b;
        json_array_foreach(boards, k, b) {
                if (!json_is_object(b))
                        return bad_boards(err, k, "", " must be an object {\"role\": NAME, \"match\": {...}}.");
                const char *key;
                json_t *v;
                json_object_foreach(b, key, v)
                        if (strcmp(key, "role") && strcmp(key, "match"))
                                return bad_boards(err, k, "", ": unknown key; a role has \"role\" and \"match\".");
                const char *role = json_string_value(json_object_get(b, "role"));
                size_t n = role ? strlen(role) : 0;
                bool ok = n >= 1 && n <= 32;
                for (size_t i = 0; ok && i < n; i++)
                        ok = isalnum((unsigned char)role[i]) || role[i] == '_' || role[i] == '-';
                if (!ok)
                        return bad_boards(err, k, ".role", " must be 1 to 32 letters, digits, '_' or '-'.");
                for (size_t j = 0; j < k; j++)
                        if (!strcmp(role, json_string_value(json_object_get(json_array_get(boards, j), "role"))))
                                return bad_boards(err, k, ".role", ": this role is given twice.");
                json_t *match = json_object_get(b, "match");
                if (!match)
                        return bad_boards(err, k, ".match", " is missing ({} takes any board).");
                struct corral_error sub = { 0 };
                if (parse_match(match, &sub) < 0) {
                        corral_error_clear(&sub);
                        return bad_boards(err, k, ".match", " must be an object with any of \"labels\" (a list of at "
                                          "most 32 strings of 1 to 64 characters), \"family\" and \"board\" (strings).");
                }
        }
        return 0;
}

static int int_field(const json_t *body, const char *name, int min, int max, int dflt, int *out,
                     struct corral_error *err)
{
        json_t *v = json_object_get(body, name);
        if (!v) {
                *out = dflt;
                return 0;
        }
        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
                char msg[160];
                snprintf(msg, sizeof(msg), "'%s' must be a whole number of seconds from %d to %d.", name, min, max);
                return bad_field(err, name, msg);
        }
        *out = (int)json_integer_value(v);
        return 0;
}

int reservations_parse_request(const json_t *body, struct resv_request *req, struct corral_error *err)
{
        if (!json_is_object(body))
                return corral_error_set(err, CORRAL_E_INVALID_BODY, NULL, -EINVAL, "The body must be a JSON object.");
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)body, key, v)
                if (strcmp(key, "match") && strcmp(key, "ttl_s") && strcmp(key, "owner") && strcmp(key, "wait_s") &&
                    strcmp(key, "boards"))
                        return corral_error_set(err, CORRAL_E_UNKNOWN_FIELD, json_pack("{s:s}", "field", key), -EINVAL,
                                             "Unknown field '%s'; a reservation takes match (or boards), ttl_s, owner "
                                             "and wait_s.", key);
        struct resv_request r = { 0 };
        r.match = json_object_get(body, "match");
        int rc;
        if (json_object_get(body, "boards")) {
                if (r.match)
                        return corral_error_set(err, CORRAL_E_INVALID_BOARDS, json_pack("{s:s}", "field", "boards"), -EINVAL,
                                             "Give either 'match' (one board) or 'boards' (several, by role), not both.");
                if ((rc = parse_boards(json_object_get(body, "boards"), err)) < 0)
                        return rc;
                r.boards = json_object_get(body, "boards");
        } else if (!r.match)
                return corral_error_set(
                        err, CORRAL_E_INVALID_MATCH, NULL, -EINVAL,
                        "A reservation needs a 'match': {\"labels\": [...], \"family\": \"...\", \"board\": "
                        "\"id\"} ({} takes any board).");
        if (r.match && (rc = parse_match(r.match, err)) < 0)
                return rc;
        if ((rc = int_field(body, "ttl_s", 1, RESV_TTL_MAX_S, RESV_TTL_DEFAULT_S, &r.ttl_s, err)) < 0 ||
            (rc = int_field(body, "wait_s", 0, RESV_WAIT_MAX_S, 0, &r.wait_s, err)) < 0)
                return rc;
        json_t *owner = json_object_get(body, "owner");
        if (owner && (!json_is_string(owner) || !json_string_length(owner) ||
                      json_string_length(owner) > RESV_OWNER_MAX))
                return bad_field(err, "owner", "'owner' must be a string of 1 to 128 characters (who holds the lease).");
        snprintf(r.owner, sizeof(r.owner), "%s", owner ? json_string_value(owner) : "anonymous");
        *req = r;
        return 0;
}
