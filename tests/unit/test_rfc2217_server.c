/* RFC 2217 server engine byte by byte: negotiation answers, every COM-PORT-OPTION command turned
 * into port actions with its reply (code + 100, value echoed), IAC doubling both ways, order of
 * data and control, splits at every byte, output limits; and the ESP reset watcher's verdicts on
 * esptool's classic, unix-tight and hard reset sequences as pyserial sends them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engines/rfc2217/rfc2217_resetwatch.h"
#include "engines/rfc2217/rfc2217_server.h"

#define IAC 0xff
#define SB 0xfa
#define SE 0xf0
#define WILL 0xfb
#define WONT 0xfc
#define DO 0xfd
#define DONT 0xfe
#define CPO 44

static struct rfc2217_server S;
static struct r2s_out O;

static int setup(void **st)
{
        (void)st;
        rfc2217_server_init(&S, 115200, "corral-test");
        rfc2217_server_out_reset(&O);
        return 0;
}

static void feed_all(const uint8_t *b, size_t n)
{
        size_t used = rfc2217_server_feed(&S, b, n, &O);
        assert_int_equal(used, n);
}

#define FEED(...)                                                  \
        do {                                                       \
                const uint8_t in_[] = { __VA_ARGS__ };             \
                feed_all(in_, sizeof(in_));                        \
        } while (0)

#define REPLY_IS(...)                                              \
        do {                                                       \
                const uint8_t want_[] = { __VA_ARGS__ };           \
                assert_int_equal(O.nreply, sizeof(want_));         \
                assert_memory_equal(O.reply, want_, sizeof(want_)); \
        } while (0)

static void test_start_offers_binary_sga_and_comport_both_ways(void **st)
{
        rfc2217_server_start(&S, &O);
        REPLY_IS(IAC, WILL, 0, IAC, DO, 0, IAC, WILL, 3, IAC, DO, 3, IAC, WILL, CPO, IAC, DO, CPO);
}

static void test_answers_to_our_own_offers_are_not_answered_again(void **st)
{
        rfc2217_server_start(&S, &O);
        rfc2217_server_out_reset(&O);
        FEED(IAC, DO, 0, IAC, WILL, 0, IAC, DO, 3, IAC, WILL, 3, IAC, WILL, CPO, IAC, DO, CPO);
        assert_int_equal(O.nreply, 0);
        assert_true(rfc2217_server_comport(&S));
}

static void test_client_asking_first_gets_one_answer_each(void **st)
{
        /* pyserial's opening: DO ECHO, WILL/DO SGA, WILL/DO COM-PORT-OPTION */
        FEED(IAC, DO, 1, IAC, WILL, 3, IAC, DO, 3, IAC, WILL, CPO, IAC, DO, CPO);
        REPLY_IS(IAC, WONT, 1, IAC, DO, 3, IAC, WILL, 3, IAC, DO, CPO, IAC, WILL, CPO);
        rfc2217_server_out_reset(&O);
        FEED(IAC, WILL, CPO, IAC, DO, 3); /* repeated: no change, no answer */
        assert_int_equal(O.nreply, 0);
}

static void test_unsupported_option_is_refused(void **st)
{
        FEED(IAC, WILL, 24, IAC, DO, 31);
        REPLY_IS(IAC, DONT, 24, IAC, WONT, 31);
}

static void test_dont_and_wont_turn_an_option_off_once(void **st)
{
        FEED(IAC, WILL, CPO);
        rfc2217_server_out_reset(&O);
        FEED(IAC, WONT, CPO);
        REPLY_IS(IAC, DONT, CPO);
        assert_false(rfc2217_server_comport(&S));
        rfc2217_server_out_reset(&O);
        FEED(IAC, WONT, CPO);
        assert_int_equal(O.nreply, 0);
}

static void test_set_baudrate_is_an_action_and_echoed(void **st)
{
        FEED(IAC, SB, CPO, 1, 0x00, 0x0e, 0x10, 0x00, IAC, SE); /* 921600 */
        assert_int_equal(O.nact, 1);
        assert_int_equal(O.act[0].kind, R2S_ACT_BAUD);
        assert_int_equal(O.act[0].value, 921600);
        REPLY_IS(IAC, SB, CPO, 101, 0x00, 0x0e, 0x10, 0x00, IAC, SE);
}

