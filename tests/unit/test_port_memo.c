/* Specification of what job kinds keep with an open port between their jobs (port_memo): when it
 * survives, when it is wiped, when the port counts as disturbed, and the handback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "jobs/port_memo.h"

static const struct job_kind run_kind = { .name = "run" };
static const struct job_kind fs_kind = { .name = "fs_ls" };
static const struct job_kind flash_kind = { .name = "flash" };


/* A port that was just opened. */
static void opened(struct port_memo *m)
{
        memset(m, 0, sizeof(*m));
        port_memo_wipe(m);
}

static void a_claimed_block_starts_zeroed_and_survives_to_the_next_job(void **state)
{
        (void)state;
        struct port_memo m;
        bool dist = false;
        opened(&m);
        uint8_t *b = port_memo_claim(&m, &run_kind, 64, &dist);
        assert_non_null(b);
        assert_true(dist); /* a freshly opened port */
        for (size_t i = 0; i < 64; i++)
                assert_int_equal(b[i], 0);
        memcpy(b, "kept", 4);
        port_memo_job_end(&m, true);
        b = port_memo_claim(&m, &fs_kind, 64, &dist);
        assert_memory_equal(b, "kept", 4);
        assert_false(dist);
}

static void a_job_that_did_not_claim_it_wipes_the_block(void **state)
{
        (void)state;
        struct port_memo m;
        bool dist = false;
        opened(&m);
        memcpy(port_memo_claim(&m, &run_kind, 64, NULL), "kept", 4);
        port_memo_job_end(&m, true);
        port_memo_job_end(&m, false); /* e.g. a flash job */
        uint8_t *b = port_memo_claim(&m, &run_kind, 64, &dist);
        assert_int_equal(b[0], 0);
        assert_true(dist);
}

static void another_size_gets_a_fresh_block(void **state)
{
        (void)state;
        struct port_memo m;
        opened(&m);
        memcpy(port_memo_claim(&m, &run_kind, 64, NULL), "kept", 4);
        port_memo_job_end(&m, true);
        uint8_t *b = port_memo_claim(&m, &run_kind, 32, NULL);
        assert_int_equal(b[0], 0);
}

static void oversized_or_empty_claims_are_refused(void **state)
{
        (void)state;
        struct port_memo m;
        opened(&m);
        assert_null(port_memo_claim(&m, &run_kind, JR_PORT_MEMO_MAX + 1, NULL));
        assert_null(port_memo_claim(&m, &run_kind, 0, NULL));
        assert_non_null(port_memo_claim(&m, &run_kind, JR_PORT_MEMO_MAX, NULL));
}

static void use_of_the_port_between_jobs_is_reported_once(void **state)
{
        (void)state;
        struct port_memo m;
        bool dist = false;
        opened(&m);
        port_memo_claim(&m, &run_kind, 64, NULL);
        port_memo_job_end(&m, true);
        port_memo_disturb(&m); /* console input, board output */
        port_memo_claim(&m, &run_kind, 64, &dist);
        assert_true(dist);
        port_memo_job_end(&m, true);
        port_memo_claim(&m, &run_kind, 64, &dist);
        assert_false(dist);
}

static void claiming_takes_the_board_over_and_drops_the_handback(void **state)
{
        (void)state;
        struct port_memo m;
        opened(&m);
        port_memo_claim(&m, &run_kind, 64, NULL);
        assert_int_equal(port_memo_set_handback(&m, "\x02", 1), 0);
        port_memo_job_end(&m, true);
        assert_int_equal(m.handback_len, 1);
        port_memo_claim(&m, &run_kind, 64, NULL);
        assert_int_equal(m.handback_len, 0);
}

static void a_handback_longer_than_the_limit_is_refused(void **state)
{
        (void)state;
        struct port_memo m;
        uint8_t big[JR_HANDBACK_MAX + 1] = { 0 };
        opened(&m);
        assert_int_equal(port_memo_set_handback(&m, big, sizeof(big)), -EMSGSIZE);
        assert_int_equal(m.handback_len, 0);
        assert_int_equal(port_memo_set_handback(&m, big, JR_HANDBACK_MAX), 0);
        assert_int_equal(port_memo_set_handback(&m, NULL, 0), 0);
        assert_int_equal(m.handback_len, 0);
}

static void kinds_that_claimed_the_block_are_remembered_across_wipes(void **state)
{
        (void)state;
        struct port_memo m;
        opened(&m);
        assert_false(port_memo_kind(&m, &run_kind));
        port_memo_claim(&m, &run_kind, 64, NULL);
        port_memo_claim(&m, &run_kind, 64, NULL);
        port_memo_wipe(&m); /* the port was reopened */
        assert_true(port_memo_kind(&m, &run_kind));
        assert_false(port_memo_kind(&m, &flash_kind));
        assert_int_equal(m.nkinds, 1);
}

static void a_wipe_drops_the_handback(void **state)
{
        (void)state;
        struct port_memo m;
        opened(&m);
        port_memo_claim(&m, &run_kind, 64, NULL);
        port_memo_set_handback(&m, "\x02", 1);
        port_memo_wipe(&m);
        assert_int_equal(m.handback_len, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(a_claimed_block_starts_zeroed_and_survives_to_the_next_job),
                cmocka_unit_test(a_job_that_did_not_claim_it_wipes_the_block),
                cmocka_unit_test(another_size_gets_a_fresh_block),
                cmocka_unit_test(oversized_or_empty_claims_are_refused),
                cmocka_unit_test(use_of_the_port_between_jobs_is_reported_once),
                cmocka_unit_test(claiming_takes_the_board_over_and_drops_the_handback),
                cmocka_unit_test(a_handback_longer_than_the_limit_is_refused),
                cmocka_unit_test(kinds_that_claimed_the_block_are_remembered_across_wipes),
                cmocka_unit_test(a_wipe_drops_the_handback),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
