/* posix_spawn with a pipe for the output and a deadline; the child is killed past it. */
#include "power/power_exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

int power_exec(char *const argv[], int timeout_ms, char *out, size_t out_size)
{
        if (!argv || !argv[0] || !out || !out_size)
                return -EINVAL;
        out[0] = '\0';
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        pid_t pid;
        int r = strchr(argv[0], '/') ? posix_spawn(&pid, argv[0], &fa, NULL, argv, environ)
                                     : posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(pfd[1]);
        if (r != 0) {
                close(pfd[0]);
                return -r;
        }
        size_t len = 0;
        uint64_t end = util_mono_ms() + (uint64_t)timeout_ms;
        bool timed_out = false;
        for (;;) {
                uint64_t now = util_mono_ms();
                if (now >= end) {
                        timed_out = true;
                        break;
                }
                struct pollfd p = { .fd = pfd[0], .events = POLLIN };
                int pr = poll(&p, 1, (int)(end - now));
                if (pr < 0 && errno == EINTR)
                        continue;
                if (pr <= 0)
                        continue;
                char buf[512];
                ssize_t n = read(pfd[0], buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                size_t take = (size_t)n < out_size - 1 - len ? (size_t)n : out_size - 1 - len;
                memcpy(out + len, buf, take);
                len += take;
                out[len] = '\0';
        }
        close(pfd[0]);
        if (timed_out)
                kill(pid, SIGKILL);
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        if (timed_out)
                return -ETIMEDOUT;
        if (WIFEXITED(st))
                return WEXITSTATUS(st);
        return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}