static void test_baud_query_answers_the_current_rate_without_action(void **st)
{
        FEED(IAC, SB, CPO, 1, 0, 0, 0, 0, IAC, SE);
        assert_int_equal(O.nact, 0);
        REPLY_IS(IAC, SB, CPO, 101, 0x00, 0x01, 0xc2, 0x00, IAC, SE); /* 115200 */
}

static void test_baud_with_iac_byte_is_undoubled_in_and_doubled_out(void **st)
{
        /* 0x0001ff00 = 130816: the 0xff travels doubled both ways */
        FEED(IAC, SB, CPO, 1, 0x00, 0x01, IAC, IAC, 0x00, IAC, SE);
        assert_int_equal(O.act[0].value, 0x0001ff00);
        REPLY_IS(IAC, SB, CPO, 101, 0x00, 0x01, IAC, IAC, 0x00, IAC, SE);
}

static void test_datasize_parity_stopsize_are_actions_and_echoed(void **st)
{
        FEED(IAC, SB, CPO, 2, 7, IAC, SE, IAC, SB, CPO, 3, 3, IAC, SE, IAC, SB, CPO, 4, 2, IAC, SE);
        assert_int_equal(O.nact, 3);
        assert_int_equal(O.act[0].kind, R2S_ACT_DATASIZE);
        assert_int_equal(O.act[0].value, 7);
        assert_int_equal(O.act[1].kind, R2S_ACT_PARITY);
        assert_int_equal(O.act[1].value, 3);
        assert_int_equal(O.act[2].kind, R2S_ACT_STOPSIZE);
        assert_int_equal(O.act[2].value, 2);
        REPLY_IS(IAC, SB, CPO, 102, 7, IAC, SE, IAC, SB, CPO, 103, 3, IAC, SE, IAC, SB, CPO, 104, 2, IAC, SE);
}

static void test_a_port_that_carries_8n1_only_refuses_7e2(void **st)
{
        S.only_8n1 = true;
        FEED(IAC, SB, CPO, 2, 7, IAC, SE, IAC, SB, CPO, 3, 3, IAC, SE, IAC, SB, CPO, 4, 2, IAC, SE,
             IAC, SB, CPO, 2, 8, IAC, SE);
        assert_int_equal(O.nact, 1); /* only the 8 */
        REPLY_IS(IAC, SB, CPO, 102, 8, IAC, SE, IAC, SB, CPO, 103, 1, IAC, SE, IAC, SB, CPO, 104, 1, IAC, SE,
                 IAC, SB, CPO, 102, 8, IAC, SE);
}

static void test_out_of_range_setting_is_refused_with_the_current_value(void **st)
{
        FEED(IAC, SB, CPO, 2, 9, IAC, SE);
        assert_int_equal(O.nact, 0);
        REPLY_IS(IAC, SB, CPO, 102, 8, IAC, SE);
}

static void test_dtr_rts_changes_carry_both_lines(void **st)
{
        FEED(IAC, SB, CPO, 5, 8, IAC, SE, IAC, SB, CPO, 5, 11, IAC, SE, IAC, SB, CPO, 5, 9, IAC, SE);
        assert_int_equal(O.nact, 3);
        for (int i = 0; i < 3; i++)
                assert_int_equal(O.act[i].kind, R2S_ACT_LINES);
        assert_true(O.act[0].dtr);
        assert_false(O.act[0].rts);
        assert_true(O.act[1].dtr);
        assert_true(O.act[1].rts);
        assert_false(O.act[2].dtr);
        assert_true(O.act[2].rts);
        REPLY_IS(IAC, SB, CPO, 105, 8, IAC, SE, IAC, SB, CPO, 105, 11, IAC, SE, IAC, SB, CPO, 105, 9, IAC, SE);
}

