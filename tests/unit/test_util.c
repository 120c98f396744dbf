/* util specification: the monotonic clock, deadlines on it, and condition variables whose timed
 * waits run on it (so a wall-clock step cannot stall or hurry a deadline). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <cmocka.h>

#include "util.h"

static int64_t ts_ms(struct timespec ts)
{
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void mono_ms_never_goes_back(void **state)
{
        (void)state;
        uint64_t a = util_mono_ms();
        for (int i = 0; i < 1000; i++) {
                uint64_t b = util_mono_ms();
                assert_true(b >= a);
                a = b;
        }
}

static void deadline_is_on_the_monotonic_clock(void **state)
{
        (void)state;
        uint64_t before = util_mono_ms();
        struct timespec ts = util_deadline_ts(1500);
        uint64_t after = util_mono_ms();
        assert_true(ts_ms(ts) >= (int64_t)before + 1500);
        assert_true(ts_ms(ts) <= (int64_t)after + 1500);
}

static void deadline_nanoseconds_stay_normalised(void **state)
{
        (void)state;
        for (int64_t ms = 0; ms < 2000; ms += 37) {
                struct timespec ts = util_deadline_ts(ms);
                assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
        }
}

static void negative_deadline_is_now(void **state)
{
        (void)state;
        uint64_t before = util_mono_ms();
        struct timespec ts = util_deadline_ts(-5000);
        assert_true(ts_ms(ts) >= (int64_t)before);
        assert_true(ts_ms(ts) <= (int64_t)util_mono_ms());
}

/* On a CLOCK_REALTIME condition variable a monotonic deadline (seconds since boot) is decades in
 * the past and the wait returns at once; on a monotonic one it waits the whole span. */
static void cond_waits_until_its_monotonic_deadline(void **state)
{
        (void)state;
        pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        pthread_cond_t cv;
        assert_int_equal(util_cond_init_mono(&cv), 0);
        pthread_mutex_lock(&mu);
        uint64_t t0 = util_mono_ms();
        struct timespec ts = util_deadline_ts(100);
        int r = 0;
        while (r == 0)
                r = pthread_cond_timedwait(&cv, &mu, &ts);
        uint64_t took = util_mono_ms() - t0;
        pthread_mutex_unlock(&mu);
        assert_int_equal(r, ETIMEDOUT);
        assert_true(took >= 99);
        pthread_cond_destroy(&cv);
}

struct waker {
        pthread_mutex_t mu;
        pthread_cond_t cv;
        int flag;
};

static void *wake_main(void *arg)
{
        struct waker *w = arg;
        pthread_mutex_lock(&w->mu);
        w->flag = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        return NULL;
}

static void cond_signal_ends_the_wait(void **state)
{
        (void)state;
        struct waker w = { .mu = PTHREAD_MUTEX_INITIALIZER };
        assert_int_equal(util_cond_init_mono(&w.cv), 0);
        pthread_mutex_lock(&w.mu);
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, wake_main, &w), 0);
        struct timespec ts = util_deadline_ts(30000);
        int r = 0;
        while (!w.flag && r == 0)
                r = pthread_cond_timedwait(&w.cv, &w.mu, &ts);
        pthread_mutex_unlock(&w.mu);
        pthread_join(th, NULL);
        assert_int_equal(r, 0);
        assert_int_equal(w.flag, 1);
        pthread_cond_destroy(&w.cv);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(mono_ms_never_goes_back),
                cmocka_unit_test(deadline_is_on_the_monotonic_clock),
                cmocka_unit_test(deadline_nanoseconds_stay_normalised),
                cmocka_unit_test(negative_deadline_is_now),
                cmocka_unit_test(cond_waits_until_its_monotonic_deadline),
                cmocka_unit_test(cond_signal_ends_the_wait),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
