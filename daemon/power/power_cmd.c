/* The external-command backend: `PROGRAM BOARD_ID off|on`, exit status 0 means done (a PDU
 * script, a relay board, a smart plug). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "power/power_backends.h"
#include "power/power_exec.h"

#define CMD_TIMEOUT_MS 30000

int power_cmd_set(const char *path, const char *board_id, bool on, struct power_report *rep, char *msg,
                  size_t msg_size)
{
        char out[sizeof(rep->output)];
        snprintf(rep->backend, sizeof(rep->backend), "cmd");
        snprintf(rep->target, sizeof(rep->target), "%s", path);
        char *argv[] = { (char *)path, (char *)board_id, on ? "on" : "off", NULL };
        int r = power_exec(argv, CMD_TIMEOUT_MS, out, sizeof(out));
        snprintf(rep->output, sizeof(rep->output), "%s", out);
        size_t n = strlen(rep->output);
        while (n && (rep->output[n - 1] == '\n' || rep->output[n - 1] == '\r'))
                rep->output[--n] = '\0';
        if (r == 0)
                return 0;
        if (r == -ETIMEDOUT)
                snprintf(msg, msg_size, "%s %s %s did not finish within %d s", path, board_id, on ? "on" : "off",
                         CMD_TIMEOUT_MS / 1000);
        else if (r < 0)
                snprintf(msg, msg_size, "cannot run %s: %s", path, strerror(-r));
        else
                snprintf(msg, msg_size, "%s %s %s failed (exit %d): %s", path, board_id, on ? "on" : "off", r,
                         rep->output[0] ? rep->output : "no output");
        return r == -ETIMEDOUT ? -ETIMEDOUT : -EIO;
}