static void test_line_state_queries_answer_without_action(void **st)
{
        FEED(IAC, SB, CPO, 5, 11, IAC, SE);
        rfc2217_server_out_reset(&O);
        FEED(IAC, SB, CPO, 5, 7, IAC, SE, IAC, SB, CPO, 5, 10, IAC, SE, IAC, SB, CPO, 5, 4, IAC, SE);
        assert_int_equal(O.nact, 0);
        REPLY_IS(IAC, SB, CPO, 105, 9, IAC, SE, IAC, SB, CPO, 105, 11, IAC, SE, IAC, SB, CPO, 105, 6, IAC, SE);
}

static void test_break_on_off(void **st)
{
        FEED(IAC, SB, CPO, 5, 5, IAC, SE, IAC, SB, CPO, 5, 6, IAC, SE);
        assert_int_equal(O.nact, 2);
        assert_int_equal(O.act[0].kind, R2S_ACT_BREAK);
        assert_int_equal(O.act[0].value, 1);
        assert_int_equal(O.act[1].kind, R2S_ACT_BREAK);
        assert_int_equal(O.act[1].value, 0);
        REPLY_IS(IAC, SB, CPO, 105, 5, IAC, SE, IAC, SB, CPO, 105, 6, IAC, SE);
}

static void test_no_flow_control_is_accepted_hardware_flow_is_refused(void **st)
{
        FEED(IAC, SB, CPO, 5, 1, IAC, SE, IAC, SB, CPO, 5, 3, IAC, SE);
        assert_int_equal(O.nact, 0);
        REPLY_IS(IAC, SB, CPO, 105, 1, IAC, SE, IAC, SB, CPO, 105, 1, IAC, SE);
}

static void test_purge_values_are_actions_and_echoed(void **st)
{
        FEED(IAC, SB, CPO, 12, 1, IAC, SE, IAC, SB, CPO, 12, 2, IAC, SE, IAC, SB, CPO, 12, 3, IAC, SE,
             IAC, SB, CPO, 12, 4, IAC, SE);
        assert_int_equal(O.nact, 3);
        assert_int_equal(O.act[0].value, R2S_PURGE_RX);
        assert_int_equal(O.act[1].value, R2S_PURGE_TX);
        assert_int_equal(O.act[2].value, R2S_PURGE_BOTH);
        REPLY_IS(IAC, SB, CPO, 112, 1, IAC, SE, IAC, SB, CPO, 112, 2, IAC, SE, IAC, SB, CPO, 112, 3, IAC, SE);
}

static void test_signature_request_is_answered_client_signature_is_not(void **st)
{
        FEED(IAC, SB, CPO, 0, 'p', 'y', IAC, SE);
        assert_int_equal(O.nreply, 0);
        FEED(IAC, SB, CPO, 0, IAC, SE);
        REPLY_IS(IAC, SB, CPO, 100, 'c', 'o', 'r', 'r', 'a', 'l', '-', 't', 'e', 's', 't', IAC, SE);
}

static void test_masks_are_echoed_and_modem_notifications_follow_the_mask(void **st)
{
        FEED(IAC, WILL, CPO);
        rfc2217_server_out_reset(&O);
        FEED(IAC, SB, CPO, 11, 0x30, IAC, SE, IAC, SB, CPO, 10, 0, IAC, SE);
        REPLY_IS(IAC, SB, CPO, 111, 0x30, IAC, SE, IAC, SB, CPO, 110, 0, IAC, SE);
        rfc2217_server_out_reset(&O);
        rfc2217_server_modem(&S, R2S_MODEM_CD, &O); /* CD is masked out: no change seen */
        assert_int_equal(O.nreply, 0);
        rfc2217_server_modem(&S, R2S_MODEM_CD | R2S_MODEM_CTS | R2S_MODEM_DSR, &O);
        REPLY_IS(IAC, SB, CPO, 107, 0x30, IAC, SE); /* CTS, DSR (deltas 0x3 masked out too) */
        rfc2217_server_out_reset(&O);
        FEED(IAC, SB, CPO, 7, IAC, SE); /* a poll */
        REPLY_IS(IAC, SB, CPO, 107, 0x30, IAC, SE);
}

static void test_modem_notification_waits_for_comport_agreement(void **st)
{
        rfc2217_server_modem(&S, R2S_MODEM_CTS, &O);
        assert_int_equal(O.nreply, 0);
}

