/* Job kind "flash", its parameter checks at submit: the shape of params, that library firmware
 * exists, that host paths are the caller's to read, that the firmware fits the board's chip. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engines/esp/esp_chips.h"
#include "firmware/firmware.h"
#include "firmware/hostfile.h"
#include "jobs/job_esp.h"
#include "jobs/job_flash.h"
#include "store/store_firmware.h"

static const char *const sizes[] = { "keep", "detect", "256KB", "512KB", "1MB", "2MB", "2MB-c1",
                                     "4MB", "4MB-c1", "8MB", "16MB", "32MB", "64MB", "128MB", NULL };

static const char *const modes[] = { "keep", "qio", "qout", "dio", "dout", NULL };

static const char *const freqs[] = { "keep", "12m", "15m", "16m", "20m", "24m", "26m", "30m",
                                     "40m", "48m", "60m", "80m", NULL };

/* A host path is checked for syntax here; whether the caller may read it is check_caller's. */
static int check_path(const char *what, const json_t *path, char *msg, size_t size)
{
        if (!json_is_string(path) || json_string_value(path)[0] != '/') {
                snprintf(msg, size, "%s: 'path' must be an absolute file path on corrald's host (admins only, inside "
                         "firmware_dirs); or use 'firmware' (a library id)", what);
                return -EINVAL;
        }
        return 0;
}

static int check_offset(const char *what, const json_t *off, char *msg, size_t size)
{
        if (off && (!json_is_integer(off) || json_integer_value(off) < 0 ||
                    json_integer_value(off) > 0x10000000)) {
                snprintf(msg, size, "%s: 'offset' must be an integer between 0 and 0x10000000", what);
                return -EINVAL;
        }
        return 0;
}

int job_flash_check(const json_t *params, char *msg, size_t size)
{
        static const char *const verifies[] = { "md5", "readback", "none", NULL };
        static const char *const compress[] = { "auto", "on", "off", NULL };
        if (!json_is_object(params)) {
                snprintf(msg, size, "Parameters must be an object with 'parts' or 'image_path'");
                return -EINVAL;
        }
        json_t *parts = json_object_get(params, "parts"), *img = json_object_get(params, "image_path");
        json_t *fw = json_object_get(params, "firmware");
        int e;
        if (parts && img) {
                snprintf(msg, size, "Give either 'parts' or 'image_path', not both");
                return -EINVAL;
        }
        if (fw && (parts || img)) {
                snprintf(msg, size, "Give either 'firmware' or '%s', not both", parts ? "parts" : "image_path");
                return -EINVAL;
        }
        if (fw) {
                if (!json_is_string(fw) || !firmware_id_valid(json_string_value(fw))) {
                        snprintf(msg, size, "'firmware' must be a firmware id (64 hex digits) from POST /api/v1/firmware");
                        return -EINVAL;
                }
                if ((e = check_offset("firmware", json_object_get(params, "offset"), msg, size)) < 0)
                        return e;
        } else if (img) {
                if ((e = check_path("image_path", img, msg, size)) < 0 ||
                    (e = check_offset("image_path", json_object_get(params, "offset"), msg, size)) < 0)
                        return e;
        } else if (json_is_array(parts) && json_array_size(parts) > 0) {
                if (json_array_size(parts) > ESP_FLASH_MAX_PARTS) {
                        snprintf(msg, size, "At most %d parts", ESP_FLASH_MAX_PARTS);
                        return -EINVAL;
                }
                size_t i;
                json_t *p;
                json_array_foreach(parts, i, p) {
                        char what[32];
                        snprintf(what, sizeof(what), "parts[%zu]", i);
                        json_t *off = json_object_get(p, "offset");
                        json_t *pfw = json_object_get(p, "firmware"), *path = json_object_get(p, "path");
                        if (!json_is_object(p) || !off || !!pfw == !!path) {
                                snprintf(msg, size, "%s must be {\"offset\": N, \"firmware\": \"<library id>\"} "
                                         "(or, for an admin, \"path\" inside firmware_dirs instead of \"firmware\")",
                                         what);
                                return -EINVAL;
                        }
                        if ((e = check_offset(what, off, msg, size)) < 0)
                                return e;
                        if (pfw && (!json_is_string(pfw) || !firmware_id_valid(json_string_value(pfw)))) {
                                snprintf(msg, size, "%s: 'firmware' must be a firmware id (64 hex digits) from "
                                         "POST /api/v1/firmware", what);
                                return -EINVAL;
                        }
                        if (path && (e = check_path(what, path, msg, size)) < 0)
                                return e;
                }
        } else {
                snprintf(msg, size, "Nothing to flash: give 'firmware' (a library id) or 'parts' [{\"offset\", "
                         "\"firmware\"}]");
                return -EINVAL;
        }
        if ((e = job_esp_check_str(params, "flash_mode", modes, msg, size)) < 0 ||
            (e = job_esp_check_str(params, "flash_size", sizes, msg, size)) < 0 ||
            (e = job_esp_check_str(params, "flash_freq", freqs, msg, size)) < 0 ||
            (e = job_esp_check_str(params, "verify", verifies, msg, size)) < 0)
                return e;
        json_t *c = json_object_get(params, "compress");
        if (c && !json_is_boolean(c) && (e = job_esp_check_str(params, "compress", compress, msg, size)) < 0)
                return e;
        static const char *const bools[] = { "erase", "skip_unchanged", "boot_check", "remediate", NULL };
        for (size_t i = 0; bools[i]; i++) {
                json_t *b = json_object_get(params, bools[i]);
                if (b && !json_is_boolean(b)) {
                        snprintf(msg, size, "'%s' must be true or false", bools[i]);
                        return -EINVAL;
                }
        }
        return job_esp_check_common(params, msg, size);
}

