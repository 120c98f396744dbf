/* Helpers shared by the ESP job kinds (flash, erase): the common parameter checks, connect
 * options from params and hints, facts reporting, errno to failure code. */
#include "jobs/job_esp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engines/esp/esp_info.h"
#include "engines/esp/esp_stub.h"

static bool one_of(const char *s, const char *const *set)
{
        for (size_t i = 0; set[i]; i++)
                if (!strcmp(s, set[i]))
                        return true;
        return false;
}

/* A string parameter that must be one of set (NULL-terminated), when given. 0 or -EINVAL + msg. */
int job_esp_check_str(const json_t *params, const char *key, const char *const *set, char *msg,
                     size_t size)
{
        json_t *v = json_object_get(params, key);
        if (!v)
                return 0;
        if (!json_is_string(v) || !one_of(json_string_value(v), set)) {
                size_t o = (size_t)snprintf(msg, size, "'%s' must be one of:", key);
                for (size_t i = 0; set[i] && o < size; i++)
                        o += (size_t)snprintf(msg + o, size - o, "%s %s", i ? "," : "", set[i]);
                return -EINVAL;
        }
        return 0;
}

/* Shared by flash and erase: reset / stub_dir / baud. */
int job_esp_check_common(const json_t *params, char *msg, size_t size)
{
        static const char *const resets[] = { "auto", "classic", "unix_tight", "usb_jtag", "none", NULL };
        int e = job_esp_check_str(params, "reset", resets, msg, size);
        if (e < 0)
                return e;
        if (json_object_get(params, "stub_dir")) {
                /* A job must not point the loader at a directory of the host's choosing. */
                snprintf(msg, size, "'stub_dir' is not allowed as a job parameter: the flasher stub directory is set "
                         "in corrald's config (stub_dir = DIR) or with --stub-dir");
                return -EACCES;
        }
        json_t *b = json_object_get(params, "baud");
        if (b && (!json_is_integer(b) || json_integer_value(b) < 9600 || json_integer_value(b) > 4000000)) {
                snprintf(msg, size, "'baud' must be an integer between 9600 and 4000000");
                return -EINVAL;
        }
        return 0;
}

/* Connect options from params and board hints. */
void job_esp_connect_opts(struct job_run *jr, struct esp_connect_opts *o)
{
        const json_t *params = jr_params(jr);
        memset(o, 0, sizeof(*o));
        const char *r = json_string_value(json_object_get(params, "reset"));
        if (!r) {
                /* USB-Serial/JTAG (303a:1001) needs its own sequence. */
                const char *vid = json_string_value(json_object_get(jr_board_hints(jr), "vid"));
                const char *pid = json_string_value(json_object_get(jr_board_hints(jr), "pid"));
                r = vid && pid && !strcasecmp(vid, "303a") && !strcasecmp(pid, "1001") ? "usb_jtag" : "auto";
        }
        o->reset = !strcmp(r, "classic") ? ESP_RESET_CLASSIC
                   : !strcmp(r, "unix_tight") ? ESP_RESET_UNIX_TIGHT
                   : !strcmp(r, "usb_jtag") ? ESP_RESET_USB_JTAG
                   : !strcmp(r, "none") ? ESP_RESET_NONE
                   : ESP_RESET_AUTO;
        /* rfc2217 and raw sockets: esptool uses the classic sequence there. */
        struct port *p = jr_port(jr);
        if (o->reset == ESP_RESET_AUTO && p && p->url && strncmp(p->url, "/dev/", 5) != 0)
                o->reset = ESP_RESET_CLASSIC;
        /* From corrald's config only (the hints carry it); never a job parameter. Unset: the stubs
         * an install put next to corrald (make install), so an installed corrald is fast. */
        o->stub_dir = json_string_value(json_object_get(jr_board_hints(jr), "stub_dir"));
        if (!o->stub_dir)
                o->stub_dir = esp_stub_default_dir();
}

/* Report the loader's facts; returns them (borrowed by the caller to free). */
void job_esp_report_facts(struct job_run *jr, const struct esp_loader *l)
{
        json_t *facts = esp_loader_facts(l);
        const char *k;
        json_t *v;
        json_object_foreach(facts, k, v)
                jr_fact(jr, k, json_incref(v));
        jr_result_set(jr, "facts", facts);
        char mac[18] = "?";
        if (l->have_mac)
                esp_format_mac(l->mac, mac);
        jr_log(jr, "Chip is %s, MAC %s, flash %06x (%u KiB), crystal %u MHz%s", l->description, mac,
               l->flash_id, l->flash_size / 1024, l->xtal_mhz, l->stub ? ", stub running" : "");
        if (l->note[0])
                jr_log(jr, "%s", l->note);
}

/* Record an engine failure; returns the engine's errno when the worker must act on it (board
 * gone: close the port; cancelled) and -EIO otherwise. */
int job_esp_fail(struct job_run *jr, int e, const struct esp_loader *l)
{
        jr_fail(jr, job_esp_fail_code(e), "%s", esp_loader_msg(l));
        return e == -ENODEV || e == -ECANCELED ? e : -EIO;
}

/* "board_gone", "esp_no_answer", ... for a failed step. */
const char *job_esp_fail_code(int e)
{
        switch (e) {
        case -ENODEV: return "board_gone";
        case -ECANCELED: return "cancelled";
        case -ETIMEDOUT: return "esp_no_answer";
        case -EINVAL: return "invalid";
        case -EIO: return "flash_failed";
        default: return "esp_error";
        }
}