static void test_modem_notification_carries_deltas(void **st)
{
        FEED(IAC, WILL, CPO);
        rfc2217_server_out_reset(&O);
        rfc2217_server_modem(&S, R2S_MODEM_CTS | R2S_MODEM_DSR | R2S_MODEM_CD, &O);
        REPLY_IS(IAC, SB, CPO, 107, 0xb0 | 0x0b, IAC, SE);
}

static void test_suspend_and_resume_are_actions(void **st)
{
        FEED(IAC, SB, CPO, 8, IAC, SE, IAC, SB, CPO, 9, IAC, SE);
        assert_int_equal(O.nact, 2);
        assert_int_equal(O.act[0].kind, R2S_ACT_SUSPEND);
        assert_int_equal(O.act[0].value, 1);
        assert_int_equal(O.act[1].value, 0);
        assert_int_equal(O.nreply, 0);
}

static void test_data_and_control_keep_their_order(void **st)
{
        FEED('a', 'b', IAC, SB, CPO, 1, 0, 0, 0x25, 0x80, IAC, SE, 'c', IAC, IAC, 'd', IAC, 241 /* NOP */, 'e');
        assert_int_equal(O.nact, 3);
        assert_int_equal(O.act[0].kind, R2S_ACT_DATA);
        assert_int_equal(O.act[0].len, 2);
        assert_memory_equal(O.data + O.act[0].off, "ab", 2);
        assert_int_equal(O.act[1].kind, R2S_ACT_BAUD);
        assert_int_equal(O.act[1].value, 9600);
        assert_int_equal(O.act[2].kind, R2S_ACT_DATA);
        assert_int_equal(O.act[2].len, 4);
        assert_memory_equal(O.data + O.act[2].off, "c\xff" "de", 4);
}

static void test_every_split_gives_the_same_result(void **st)
{
        const uint8_t in[] = { 'x', IAC, IAC, IAC, SB, CPO, 5, 8, IAC, SE, 'y', IAC, SB, CPO, 1, 0, 0x01, IAC, IAC,
                               0, IAC, SE, IAC, DO, 3, 'z' };
        struct r2s_out whole;
        rfc2217_server_out_reset(&whole);
        rfc2217_server_init(&S, 115200, NULL);
        assert_int_equal(rfc2217_server_feed(&S, in, sizeof(in), &whole), sizeof(in));
        for (size_t cut = 1; cut < sizeof(in); cut++) {
                rfc2217_server_init(&S, 115200, NULL);
                rfc2217_server_out_reset(&O);
                assert_int_equal(rfc2217_server_feed(&S, in, cut, &O), cut);
                assert_int_equal(rfc2217_server_feed(&S, in + cut, sizeof(in) - cut, &O), sizeof(in) - cut);
                assert_int_equal(O.ndata, whole.ndata);
                assert_memory_equal(O.data, whole.data, whole.ndata);
                assert_int_equal(O.nreply, whole.nreply);
                assert_memory_equal(O.reply, whole.reply, whole.nreply);
        }
}

static void test_malformed_subnegotiation_is_dropped(void **st)
{
        FEED(IAC, SB, CPO, 1, 0, 0, IAC, 'x', 'q');
        assert_int_equal(O.nreply, 0);
        assert_int_equal(O.nact, 1); /* only the 'q' after it */
        assert_int_equal(O.act[0].kind, R2S_ACT_DATA);
        assert_int_equal(O.data[0], 'q');
}

static void test_overlong_subnegotiation_is_ignored_whole(void **st)
{
        uint8_t in[6 + 100 + 2];
        size_t n = 0;
        in[n++] = IAC, in[n++] = SB, in[n++] = CPO, in[n++] = 1;
        for (int i = 0; i < 100; i++)
                in[n++] = 0x01;
        in[n++] = IAC, in[n++] = SE;
        feed_all(in, n);
        assert_int_equal(O.nact, 0);
        assert_int_equal(O.nreply, 0);
}

static void test_feed_stops_when_the_data_buffer_is_full(void **st)
{
        static uint8_t in[R2S_DATA_MAX + 10];
        memset(in, 'a', sizeof(in));
        size_t used = rfc2217_server_feed(&S, in, sizeof(in), &O);
        assert_int_equal(used, R2S_DATA_MAX);
        assert_int_equal(O.ndata, R2S_DATA_MAX);
        rfc2217_server_out_reset(&O);
        assert_int_equal(rfc2217_server_feed(&S, in + used, sizeof(in) - used, &O), 10);
}