/* A firmware id (the job's, or a part's) must name a file in the library, here or (a farm) as a
 * complete copy in the store, which the host running the job fetches (else -EBADMSG:
 * unprocessable). */
int job_flash_check_store(const json_t *params, struct store *store, char *msg, size_t size)
{
        const char *id = json_string_value(json_object_get(params, "firmware"));
        size_t i;
        json_t *p;
        int e = 0;
        if (id && (e = firmware_available(store, id)) < 0)
                goto unknown;
        json_array_foreach(json_object_get(params, "parts"), i, p) {
                id = json_string_value(json_object_get(p, "firmware"));
                if (id && (e = firmware_available(store, id)) < 0)
                        goto unknown;
        }
        return 0;
unknown:
        if (e == -ENOENT || e == -EINVAL)
                snprintf(msg, size, "unknown firmware id %s: upload it first (POST /api/v1/firmware)", id);
        else /* in the library, but its bytes cannot be had (a shared store's copy missing or corrupt) */
                snprintf(msg, size, "firmware %s %s", id, firmware_strerror(e));
        return -EBADMSG;
}

/* Host paths (image_path, parts[].path): only an admin, only inside firmware_dirs, opened the way
 * the job will open them. A refusal (-EACCES: path_not_allowed) is the same whether the file exists. */
int job_flash_check_caller(const json_t *params, const struct job_caller *caller, char *msg, size_t size)
{
        const json_t *paths[ESP_FLASH_MAX_PARTS + 1];
        char whats[ESP_FLASH_MAX_PARTS + 1][32];
        size_t n = 0, i;
        json_t *p;
        if (json_object_get(params, "image_path")) {
                snprintf(whats[n], sizeof(whats[n]), "image_path");
                paths[n++] = json_object_get(params, "image_path");
        }
        json_array_foreach(json_object_get(params, "parts"), i, p) {
                if (n > ESP_FLASH_MAX_PARTS)
                        break;
                if (!json_object_get(p, "path"))
                        continue;
                snprintf(whats[n], sizeof(whats[n]), "parts[%zu]", i);
                paths[n++] = json_object_get(p, "path");
        }
        for (i = 0; i < n; i++) {
                const char *path = json_string_value(paths[i]);
                if (!caller || !caller->host_files) {
                        snprintf(msg, size, "%s: reading files on corrald's host is not allowed for token '%s'; "
                                 "upload the firmware (POST /api/v1/firmware) and flash it by id ('firmware' or "
                                 "parts[].firmware)", whats[i], caller ? caller->name : "?");
                        return -EACCES;
                }
                int fd;
                uint64_t len;
                int e = hostfile_open(caller->firmware_dirs, whats[i], path, FLASH_FILE_MAX, &fd, &len, msg, size);
                if (e == -EACCES)
                        return e;
                if (e < 0)
                        return -EBADMSG;
                close(fd);
        }
        return 0;
}

/* A library firmware for another chip than the board's (known from an earlier job) is refused
 * before queueing (-EBADMSG: unprocessable), naming both. */
int job_flash_check_board(const json_t *params, struct store *store, const json_t *facts, char *msg, size_t size)
{
        const char *id = json_string_value(json_object_get(params, "firmware"));
        const char *board_chip = json_string_value(json_object_get(facts, "chip"));
        json_t *row = NULL;
        if (!id || !board_chip || store_firmware_get(store, id, &row) < 0)
                return 0;
        const char *fw_chip = json_string_value(json_object_get(row, "chip"));
        const struct esp_chip *bc = esp_chip_by_name(board_chip), *fc = esp_chip_by_name(fw_chip);
        int e = 0;
        if (bc && fc && bc != fc) {
                const char *name = json_string_value(json_object_get(row, "name"));
                snprintf(msg, size, "Firmware %s (%.12s) is an %s image, but this board is an %s (learned by an earlier "
                         "job); nothing was queued", name ? name : id, id, fc->name, bc->name);
                e = -EBADMSG;
        }
        json_decref(row);
        return e;
}
