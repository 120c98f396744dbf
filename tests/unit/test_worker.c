/* Port worker specification, threads and all: a real worker over a pty (the test holds the
 * master side), a real store and event bus, and test job kinds that block until released.
 * Queue order, cancelling queued and running jobs, the hard deadline, a full queue, the board
 * going away, and job output kept as valid UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "events.h"
#include "jobs/console.h"
#include "jobs/job_run.h"
#include "jobs/worker.h"
#include "ports/port.h"
#include "store/store.h"
#include "util.h"

#define WAIT_MS 10000
#define MAX_RAN 16

/* What the test kinds did and what the event bus carried, under one lock. */
static struct {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool release;          /* "block" jobs return once this is set */
        int blocked;           /* "block" jobs currently inside run() */
        int64_t ran[MAX_RAN];  /* job ids in the order their run() started */
        size_t nran;
        json_t *events;        /* array of {"type","data"} */
} g = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void note_start(struct job_run *jr)
{
        json_int_t id = json_integer_value(json_object_get(jr_params(jr), "id"));
        pthread_mutex_lock(&g.mu);
        if (g.nran < MAX_RAN)
                g.ran[g.nran++] = (int64_t)id;
        pthread_cond_broadcast(&g.cv);
        pthread_mutex_unlock(&g.mu);
}

/* Blocks in port reads (as a real kind waits for its board) until released; a cancelled port or
 * a vanished board ends it with that error. */
static int block_run(struct job_run *jr)
{
        note_start(jr);
        pthread_mutex_lock(&g.mu);
        g.blocked++;
        pthread_cond_broadcast(&g.cv);
        pthread_mutex_unlock(&g.mu);
        int r = 0;
        for (;;) {
                pthread_mutex_lock(&g.mu);
                bool go = g.release;
                pthread_mutex_unlock(&g.mu);
                if (go)
                        break;
                uint8_t b[64];
                int n = port_read(jr_port(jr), b, sizeof(b), 20);
                if (n < 0) {
                        r = n;
                        break;
                }
        }
        pthread_mutex_lock(&g.mu);
        g.blocked--;
        pthread_mutex_unlock(&g.mu);
        if (r == -ECANCELED)
                jr_fail(jr, "cancelled", "cancelled");
        else if (r == -ENODEV)
                jr_fail(jr, "board_gone", "the board went away");
        return r;
}

static int quick_run(struct job_run *jr)
{
        note_start(jr);
        return 0;
}

/* Valid UTF-8 (a degree sign, an emoji), one stray byte and a sequence cut at the end. */
static const char OUTPUT[] = "t=21\xc2\xb0" "C \xf0\x9f\x8c\xa1 \xff end\xe2\x82";
static const char OUTPUT_JSON[] = "t=21\xc2\xb0" "C \xf0\x9f\x8c\xa1 \xef\xbf\xbd end\xef\xbf\xbd\xef\xbf\xbd";

static int output_run(struct job_run *jr)
{
        note_start(jr);
        jr_output(jr, "stdout", OUTPUT, sizeof(OUTPUT) - 1);
        return 0;
}

/* What a "mark" job read from the board (the test's fake board answers on the pty master). */
static struct {
        char got[256];
        size_t len;
} mark;

/* Says "J" to the board, then keeps what the board prints for 300 ms. */
static int mark_run(struct job_run *jr)
{
        note_start(jr);
        if (port_write(jr_port(jr), "J", 1, 1000) != 1)
                return -EIO;
        uint64_t end = util_mono_ms() + 300;
        for (uint64_t now; (now = util_mono_ms()) < end;) {
                char b[64];
                int n = port_read(jr_port(jr), b, sizeof(b), (int)(end - now));
                if (n < 0)
                        return n;
                pthread_mutex_lock(&g.mu);
                for (int i = 0; i < n && mark.len + 1 < sizeof(mark.got); i++)
                        mark.got[mark.len++] = b[i];
                mark.got[mark.len] = '\0';
                pthread_mutex_unlock(&g.mu);
        }
        return 0;
}