static void test_feed_stops_when_the_action_list_is_full(void **st)
{
        uint8_t in[7 * (R2S_MAX_ACTIONS + 1)];
        size_t n = 0;
        for (int i = 0; i <= R2S_MAX_ACTIONS; i++) {
                const uint8_t brk[] = { IAC, SB, CPO, 5, 5, IAC, SE };
                memcpy(in + n, brk, sizeof(brk));
                n += sizeof(brk);
        }
        size_t used = rfc2217_server_feed(&S, in, n, &O);
        assert_int_equal(O.nact, R2S_MAX_ACTIONS);
        assert_true(used < n);
        rfc2217_server_out_reset(&O);
        assert_int_equal(rfc2217_server_feed(&S, in + used, n - used, &O), n - used);
        assert_int_equal(O.nact, 1);
}

static void test_escape_doubles_iac_and_never_splits_a_pair(void **st)
{
        const uint8_t in[] = { 1, IAC, 2, IAC };
        uint8_t out[8];
        size_t used;
        assert_int_equal(rfc2217_server_escape(in, sizeof(in), out, sizeof(out), &used), 6);
        assert_int_equal(used, 4);
        const uint8_t want[] = { 1, IAC, IAC, 2, IAC, IAC };
        assert_memory_equal(out, want, 6);
        assert_int_equal(rfc2217_server_escape(in, sizeof(in), out, 2, &used), 1);
        assert_int_equal(used, 1); /* the IAC pair did not fit */
}

/* ---- reset watcher: pyserial sends one line per SET-CONTROL, ~50 ms apart ---- */

static void test_classic_reset_is_a_loader_reset_then_quiet(void **st)
{
        struct resetwatch w;
        resetwatch_init(&w);
        uint64_t t = 1000;
        assert_int_equal(resetwatch_lines(&w, false, false, t), RESETWATCH_APPLY);      /* DTR=F */
        assert_int_equal(resetwatch_lines(&w, false, true, t += 50), RESETWATCH_APPLY); /* RTS=T: EN low */
        assert_int_equal(resetwatch_lines(&w, false, true, t += 50), RESETWATCH_APPLY); /* dummy DTR=F */
        t += 100;
        assert_int_equal(resetwatch_lines(&w, true, true, t += 50), RESETWATCH_LOADER_RESET); /* DTR=T */
        assert_int_equal(resetwatch_lines(&w, true, false, t += 50), RESETWATCH_IGNORE); /* RTS=F */
        assert_int_equal(resetwatch_lines(&w, true, false, t += 50), RESETWATCH_IGNORE); /* dummy DTR=T */
        assert_int_equal(resetwatch_lines(&w, false, false, t += 50), RESETWATCH_IGNORE); /* DTR=F */
        assert_int_equal(resetwatch_lines(&w, true, false, t += 50), RESETWATCH_APPLY);   /* mirroring again */
}

static void test_unix_tight_reset_is_a_loader_reset(void **st)
{
        struct resetwatch w;
        resetwatch_init(&w);
        uint64_t t = 5;
        assert_int_equal(resetwatch_lines(&w, true, false, t += 50), RESETWATCH_APPLY);
        assert_int_equal(resetwatch_lines(&w, true, true, t += 50), RESETWATCH_APPLY);
        assert_int_equal(resetwatch_lines(&w, false, true, t += 50), RESETWATCH_APPLY); /* reset */
        assert_int_equal(resetwatch_lines(&w, true, true, t += 150), RESETWATCH_LOADER_RESET);
        assert_int_equal(resetwatch_lines(&w, true, false, t += 50), RESETWATCH_IGNORE);
        assert_int_equal(resetwatch_lines(&w, false, false, t += 50), RESETWATCH_IGNORE);
}

