/* Fuzz the JSON request handlers behind POST /boards/{id}/jobs and PATCH /boards/{id}: arbitrary
 * bodies (parsed as the API parses them) go to every job kind's check(), to registry_job_submit
 * and to registry_board_update over a real store in a temp dir. No crash; a refusal always has
 * an HTTP status, a code and a plain message; an accepted PATCH reads back as sent. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "events.h"
#include "firmware/firmware.h"
#include "jobs/job_run.h"
#include "registry.h"
#include "reply.h"
#include "store/store.h"

/* Present in the store, not plugged in: submissions get as far as the offline check. */
#define BOARD "fuzz-board"

struct fixture {
        char dir[64];
        struct config cfg;
        struct store *store;
        struct events *events;
        struct registry *reg;
};

static struct fixture *fx;

static void fixture_free(void)
{
        if (!fx)
                return;
        fx->reg = registry_free(fx->reg);
        fx->events = events_free(fx->events);
        fx->store = store_close(fx->store);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
        if (system(cmd) != 0)
                fprintf(stderr, "could not remove %s\n", fx->dir);
        free(fx);
        fx = NULL;
}

static void fixture_init(void)
{
        char msg[256];
        fx = calloc(1, sizeof(*fx));
        if (!fx)
                abort();
        snprintf(fx->dir, sizeof(fx->dir), "%s/corral-fuzz-XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(fx->dir))
                abort();
        config_defaults(&fx->cfg);
        if (store_open(fx->dir, &fx->store, msg, sizeof(msg)) < 0 || events_new(&fx->events) < 0 ||
            registry_new(fx->store, fx->events, NULL, NULL, &fx->reg) < 0 ||
            store_board_upsert(fx->store, BOARD, "static-" BOARD, BOARD, NULL) < 0) {
                fprintf(stderr, "fixture: %s\n", msg);
                abort();
        }
        /* One firmware in the library, so flash bodies naming its id get past check_store(). */
        static const uint8_t image[64] = { 0xE9, 0x01, 0x02, 0x20 };
        json_t *row = NULL;
        if (firmware_add_buffer(fx->store, image, sizeof(image), &(struct firmware_user){ .name = "seed" }, &row,
                                msg, sizeof(msg)) < 0) {
                fprintf(stderr, "fixture firmware: %s\n", msg);
                abort();
        }
        json_decref(row);
        atexit(fixture_free);
}

static void check_refusal(const struct corral_error *e)
{
        static const int statuses[] = { 400, 403, 404, 409, 422, 429, 500, 507 }; /* 403: path_not_allowed */
        bool known = false;
        for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
                known |= reply_code_status(e->code) == (unsigned)statuses[i];
        if (!known || e->code == CORRAL_OK || !e->message[0] || !memchr(e->message, '\0', sizeof(e->message)))
                abort();
        /* Nothing here may fail for the server's own reasons. */
        if (reply_code_status(e->code) >= 500)
                abort();
}

static bool same_string(const json_t *sent, const json_t *stored)
{
        return json_is_string(stored) && !strcmp(json_string_value(sent), json_string_value(stored));
}

static void patch_board(const json_t *body)
{
        struct corral_error err = { 0 };
        int rc = registry_board_update(fx->reg, BOARD, body, &err);
        if (rc < 0) {
                check_refusal(&err);
                corral_error_clear(&err);
                return;
        }
        json_t *board = NULL;
        if (registry_board_json(fx->reg, BOARD, &board) < 0)
                abort();
        json_t *name = json_object_get(body, "name"), *notes = json_object_get(body, "notes");
        json_t *labels = json_object_get(body, "labels");
        if (name && !same_string(name, json_object_get(board, "name")))
                abort();
        if (notes && !same_string(notes, json_object_get(board, "notes")))
                abort();
        if (labels) {
                json_t *stored = json_object_get(board, "labels");
                if (!json_is_array(stored) || json_array_size(stored) != json_array_size(labels))
                        abort();
                for (size_t i = 0; i < json_array_size(labels); i++)
                        if (!same_string(json_array_get(labels, i), json_array_get(stored, i)))
                                abort();
        }
        json_decref(board);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (!fx)
                fixture_init();
        json_error_t jerr;
        json_t *body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
        if (!body)
                return 0;

        /* Every kind's own validation, whatever "kind" says. */
        for (size_t i = 0; job_kinds[i]; i++) {
                if (!job_kinds[i]->check)
                        continue;
                char msg[512];
                memset(msg, 'x', sizeof(msg));
                msg[0] = '\0';
                int c = job_kinds[i]->check(body, msg, sizeof(msg));
                if (c != 0 && c != -EINVAL && c != -EBADMSG && c != -EACCES) /* -EACCES: stub_dir */
                        abort();
                if (!memchr(msg, '\0', sizeof(msg)))
                        abort();
        }

        /* The whole submission path: the board is offline, so nothing is ever queued. */
        struct corral_error err = { 0 };
        json_t *job = NULL;
        int rc = registry_job_submit(fx->reg, BOARD, body, &job, &err);
        if (rc == 0 || job)
                abort();
        check_refusal(&err);
        corral_error_clear(&err);

        patch_board(body);
        json_decref(body);
        return 0;
}