static const struct job_kind block_kind = { .name = "block", .default_timeout_s = 60, .run = block_run };
static const struct job_kind quick_kind = { .name = "quick", .default_timeout_s = 60, .run = quick_run };
static const struct job_kind output_kind = { .name = "output", .default_timeout_s = 60, .run = output_run };
static const struct job_kind mark_kind = { .name = "mark", .default_timeout_s = 60, .run = mark_run };

static void on_event(void *user, uint64_t seq, const char *type, const char *text)
{
        (void)user;
        (void)seq;
        json_t *e = json_loads(text, 0, NULL);
        if (!e)
                return;
        pthread_mutex_lock(&g.mu);
        json_array_append_new(g.events, json_pack("{s:s, s:O}", "type", type, "data", json_object_get(e, "data")));
        pthread_cond_broadcast(&g.cv);
        pthread_mutex_unlock(&g.mu);
        json_decref(e);
}

struct fx {
        char dir[64];
        struct store *store;
        struct events *events;
        struct console_dir *consoles;
        int master;
        char slave[128];
        struct worker *w;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
        (void)sb, (void)flag, (void)ftw;
        return remove(path);
}

static struct worker *start_worker_hints(struct fx *f, unsigned max_queued, const json_t *hints)
{
        struct worker_opts o = { .board_id = "b1", .url = f->slave, .baud = 115200, .max_queued = max_queued,
                                 .hints = hints, .store = f->store, .events = f->events, .consoles = f->consoles };
        struct worker *w = NULL;
        assert_int_equal(worker_start(&o, &w), 0);
        return w;
}