static void test_both_lines_at_once_to_loader_is_a_loader_reset(void **st)
{
        struct resetwatch w;
        resetwatch_init(&w);
        assert_int_equal(resetwatch_lines(&w, false, true, 0), RESETWATCH_APPLY);
        assert_int_equal(resetwatch_lines(&w, true, false, 100), RESETWATCH_LOADER_RESET);
}

static void test_hard_reset_is_recognised_and_applied(void **st)
{
        struct resetwatch w;
        resetwatch_init(&w);
        assert_int_equal(resetwatch_lines(&w, false, true, 0), RESETWATCH_APPLY);
        assert_int_equal(resetwatch_lines(&w, false, false, 100), RESETWATCH_HARD_RESET);
}

static void test_a_glitch_shorter_than_the_hold_is_mirrored(void **st)
{
        struct resetwatch w;
        resetwatch_init(&w);
        assert_int_equal(resetwatch_lines(&w, false, true, 0), RESETWATCH_APPLY);
        assert_int_equal(resetwatch_lines(&w, true, true, RESETWATCH_MIN_HOLD_MS - 1), RESETWATCH_APPLY);
        assert_int_equal(resetwatch_lines(&w, false, true, 100), RESETWATCH_APPLY);
        assert_int_equal(resetwatch_lines(&w, false, false, 105), RESETWATCH_APPLY);
}

static void test_suppression_ends_at_a_new_reset_or_the_deadline(void **st)
{
        struct resetwatch w;
        resetwatch_init(&w);
        resetwatch_lines(&w, false, true, 0);
        assert_int_equal(resetwatch_lines(&w, true, true, 100), RESETWATCH_LOADER_RESET);
        /* the client starts a new reset instead of finishing: (F,T) is applied */
        assert_int_equal(resetwatch_lines(&w, false, true, 150), RESETWATCH_APPLY);
        assert_int_equal(resetwatch_lines(&w, true, true, 300), RESETWATCH_LOADER_RESET);
        assert_int_equal(resetwatch_lines(&w, true, false, 300 + RESETWATCH_SUPPRESS_MS + 1), RESETWATCH_APPLY);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_start_offers_binary_sga_and_comport_both_ways),
                T(test_answers_to_our_own_offers_are_not_answered_again),
                T(test_client_asking_first_gets_one_answer_each),
                T(test_unsupported_option_is_refused),
                T(test_dont_and_wont_turn_an_option_off_once),
                T(test_set_baudrate_is_an_action_and_echoed),
                T(test_baud_query_answers_the_current_rate_without_action),
                T(test_baud_with_iac_byte_is_undoubled_in_and_doubled_out),
                T(test_datasize_parity_stopsize_are_actions_and_echoed),
                T(test_out_of_range_setting_is_refused_with_the_current_value),
                T(test_a_port_that_carries_8n1_only_refuses_7e2),
                T(test_dtr_rts_changes_carry_both_lines),
                T(test_line_state_queries_answer_without_action),
                T(test_break_on_off),
                T(test_no_flow_control_is_accepted_hardware_flow_is_refused),
                T(test_purge_values_are_actions_and_echoed),
                T(test_signature_request_is_answered_client_signature_is_not),
                T(test_masks_are_echoed_and_modem_notifications_follow_the_mask),
                T(test_modem_notification_waits_for_comport_agreement),
                T(test_modem_notification_carries_deltas),
                T(test_suspend_and_resume_are_actions),
                T(test_data_and_control_keep_their_order),
                T(test_every_split_gives_the_same_result),
                T(test_malformed_subnegotiation_is_dropped),
                T(test_overlong_subnegotiation_is_ignored_whole),
                T(test_feed_stops_when_the_data_buffer_is_full),
                T(test_feed_stops_when_the_action_list_is_full),
                T(test_escape_doubles_iac_and_never_splits_a_pair),
                T(test_classic_reset_is_a_loader_reset_then_quiet),
                T(test_unix_tight_reset_is_a_loader_reset),
                T(test_both_lines_at_once_to_loader_is_a_loader_reset),
                T(test_hard_reset_is_recognised_and_applied),
                T(test_a_glitch_shorter_than_the_hold_is_mirrored),
                T(test_suppression_ends_at_a_new_reset_or_the_deadline),
        };
        return cmocka_run_group_tests_name("rfc2217_server", tests, NULL, NULL);
}
