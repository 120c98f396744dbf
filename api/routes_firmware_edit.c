/* PATCH /api/v1/firmware/{id}: edit a library entry's catalogue (title, family, version,
 * release_notes), its name, notes and labels, and whether it is its family's known-good pin.
 * Every field is checked before anything changes; the answer is the entry as GET shows it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "firmware/firmware.h"
#include "store/store_firmware.h"

/* The editable fields and their limits (bytes; the upload's own limits). */
static const struct {
        const char *name;
        size_t max;
        bool nonempty;
} text_fields[] = {
        { "title", 200, false }, { "version", 40, false }, { "release_notes", 8000, false },
        { "name", 200, true },   { "notes", 4000, false },
};

#define LABELS_MAX 32
#define LABEL_LEN_MAX 64

static enum MHD_Result bad_field(struct api_req *rq, const char *field, const char *what)
{
        return api_reply_error(rq, CORRAL_E_INVALID_FIELD, json_pack("{s:s}", "field", field), "'%s' must be %s.",
                               field, what);
}

static bool labels_ok(const json_t *v)
{
        if (!json_is_array(v) || json_array_size(v) > LABELS_MAX)
                return false;
        size_t i;
        json_t *l;
        json_array_foreach(v, i, l)
                if (!json_is_string(l) || !json_string_length(l) || json_string_length(l) > LABEL_LEN_MAX)
                        return false;
        return true;
}

/* One field of the body: true (and *r set) when it is refused. */
static bool field_refused(struct api_req *rq, const char *key, const json_t *v, enum MHD_Result *r)
{
        for (size_t i = 0; i < sizeof(text_fields) / sizeof(text_fields[0]); i++) {
                if (strcmp(key, text_fields[i].name))
                        continue;
                char limit[64];
                snprintf(limit, sizeof(limit), "a string of %s%zu bytes", text_fields[i].nonempty ? "1 to " : "at most ",
                         text_fields[i].max);
                if (json_is_string(v) && json_string_length(v) <= text_fields[i].max &&
                    (!text_fields[i].nonempty || json_string_length(v) > 0))
                        return false;
                *r = bad_field(rq, key, limit);
                return true;
        }
        if (!strcmp(key, "family")) {
                if (json_is_string(v) && firmware_family_valid(json_string_value(v)))
                        return false;
                *r = bad_field(rq, key, "a board family: 1-32 characters of a-z, 0-9, '_' and '-', like esp8266");
        } else if (!strcmp(key, "labels")) {
                if (labels_ok(v))
                        return false;
                *r = bad_field(rq, key, "an array of at most 32 strings of 1 to 64 bytes");
        } else if (!strcmp(key, "known_good")) {
                if (json_is_boolean(v))
                        return false;
                *r = bad_field(rq, key, "true (pin it for its family) or false (unpin it)");
        } else {
                *r = api_reply_error(rq, CORRAL_E_UNKNOWN_FIELD, json_pack("{s:s}", "field", key),
                                     "Field '%s' cannot be changed; editable fields are title, family, version, "
                                     "release_notes, name, notes, labels and known_good.",
                                     key);
        }
        return true;
}

static const char *str(const json_t *body, const char *key)
{
        return json_string_value(json_object_get(body, key));
}

/* A family change would leave a pin of another family pointing at this entry: 409 then. */
static bool pin_conflict(struct api_req *rq, const char *id, const json_t *row, const char *family,
                         bool unpin, enum MHD_Result *r)
{
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(row, "known_good_for"), i, f)
        {
                if (unpin || !family || !strcmp(json_string_value(f), family))
                        continue;
                *r = api_reply_error(rq, CORRAL_E_FIRMWARE_PINNED,
                                     json_pack("{s:s, s:s, s:s}", "firmware", id, "field", "family", "pinned_family",
                                               json_string_value(f)),
                                     "This firmware is the known-good pin of %s; unpin it (known_good: false) "
                                     "before giving it the family %s.",
                                     json_string_value(f), family);
                return true;
        }
        return false;
}

static int unpin_all(struct store *st, const json_t *row)
{
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(row, "known_good_for"), i, f)
        {
                int e = store_firmware_unpin(st, json_string_value(f));
                if (e < 0 && e != -ENOENT)
                        return e;
        }
        return 0;
}

static enum MHD_Result failed(struct api_req *rq, int e, const char *id)
{
        if (e == -ENOENT)
                return api_reply_error(rq, CORRAL_E_FIRMWARE_NOT_FOUND, json_pack("{s:s}", "firmware", id),
                                       "No firmware with id %s.", id);
        if (e == -ENOTCONN)
                return api_reply_store_unavailable(rq);
        return api_reply_error(rq, e == -ENOSPC ? CORRAL_E_DISK_FULL : CORRAL_E_STORE_ERROR, NULL,
                               "Could not update the firmware: %s.", strerror(-e));
}

/* Apply a checked body: unpin, the fields, then pin. 0 or a negative errno. */
static int apply(struct store *st, const char *id, const json_t *row, const json_t *body)
{
        const json_t *kg = json_object_get(body, "known_good");
        int e = json_is_false(kg) ? unpin_all(st, row) : 0;
        if (e == 0 && (str(body, "title") || str(body, "family") || str(body, "version") || str(body, "release_notes")))
                e = store_firmware_set_catalogue(st, id, str(body, "title"), str(body, "family"), str(body, "version"),
                                                 str(body, "release_notes"));
        if (e == 0 && (str(body, "name") || str(body, "notes") || json_object_get(body, "labels")))
                e = store_firmware_set_info(st, id, str(body, "name"), str(body, "notes"),
                                            json_object_get(body, "labels"));
        if (e == 0 && json_is_true(kg)) {
                const char *family = str(body, "family");
                if (!family)
                        family = str(row, "family");
                e = store_firmware_pin(st, family, id, "manual");
        }
        return e;
}

enum MHD_Result routes_firmware_patch(struct api_req *rq, const char *id, json_t *row)
{
        enum MHD_Result r;
        json_t *body = api_body_json(rq, &r);
        if (!body) {
                json_decref(row);
                return r;
        }
        const char *key;
        json_t *v;
        bool refused = false;
        json_object_foreach(body, key, v)
                if ((refused = field_refused(rq, key, v, &r)))
                        break;
        const char *family = str(body, "family") ? str(body, "family") : str(row, "family");
        if (!refused && json_is_true(json_object_get(body, "known_good")) && !(family && *family)) {
                r = api_reply_error(rq, CORRAL_E_MISSING_FAMILY, json_pack("{s:s}", "field", "family"),
                                    "This firmware's family is unknown: give 'family' with known_good.");
                refused = true;
        }
        if (!refused)
                refused = pin_conflict(rq, id, row, str(body, "family"), json_is_false(json_object_get(body, "known_good")),
                                       &r);
        if (!refused) {
                int e = apply(rq->ctx->store, id, row, body);
                json_t *now = NULL;
                if (e == 0)
                        e = store_firmware_get(rq->ctx->store, id, &now);
                r = e < 0 ? failed(rq, e, id) : api_reply_json(rq, 200, routes_firmware_urls(now));
        }
        json_decref(body);
        json_decref(row);
        return r;
}