static struct worker *start_worker(struct fx *f, unsigned max_queued)
{
        return start_worker_hints(f, max_queued, NULL);
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        char msg[256];
        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/test_worker.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        assert_int_equal(store_open(f->dir, &f->store, msg, sizeof(msg)), 0);
        assert_int_equal(store_board_upsert(f->store, "b1", "test:b1", NULL, NULL), 0);
        assert_int_equal(events_new(&f->events), 0);
        assert_int_equal(console_dir_new(&f->consoles), 0);
        f->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        assert_true(f->master >= 0);
        assert_int_equal(grantpt(f->master), 0);
        assert_int_equal(unlockpt(f->master), 0);
        assert_int_equal(ptsname_r(f->master, f->slave, sizeof(f->slave)), 0);
        util_cond_init_mono(&g.cv);
        g.release = false;
        g.blocked = 0;
        g.nran = 0;
        mark.len = 0;
        mark.got[0] = '\0';
        g.events = json_array();
        assert_int_equal(events_subscribe(f->events, on_event, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        pthread_mutex_lock(&g.mu);
        g.release = true;
        pthread_mutex_unlock(&g.mu);
        f->w = worker_free(f->w);
        events_unsubscribe(f->events, on_event, NULL);
        if (f->master >= 0)
                close(f->master);
        f->consoles = console_dir_free(f->consoles);
        f->events = events_free(f->events);
        f->store = store_close(f->store);
        nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        json_decref(g.events);
        g.events = NULL;
        pthread_cond_destroy(&g.cv);
        free(f);
        return 0;
}

/* A job persisted as queued, then handed to the worker. Returns its id. */
static int64_t queue_job(struct fx *f, const struct job_kind *kind, int timeout_s, int expect)
{
        int64_t id = 0;
        assert_int_equal(store_job_create(f->store, "b1", kind->name, NULL, timeout_s, &id), 0);
        json_t *params = json_pack("{s:I}", "id", (json_int_t)id);
        assert_int_equal(worker_enqueue(f->w, id, kind, params, timeout_s), expect);
        json_decref(params);
        return id;
}

/* The job.state event for job id with this state (NULL if it did not come within WAIT_MS);
 * borrowed from g.events, valid until teardown. */
static json_t *wait_state(int64_t id, const char *state)
{
        struct timespec deadline = util_deadline_ts(WAIT_MS);
        json_t *found = NULL;
        pthread_mutex_lock(&g.mu);
        for (int r = 0; !found && r == 0;) {
                size_t i;
                json_t *e;
                json_array_foreach(g.events, i, e) {
                        json_t *d = json_object_get(e, "data");
                        if (!strcmp(json_string_value(json_object_get(e, "type")), "job.state") &&
                            json_integer_value(json_object_get(d, "job")) == id &&
                            !strcmp(json_string_value(json_object_get(d, "state")), state)) {
                                found = d;
                                break;
                        }
                }
                if (!found)
                        r = pthread_cond_timedwait(&g.cv, &g.mu, &deadline);
        }
        pthread_mutex_unlock(&g.mu);
        return found;
}

static void wait_blocked(int n)
{
        struct timespec deadline = util_deadline_ts(WAIT_MS);
        pthread_mutex_lock(&g.mu);
        int r = 0;
        while (g.blocked != n && r == 0)
                r = pthread_cond_timedwait(&g.cv, &g.mu, &deadline);
        int got = g.blocked;
        pthread_mutex_unlock(&g.mu);
        assert_int_equal(got, n);
}

static void release_all(void)
{
        pthread_mutex_lock(&g.mu);
        g.release = true;
        pthread_mutex_unlock(&g.mu);
}

static const char *error_code(const json_t *state_event)
{
        return json_string_value(json_object_get(json_object_get(state_event, "error"), "code"));
}

static const char *stored_state(struct fx *f, int64_t id, char *buf, size_t size)
{
        json_t *row = NULL;
        assert_int_equal(store_job_get(f->store, id, false, &row), 0);
        snprintf(buf, size, "%s", json_string_value(json_object_get(row, "state")));
        json_decref(row);
        return buf;
}

static void jobs_run_one_at_a_time_in_queue_order(void **state)
{
        struct fx *f = *state;
        f->w = start_worker(f, 0);
        int64_t first = queue_job(f, &block_kind, 0, 0);
        wait_blocked(1);
        int64_t a = queue_job(f, &quick_kind, 0, 0);
        int64_t b = queue_job(f, &quick_kind, 0, 0);
        int64_t c = queue_job(f, &quick_kind, 0, 0);
        struct worker_status s;
        worker_status(f->w, &s);
        assert_true(s.busy);
        assert_int_equal(s.running_job, first);
        assert_int_equal(s.queued, 3);
        release_all();
        assert_non_null(wait_state(c, "succeeded"));
        assert_non_null(wait_state(first, "succeeded"));
        pthread_mutex_lock(&g.mu);
        size_t n = g.nran;
        int64_t ran[4] = { g.ran[0], g.ran[1], g.ran[2], g.ran[3] };
        pthread_mutex_unlock(&g.mu);
        assert_int_equal(n, 4);
        assert_int_equal(ran[0], first);
        assert_int_equal(ran[1], a);
        assert_int_equal(ran[2], b);
        assert_int_equal(ran[3], c);
        char buf[32];
        assert_string_equal(stored_state(f, b, buf, sizeof(buf)), "succeeded");
}

static void a_cancelled_queued_job_never_runs_and_the_rest_keep_their_order(void **state)
{
        struct fx *f = *state;
        f->w = start_worker(f, 0);
        int64_t first = queue_job(f, &block_kind, 0, 0);
        wait_blocked(1);
        int64_t a = queue_job(f, &quick_kind, 0, 0);
        int64_t b = queue_job(f, &quick_kind, 0, 0);
        assert_int_equal(worker_cancel(f->w, a), 0);
        json_t *ev = wait_state(a, "cancelled"); /* at once: the running job still blocks */
        assert_non_null(ev);
        assert_string_equal(error_code(ev), "cancelled");
        char buf[32];
        assert_string_equal(stored_state(f, a, buf, sizeof(buf)), "cancelled");
        assert_int_equal(worker_cancel(f->w, a), -ENOENT); /* no longer ours */
        release_all();
        assert_non_null(wait_state(b, "succeeded"));
        pthread_mutex_lock(&g.mu);
        size_t n = g.nran;
        int64_t r0 = g.ran[0], r1 = g.ran[1];
        pthread_mutex_unlock(&g.mu);
        assert_int_equal(n, 2);
        assert_int_equal(r0, first);
        assert_int_equal(r1, b);
}

static void cancelling_the_running_job_ends_it_and_the_next_one_starts(void **state)
{
        struct fx *f = *state;
        f->w = start_worker(f, 0);
        int64_t first = queue_job(f, &block_kind, 0, 0);
        wait_blocked(1);
        int64_t next = queue_job(f, &quick_kind, 0, 0);
        assert_int_equal(worker_cancel(f->w, first), 0);
        json_t *ev = wait_state(first, "cancelled");
        assert_non_null(ev);
        assert_string_equal(error_code(ev), "cancelled");
        assert_non_null(wait_state(next, "succeeded")); /* the port was reopened for it */
        char buf[32];
        assert_string_equal(stored_state(f, first, buf, sizeof(buf)), "cancelled");
}

static void cancelling_an_unknown_job_is_not_found(void **state)
{
        struct fx *f = *state;
        f->w = start_worker(f, 0);
        assert_int_equal(worker_cancel(f->w, 12345), -ENOENT);
}

static void the_hard_deadline_cancels_a_job_that_ignores_its_timeout(void **state)
{
        struct fx *f = *state;
        f->w = start_worker(f, 0);
        int64_t id = queue_job(f, &block_kind, 1, 0);
        wait_blocked(1);
        worker_check_deadline(f->w, util_mono_ms()); /* before the deadline: nothing happens */
        struct worker_status s;
        worker_status(f->w, &s);
        assert_int_equal(s.running_job, id);
        /* The reaper's clock, well past the 1 s timeout and its grace. */
        worker_check_deadline(f->w, util_mono_ms() + 3600 * 1000);
        json_t *ev = wait_state(id, "failed");
        assert_non_null(ev);
        assert_string_equal(error_code(ev), "timeout");
}

static void a_full_queue_refuses_more(void **state)
{
        struct fx *f = *state;
        f->w = start_worker(f, 2);
        queue_job(f, &block_kind, 0, 0);
        wait_blocked(1);
        queue_job(f, &quick_kind, 0, 0);
        queue_job(f, &quick_kind, 0, 0);
        queue_job(f, &quick_kind, 0, -ENOSPC);
        worker_set_max_queued(f->w, 3);
        queue_job(f, &quick_kind, 0, 0);
}

static void a_gone_board_fails_queued_jobs_at_once_and_the_running_one_on_its_io(void **state)
{
        struct fx *f = *state;
        f->w = start_worker(f, 0);
        int64_t running = queue_job(f, &block_kind, 0, 0);
        wait_blocked(1);
        int64_t queued = queue_job(f, &quick_kind, 0, 0);
        worker_gone(f->w, false);
        json_t *ev = wait_state(queued, "failed");
        assert_non_null(ev);
        assert_string_equal(error_code(ev), "board_gone");
        queue_job(f, &quick_kind, 0, -ENODEV); /* nothing more is taken */
        close(f->master);                       /* the device vanishes: reads fail */
        f->master = -1;
        ev = wait_state(running, "failed");
        assert_non_null(ev);
        assert_string_equal(error_code(ev), "board_gone");
        char buf[32];
        assert_string_equal(stored_state(f, queued, buf, sizeof(buf)), "failed");
        pthread_mutex_lock(&g.mu);
        size_t n = g.nran;
        pthread_mutex_unlock(&g.mu);
        assert_int_equal(n, 1); /* the queued job never ran */
}

static void job_output_events_keep_valid_utf8_and_repair_the_rest(void **state)
{
        struct fx *f = *state;
        f->w = start_worker(f, 0);
        int64_t id = queue_job(f, &output_kind, 0, 0);
        assert_non_null(wait_state(id, "succeeded"));
        const char *data = NULL;
        size_t len = 0;
        pthread_mutex_lock(&g.mu);
        size_t i;
        json_t *e;
        json_array_foreach(g.events, i, e) {
                json_t *d = json_object_get(e, "data");
                if (!strcmp(json_string_value(json_object_get(e, "type")), "job.output") &&
                    json_integer_value(json_object_get(d, "job")) == id) {
                        data = json_string_value(json_object_get(d, "data"));
                        len = json_string_length(json_object_get(d, "data"));
                }
        }
        pthread_mutex_unlock(&g.mu);
        assert_non_null(data);
        assert_int_equal(len, sizeof(OUTPUT_JSON) - 1);
        assert_memory_equal(data, OUTPUT_JSON, len);
}

/* The fake board's side of the pty: what the worker wrote within ms (up to cap - 1 bytes). */
static size_t board_read(struct fx *f, char *buf, size_t cap, int ms)
{
        size_t len = 0;
        uint64_t end = util_mono_ms() + (uint64_t)ms;
        for (uint64_t now; (now = util_mono_ms()) < end && len + 1 < cap;) {
                struct pollfd pfd = { .fd = f->master, .events = POLLIN };
                if (poll(&pfd, 1, (int)(end - now)) <= 0)
                        continue;
                ssize_t n = read(f->master, buf + len, cap - 1 - len);
                if (n > 0)
                        len += (size_t)n;
        }
        buf[len] = '\0';
        return len;
}

static void no_wake(void *user)
{
        (void)user;
}

/* A viewer joins a MicroPython board's console and the worker sends its fresh-prompt CR; a job is
 * queued right then, before the board (slow, loaded) has answered. The worker must not start the
 * job (its Ctrl-C, Ctrl-A) on top of the unanswered CR: the job's first byte comes after the
 * board's answer, and the answer is the console's, not the job's. */
static void a_job_queued_during_the_fresh_prompt_waits_for_the_boards_answer(void **state)
{
        struct fx *f = *state;
        json_t *hints = json_pack("{s:s}", "family", "micropython");
        f->w = start_worker_hints(f, 0, hints);
        json_decref(hints);
        struct worker_status s = { 0 };
        for (uint64_t end = util_mono_ms() + WAIT_MS; !s.port_open && util_mono_ms() < end; usleep(10000))
                worker_status(f->w, &s);
        assert_true(s.port_open);
        struct console *c = NULL;
        assert_int_equal(console_dir_get(f->consoles, "b1", &c), 0);
        struct console_viewer *v = NULL;
        assert_int_equal(console_viewer_join(c, "t", no_wake, NULL, &v), 0);
        char buf[256];
        assert_int_equal(board_read(f, buf, 2, CONSOLE_PROMPT_DELAY_MS + 2000), 1);
        assert_string_equal(buf, "\r"); /* the fresh prompt's CR */
        int64_t id = queue_job(f, &mark_kind, 0, 0);
        /* The board takes its time to answer: meanwhile nothing more may reach it. */
        size_t early = board_read(f, buf, sizeof(buf), 150);
        assert_string_equal(buf, "");
        assert_int_equal(early, 0);
        assert_int_equal(write(f->master, "\r\n>>> ", 6), 6);
        assert_int_equal(board_read(f, buf, 2, WAIT_MS), 1);
        assert_string_equal(buf, "J"); /* the job, once the board answered */
        assert_non_null(wait_state(id, "succeeded"));
        pthread_mutex_lock(&g.mu);
        bool job_saw_prompt = strstr(mark.got, ">>>") != NULL;
        pthread_mutex_unlock(&g.mu);
        assert_false(job_saw_prompt); /* the console's answer, fed to the console */
        console_viewer_leave(v);
        console_unref(c);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(jobs_run_one_at_a_time_in_queue_order, setup, teardown),
                cmocka_unit_test_setup_teardown(a_cancelled_queued_job_never_runs_and_the_rest_keep_their_order, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(cancelling_the_running_job_ends_it_and_the_next_one_starts, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(cancelling_an_unknown_job_is_not_found, setup, teardown),
                cmocka_unit_test_setup_teardown(the_hard_deadline_cancels_a_job_that_ignores_its_timeout, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(a_full_queue_refuses_more, setup, teardown),
                cmocka_unit_test_setup_teardown(a_gone_board_fails_queued_jobs_at_once_and_the_running_one_on_its_io,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(job_output_events_keep_valid_utf8_and_repair_the_rest, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(a_job_queued_during_the_fresh_prompt_waits_for_the_boards_answer,
                                                setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
