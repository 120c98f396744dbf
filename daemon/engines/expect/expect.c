/* The expect engine: steps (expect literal/regex, send, wait) over a serial byte stream with a
 * clock passed in, fail_on patterns that end the run, captures and a transcript for the result. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "engines/expect/expect.h"

#include <ctype.h>
#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define DEFAULT_TIMEOUT_MS 30000u
#define EVIDENCE_MS_DEFAULT 300u   /* how long a default panic pattern keeps collecting evidence */
#define MATCH_LIMIT 200000u        /* PCRE2 backtracking bound: a pathological regex fails, never hangs */

enum step_type { STEP_EXPECT, STEP_EXPECT_RE, STEP_SEND, STEP_WAIT };

struct pat {
        char *text;                 /* literal or regex source */
        size_t len;
        bool regex;
        pcre2_code *re;
        pcre2_match_data *md;
};

struct step {
        enum step_type type;
        struct pat pat;
        unsigned timeout_ms, wait_ms;
        uint8_t *data;              /* send */
        size_t data_len;
        bool templated;             /* a send with ${name} / ${role.name} references */
        char *name;
        bool done;
        uint64_t matched_ms;
        char *matched;              /* the matched text (expect) or line (expect_re) */
};

struct fail_pat {
        struct pat pat;
        char *name;
        unsigned count, hits;       /* matches on the count-th occurrence (1 = the first) */
        unsigned evidence_ms;       /* keep collecting lines after it for up to this long */
};

struct expect {
        struct step *steps;
        size_t n_steps, cur;
        struct fail_pat fails[EXPECT_MAX_FAIL_ON + 16];
        size_t n_fails;
        pcre2_match_context *mctx;
        expect_line_fn line_cb;
        void *line_user;

        enum expect_outcome outcome;
        bool started, draining;
        bool sent;                  /* a send step's bytes went out: the next step starts at the next call */
        uint64_t t0, step_start, drain_until, ended_ms;
        /* bytes since the last match (for the next expect step) */
        uint8_t *win;
        size_t win_len, line_start;   /* line_start: where the current line begins in win */
        /* the current full line (fail_on, transcript, callback) */
        char line[EXPECT_LINE_MAX + 1];
        size_t line_len;
        char *ring[EXPECT_TRANSCRIPT_LINES];
        size_t ring_next, ring_n;
        /* the fail_on that ended it */
        const struct fail_pat *failed;
        char *fail_line;
        uint64_t fail_ms;
        char *evidence;
        size_t evidence_len, evidence_lines;
        json_t *captures;
        char timeout_reason[512];
        expect_var_fn var_fn;
        void *var_user;
        uint8_t *rendered;          /* a templated send's bytes, with the references filled in */
        size_t rendered_len;
};

/* ---- the defaults ---- */

static const struct {
        const char *name, *re;
        unsigned count;
        bool evidence;
} default_fails[] = {
        { "panic", "Guru Meditation Error", 1, true },
        { "abort", "abort\\(\\) was called at PC", 1, true },
        { "exception", "^(Fatal exception \\(\\d+\\)|Exception \\(\\d+\\):)", 1, true },
        { "stack_overflow", "\\*\\*\\*ERROR\\*\\*\\* A stack overflow in task", 1, true },
        { "watchdog", "Task watchdog got triggered|Interrupt wdt timeout|rst:0x[0-9a-f]+ \\([A-Z0-9_]*WDT[A-Z0-9_]*\\)"
                      "|^wdt reset|rst cause:4,", 1, true },
        { "brownout", "Brownout detector was triggered", 1, false },
        /* Zephyr's fatal error, a Cortex-M HardFault handler, Mbed OS's fault handler */
        { "fatal_error", ">>> ZEPHYR FATAL ERROR|^\\s*Hard ?Fault\\b|\\+\\+ MbedOS Fault Handler \\+\\+", 1, true },
        { "boot_failure", "invalid header: 0x|csum err|Checksum failure|^ets_main\\.c|No bootable app partitions"
                          "|load partition table error", 1, false },
        /* a second ROM banner: the board rebooted on its own (the evidence holds the reset line) */
        { "reboot", "^\\s*ets [A-Z][a-z]{2} [ 0-9]{2} [0-9]{4}|^ESP-ROM:", 2, true },
};

/* ---- patterns ---- */

static void pat_clear(struct pat *p)
{
        free(p->text);
        pcre2_match_data_free(p->md);
        pcre2_code_free(p->re);
        memset(p, 0, sizeof(*p));
}

/* Compile (regex) or copy (literal) into p; -EINVAL with msg prefixed by what. */
static int pat_init(struct pat *p, const char *what, const char *text, size_t len, bool regex, char *msg, size_t size)
{
        memset(p, 0, sizeof(*p));
        if (len == 0 || len > EXPECT_PATTERN_MAX) {
                snprintf(msg, size, "%s must be 1 to %d bytes", what, EXPECT_PATTERN_MAX);
                return -EINVAL;
        }
        if (regex) {
                int err;
                PCRE2_SIZE off;
                p->re = pcre2_compile((PCRE2_SPTR)text, len, 0, &err, &off, NULL);
                if (!p->re) {
                        char e[200];
                        pcre2_get_error_message(err, (PCRE2_UCHAR *)e, sizeof(e));
                        snprintf(msg, size, "%s is not a valid regular expression: %s at offset %zu", what, e,
                                 (size_t)off);
                        return -EINVAL;
                }
                if (!(p->md = pcre2_match_data_create_from_pattern(p->re, NULL))) {
                        pat_clear(p);
                        return -ENOMEM;
                }
        }
        if (!(p->text = strndup(text, len))) {
                pat_clear(p);
                return -ENOMEM;
        }
        p->len = len;
        p->regex = regex;
        return 0;
}

/* Does s[0..len) contain/match p? For a regex, md holds the groups after a match. */
static bool pat_match(const struct pat *p, pcre2_match_context *mctx, const char *s, size_t len)
{
        if (!p->regex)
                return p->len <= len && memmem(s, len, p->text, p->len) != NULL;
        return pcre2_match(p->re, (PCRE2_SPTR)s, len, 0, 0, p->md, mctx) >= 0;
}

/* ---- parameters ---- */

static int get_ms(const json_t *o, const char *key, unsigned lo, unsigned hi, unsigned dflt, const char *what,
                  unsigned *ret, char *msg, size_t size)
{
        json_t *v = json_object_get(o, key);
        *ret = dflt;
        if (!v)
                return 0;
        if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
                snprintf(msg, size, "%s%s'%s' must be a whole number of milliseconds from %u to %u", what,
                         *what ? ": " : "", key, lo, hi);
                return -EINVAL;
        }
        *ret = (unsigned)json_integer_value(v);
        return 0;
}

static int hex_decode(const char *s, uint8_t **ret, size_t *ret_len)
{
        size_t n = strlen(s);
        if (n % 2)
                return -EINVAL;
        uint8_t *b = malloc(n / 2 + 1);
        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < n / 2; i++) {
                unsigned v;
                char two[3] = { s[2 * i], s[2 * i + 1], 0 };
                char *end;
                v = (unsigned)strtoul(two, &end, 16);
                if (*end || two[0] == '+' || two[0] == '-' || two[0] == ' ') {
                        free(b);
                        return -EINVAL;
                }
                b[i] = (uint8_t)v;
        }
        *ret = b;
        *ret_len = n / 2;
        return 0;
}

/* ${NAME} references in a send: NAME is 1 to 64 of [A-Za-z0-9_] with at most one '.'
 * (role.capture). */
static int template_check(const char *t, const char *field, char *msg, size_t size)
{
        for (const char *p = strstr(t, "${"); p; p = strstr(p, "${")) {
                const char *q = p + 2;
                size_t n = 0, dots = 0;
                for (; *q && *q != '}'; q++, n++) {
                        dots += *q == '.';
                        if (!(isalnum((unsigned char)*q) || *q == '_' || *q == '.'))
                                break;
                }
                if (*q != '}' || n == 0 || n > 64 || dots > 1 || p[2] == '.' || q[-1] == '.') {
                        snprintf(msg, size, "%s: '${' must start a reference ${NAME} (a capture of this board) or "
                                 "${ROLE.NAME} (a capture of another board in the test), NAME of letters, digits "
                                 "and '_'", field);
                        return -EINVAL;
                }
                p = q + 1;
        }
        return 0;
}

static const char *const step_keys[] = { "expect", "expect_re", "send", "send_hex", "wait_ms", NULL };

/* The one step type key of step j ("expect", ...) in *ret; unknown and doubled keys are refused. */
static int step_type(const json_t *j, const char *what, const char **ret, char *msg, size_t size)
{
        const char *type = NULL, *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
                bool known = false;
                for (size_t t = 0; step_keys[t]; t++)
                        if (!strcmp(k, step_keys[t]))
                                known = true;
                if (known) {
                        if (type) {
                                snprintf(msg, size, "%s has two step types ('%s' and '%s'); give one per step", what,
                                         type, k);
                                return -EINVAL;
                        }
                        type = k;
                } else if (strcmp(k, "timeout_ms") && strcmp(k, "name")) {
                        snprintf(msg, size, "%s: unknown step type '%s'; a step is one of {\"expect\": TEXT}, "
                                 "{\"expect_re\": REGEX}, {\"send\": LINE}, {\"send_hex\": HEX}, {\"wait_ms\": N} "
                                 "(with \"timeout_ms\" and \"name\" for expects)", what, k);
                        return -EINVAL;
                }
        }
        if (!type) {
                snprintf(msg, size, "%s has no step type: give one of expect, expect_re, send, send_hex, wait_ms", what);
                return -EINVAL;
        }
        *ret = type;
        return 0;
}

/* A send, send_hex or wait step (a send may hold ${...} references, which may wait timeout_ms). */
static int send_or_wait_parse(const json_t *j, const char *type, const json_t *v, const char *what,
                              const char *field, unsigned dflt_timeout, struct step *s, char *msg, size_t size)
{
        int e = 0;
        bool tmpl = !strcmp(type, "send") && json_is_string(v) && strstr(json_string_value(v), "${");
        if (tmpl && (e = template_check(json_string_value(v), field, msg, size)) < 0)
                return e;
        if (json_object_get(j, "timeout_ms") && !tmpl) {
                snprintf(msg, size, "%s: 'timeout_ms' belongs to expect steps (and sends with ${...} "
                         "references) only", what);
                return -EINVAL;
        }
        if (tmpl && (e = get_ms(j, "timeout_ms", 1, EXPECT_TIMEOUT_MAX_MS, dflt_timeout, what, &s->timeout_ms,
                                msg, size)) < 0)
                return e;
        s->templated = tmpl;
        if (!strcmp(type, "wait_ms")) {
                s->type = STEP_WAIT;
                return get_ms(j, "wait_ms", 0, EXPECT_TIMEOUT_MAX_MS, 0, what, &s->wait_ms, msg, size);
        }
        if (!json_is_string(v) || json_string_length(v) + 1 > EXPECT_SEND_MAX) {
                snprintf(msg, size, "%s must be a string of at most %d bytes", field, EXPECT_SEND_MAX - 1);
                return -EINVAL;
        }
        s->type = STEP_SEND;
        if (!strcmp(type, "send")) {
                s->data_len = json_string_length(v) + 1;
                if (!(s->data = malloc(s->data_len)))
                        return -ENOMEM;
                memcpy(s->data, json_string_value(v), s->data_len - 1);
                s->data[s->data_len - 1] = '\n';
                return 0;
        }
        e = hex_decode(json_string_value(v), &s->data, &s->data_len);
        if (e == -EINVAL || (e == 0 && s->data_len == 0)) {
                snprintf(msg, size, "%s must be an even number of hex digits (at least 2)", field);
                e = -EINVAL;
        }
        return e;
}

/* One step from JSON into s (NULL: only check). */
static int step_parse(const json_t *j, size_t i, unsigned dflt_timeout, struct step *s, char *msg, size_t size)
{
        char what[48];
        snprintf(what, sizeof(what), "steps[%zu]", i);
        if (!json_is_object(j)) {
                snprintf(msg, size, "%s must be an object: {\"expect\": TEXT}, {\"expect_re\": REGEX}, {\"send\": LINE}, "
                         "{\"send_hex\": HEX} or {\"wait_ms\": N}", what);
                return -EINVAL;
        }
        const char *type = NULL;
        int e = step_type(j, what, &type, msg, size);
        if (e < 0)
                return e;
        json_t *name = json_object_get(j, "name");
        if (name && (!json_is_string(name) || !json_string_length(name) || json_string_length(name) > 64)) {
                snprintf(msg, size, "%s: 'name' must be a string of 1 to 64 characters", what);
                return -EINVAL;
        }
        struct step tmp;
        if (!s)
                s = &tmp;
        memset(s, 0, sizeof(*s));
        json_t *v = json_object_get(j, type);
        char field[64];
        snprintf(field, sizeof(field), "%s.%s", what, type);
        if (!strcmp(type, "expect") || !strcmp(type, "expect_re")) {
                s->type = type[6] ? STEP_EXPECT_RE : STEP_EXPECT;
                if (!json_is_string(v)) {
                        snprintf(msg, size, "%s must be a string", field);
                        return -EINVAL;
                }
                if ((e = get_ms(j, "timeout_ms", 1, EXPECT_TIMEOUT_MAX_MS, dflt_timeout, what, &s->timeout_ms, msg,
                                size)) < 0)
                        return e;
                e = pat_init(&s->pat, field, json_string_value(v), json_string_length(v), s->type == STEP_EXPECT_RE,
                             msg, size);
        } else {
                e = send_or_wait_parse(j, type, v, what, field, dflt_timeout, s, msg, size);
        }
        if (e == 0 && name && !(s->name = strdup(json_string_value(name))))
                e = -ENOMEM;
        if (e < 0 || s == &tmp) {
                pat_clear(&s->pat);
                free(s->data);
                free(s->name);
                s->data = NULL, s->name = NULL;
        }
        return e;
}

static int fail_parse(const json_t *j, size_t i, struct fail_pat *f, char *msg, size_t size)
{
        char what[48];
        snprintf(what, sizeof(what), "fail_on[%zu]", i);
        const json_t *text = NULL;
        bool regex = false;
        const char *name = NULL;
        if (json_is_string(j)) {
                text = j;
        } else if (json_is_object(j)) {
                json_t *lit = json_object_get(j, "literal"), *re = json_object_get(j, "regex");
                text = lit ? lit : re;
                regex = !lit;
                name = json_string_value(json_object_get(j, "name"));
                const char *k;
                json_t *v;
                json_object_foreach((json_t *)j, k, v)
                        if (strcmp(k, "literal") && strcmp(k, "regex") && strcmp(k, "name")) {
                                snprintf(msg, size, "%s: unknown key '%s' (give \"literal\" or \"regex\", and \"name\")",
                                         what, k);
                                return -EINVAL;
                        }
                if (lit && re) {
                        snprintf(msg, size, "%s: give either \"literal\" or \"regex\", not both", what);
                        return -EINVAL;
                }
        }
        if (!json_is_string(text)) {
                snprintf(msg, size, "%s must be a string (a literal) or {\"regex\": R} / {\"literal\": S}, "
                         "with an optional \"name\"", what);
                return -EINVAL;
        }
        struct fail_pat tmp;
        if (!f)
                f = &tmp;
        memset(f, 0, sizeof(*f));
        int e = pat_init(&f->pat, what, json_string_value(text), json_string_length(text), regex, msg, size);
        if (e < 0)
                return e;
        char dflt[32];
        snprintf(dflt, sizeof(dflt), "fail_on[%zu]", i);
        f->count = 1;
        if (!(f->name = strdup(name && *name ? name : dflt)))
                e = -ENOMEM;
        if (e < 0 || f == &tmp) {
                pat_clear(&f->pat);
                free(f->name);
        }
        return e;
}

/* Parse (x != NULL) or only check (x == NULL). */
static int parse(const json_t *params, struct expect *x, char *msg, size_t size)
{
        json_t *steps = json_object_get(params, "steps"), *fails = json_object_get(params, "fail_on");
        json_t *dfl = json_object_get(params, "default_fail_on");
        unsigned dflt_timeout;
        int e;
        if (!json_is_array(steps) || json_array_size(steps) == 0 || json_array_size(steps) > EXPECT_MAX_STEPS) {
                snprintf(msg, size, "'steps' must be a list of 1 to %d steps, e.g. [{\"expect\": \"Ready\"}, "
                         "{\"send\": \"go\"}, {\"expect_re\": \"(?<n>\\\\d+) Tests (?<failures>\\\\d+) Failures\"}]",
                         EXPECT_MAX_STEPS);
                return -EINVAL;
        }
        if (fails && (!json_is_array(fails) || json_array_size(fails) > EXPECT_MAX_FAIL_ON)) {
                snprintf(msg, size, "'fail_on' must be a list of at most %d patterns", EXPECT_MAX_FAIL_ON);
                return -EINVAL;
        }
        if (dfl && !json_is_boolean(dfl)) {
                snprintf(msg, size, "'default_fail_on' must be true or false");
                return -EINVAL;
        }
        if ((e = get_ms(params, "timeout_ms", 1, EXPECT_TIMEOUT_MAX_MS, DEFAULT_TIMEOUT_MS, "", &dflt_timeout, msg,
                        size)) < 0)
                return e;
        if (x && !(x->steps = calloc(json_array_size(steps), sizeof(*x->steps))))
                return -ENOMEM;
        size_t i;
        json_t *v;
        json_array_foreach(steps, i, v) {
                if ((e = step_parse(v, i, dflt_timeout, x ? &x->steps[i] : NULL, msg, size)) < 0)
                        return e;
                if (x)
                        x->n_steps = i + 1;
        }
        json_array_foreach(fails, i, v) {
                if ((e = fail_parse(v, i, x ? &x->fails[x->n_fails] : NULL, msg, size)) < 0)
                        return e;
                if (x)
                        x->n_fails++;
        }
        if (x && !json_is_false(dfl)) {
                for (i = 0; i < sizeof(default_fails) / sizeof(default_fails[0]); i++) {
                        struct fail_pat *f = &x->fails[x->n_fails];
                        e = pat_init(&f->pat, default_fails[i].name, default_fails[i].re, strlen(default_fails[i].re),
                                     true, msg, size);
                        if (e < 0)
                                return e;
                        x->n_fails++;
                        f->count = default_fails[i].count;
                        f->evidence_ms = default_fails[i].evidence ? EVIDENCE_MS_DEFAULT : 0;
                        if (!(f->name = strdup(default_fails[i].name)))
                                return -ENOMEM;
                }
        }
        return 0;
}

int expect_params_check(const json_t *params, char *msg, size_t size)
{
        if (!json_is_object(params)) {
                snprintf(msg, size, "Parameters must be an object with 'steps'");
                return -EINVAL;
        }
        return parse(params, NULL, msg, size);
}

struct expect *expect_free(struct expect *x)
{
        if (!x)
                return NULL;
        for (size_t i = 0; i < x->n_steps; i++) {
                pat_clear(&x->steps[i].pat);
                free(x->steps[i].data);
                free(x->steps[i].name);
                free(x->steps[i].matched);
        }
        free(x->steps);
        free(x->rendered);
        for (size_t i = 0; i < x->n_fails; i++) {
                pat_clear(&x->fails[i].pat);
                free(x->fails[i].name);
        }
        for (size_t i = 0; i < EXPECT_TRANSCRIPT_LINES; i++)
                free(x->ring[i]);
        pcre2_match_context_free(x->mctx);
        free(x->win);
        free(x->fail_line);
        free(x->evidence);
        json_decref(x->captures);
        free(x);
        return NULL;
}

int expect_new(const json_t *params, struct expect **ret, char *msg, size_t size)
{
        if (!json_is_object(params)) {
                snprintf(msg, size, "Parameters must be an object with 'steps'");
                return -EINVAL;
        }
        struct expect *x = calloc(1, sizeof(*x));
        if (!x || !(x->win = malloc(EXPECT_WINDOW_MAX)) || !(x->captures = json_object()) ||
            !(x->mctx = pcre2_match_context_create(NULL))) {
                expect_free(x);
                snprintf(msg, size, "Out of memory");
                return -ENOMEM;
        }
        pcre2_set_match_limit(x->mctx, MATCH_LIMIT);
        pcre2_set_depth_limit(x->mctx, MATCH_LIMIT / 10);
        int e = parse(params, x, msg, size);
        if (e < 0) {
                expect_free(x);
                return e;
        }
        *ret = x;
        return 0;
}

void expect_set_line_cb(struct expect *x, expect_line_fn fn, void *user)
{
        x->line_cb = fn;
        x->line_user = user;
}

/* ---- running ---- */

static json_t *jstrn(const char *s, size_t n)
{
        return utf8_json_string(s, n);
}

static void finish(struct expect *x, enum expect_outcome o, uint64_t now)
{
        x->outcome = o;
        x->draining = false;
        x->ended_ms = now - x->t0;
}

/* Groups of the last regex match of step i into captures. */
static void keep_captures(struct expect *x, size_t i, const char *s)
{
        const struct pat *p = &x->steps[i].pat;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
        uint32_t n = pcre2_get_ovector_count(p->md), named = 0, entry = 0;
        PCRE2_SPTR table = NULL;
        pcre2_pattern_info(p->re, PCRE2_INFO_NAMECOUNT, &named);
        pcre2_pattern_info(p->re, PCRE2_INFO_NAMEENTRYSIZE, &entry);
        pcre2_pattern_info(p->re, PCRE2_INFO_NAMETABLE, &table);
        for (uint32_t g = 1; g < n; g++) {
                if (ov[2 * g] == PCRE2_UNSET)
                        continue;
                char key[96];
                snprintf(key, sizeof(key), "step%zu.%u", i, g);
                for (uint32_t k = 0; k < named; k++) {
                        const unsigned char *row = table + k * entry;
                        if (((unsigned)row[0] << 8 | row[1]) == g)
                                snprintf(key, sizeof(key), "%s", (const char *)row + 2);
                }
                json_object_set_new(x->captures, key, jstrn(s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]));
        }
}

/* Drop the first n bytes of the window. */
static void win_consume(struct expect *x, size_t n)
{
        memmove(x->win, x->win + n, x->win_len - n);
        x->win_len -= n;
        x->line_start = x->line_start > n ? x->line_start - n : 0;
}

static void step_matched(struct expect *x, const char *text, size_t len, uint64_t now)
{
        struct step *s = &x->steps[x->cur];
        s->done = true;
        s->matched_ms = now - x->t0;
        free(s->matched);
        s->matched = strndup(text, len > 512 ? 512 : len);
        x->cur++;
        x->step_start = now;
}

/* Search the window for the current expect step (when it becomes current); on a match the
 * window keeps what follows it. Returns true on a match. */
static bool search_window(struct expect *x, uint64_t now)
{
        struct step *s = &x->steps[x->cur];
        if (s->type == STEP_EXPECT) {
                const uint8_t *m = memmem(x->win, x->win_len, s->pat.text, s->pat.len);
                if (!m)
                        return false;
                step_matched(x, s->pat.text, s->pat.len, now);
                win_consume(x, (size_t)(m - x->win) + s->pat.len);
                return true;
        }
        /* regex: each complete line in the window */
        size_t start = 0;
        for (size_t i = 0; i < x->win_len; i++) {
                if (x->win[i] != '\n')
                        continue;
                size_t len = i - start;
                const char *l = (const char *)x->win + start;
                if (len && l[len - 1] == '\r')
                        len--;
                if (pat_match(&s->pat, x->mctx, l, len)) {
                        keep_captures(x, x->cur, l);
                        step_matched(x, l, len, now);
                        win_consume(x, i + 1);
                        x->line_start = 0;
                        return true;
                }
                start = i + 1;
        }
        return false;
}

/* Steps that can complete at once (expects found in the window) complete; PASSED at the end. */
static void advance(struct expect *x, uint64_t now)
{
        while (x->outcome == EXPECT_RUNNING && !x->draining) {
                if (x->cur >= x->n_steps) {
                        finish(x, EXPECT_PASSED, now);
                        return;
                }
                enum step_type t = x->steps[x->cur].type;
                if ((t != STEP_EXPECT && t != STEP_EXPECT_RE) || !search_window(x, now))
                        return;
        }
}

static void ring_push(struct expect *x, const char *l, size_t len)
{
        free(x->ring[x->ring_next]);
        x->ring[x->ring_next] = strndup(l, len);
        x->ring_next = (x->ring_next + 1) % EXPECT_TRANSCRIPT_LINES;
        if (x->ring_n < EXPECT_TRANSCRIPT_LINES)
                x->ring_n++;
}

static bool evidence_ends(const char *l, size_t len)
{
        static const char *const ends[] = { "Backtrace:", "<<<stack<<<", "Rebooting...", "CPU halted.", "rst:0x" };
        for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
                if (len >= strlen(ends[i]) && !memcmp(l, ends[i], strlen(ends[i])))
                        return true;
        return false;
}

static void evidence_add(struct expect *x, const char *l, size_t len, uint64_t now)
{
        char *e = realloc(x->evidence, x->evidence_len + len + 2);
        if (e) {
                x->evidence = e;
                if (x->evidence_lines)
                        x->evidence[x->evidence_len++] = '\n';
                memcpy(x->evidence + x->evidence_len, l, len);
                x->evidence_len += len;
                x->evidence[x->evidence_len] = '\0';
        }
        if (++x->evidence_lines >= EXPECT_EVIDENCE_LINES || evidence_ends(l, len))
                finish(x, EXPECT_FAIL_ON, now);
}

/* A complete line (no CR LF): transcript, callback, fail_on, evidence. */
static void full_line(struct expect *x, uint64_t now)
{
        const char *l = x->line;
        size_t len = x->line_len;
        if (len && l[len - 1] == '\r')
                len--;
        x->line[len] = '\0';
        ring_push(x, l, len);
        if (x->line_cb)
                x->line_cb(x->line_user, l, len, now);
        if (x->draining) {
                evidence_add(x, l, len, now);
                return;
        }
        for (size_t i = 0; i < x->n_fails; i++) {
                struct fail_pat *f = &x->fails[i];
                if (!pat_match(&f->pat, x->mctx, l, len) || ++f->hits < f->count)
                        continue;
                x->failed = f;
                x->fail_line = strndup(l, len);
                x->fail_ms = now - x->t0;
                if (f->evidence_ms) {
                        x->draining = true;
                        x->drain_until = now + f->evidence_ms;
                } else {
                        finish(x, EXPECT_FAIL_ON, now);
                }
                return;
        }
}

static void feed_byte(struct expect *x, uint8_t b, uint64_t now)
{
        bool eol = b == '\n';
        if (!eol)
                x->line[x->line_len++] = (char)b;
        if (eol || x->line_len == EXPECT_LINE_MAX) {
                full_line(x, now);
                x->line_len = 0;
        }
        if (x->outcome != EXPECT_RUNNING || x->draining)
                return;
        if (x->win_len == EXPECT_WINDOW_MAX)
                win_consume(x, EXPECT_WINDOW_MAX / 2);
        x->win[x->win_len++] = b;
        if (x->cur >= x->n_steps)
                return;
        struct step *s = &x->steps[x->cur];
        if (s->type == STEP_EXPECT) {
                if (x->win_len >= s->pat.len && !memcmp(x->win + x->win_len - s->pat.len, s->pat.text, s->pat.len)) {
                        step_matched(x, s->pat.text, s->pat.len, now);
                        x->win_len = x->line_start = 0;
                        advance(x, now);
                }
        } else if (s->type == STEP_EXPECT_RE && (eol || x->win_len - x->line_start >= EXPECT_LINE_MAX)) {
                const char *l = (const char *)x->win + x->line_start;
                size_t len = x->win_len - x->line_start - (eol ? 1 : 0);
                if (len && l[len - 1] == '\r')
                        len--;
                if (pat_match(&s->pat, x->mctx, l, len)) {
                        keep_captures(x, x->cur, l);
                        step_matched(x, l, len, now);
                        x->win_len = x->line_start = 0;
                        advance(x, now);
                        return;
                }
        }
        if (eol || x->win_len - x->line_start >= EXPECT_LINE_MAX)
                x->line_start = x->win_len;
}

void expect_start(struct expect *x, uint64_t now_ms)
{
        if (!x || x->started)
                return;
        x->started = true;
        x->t0 = x->step_start = now_ms;
        advance(x, now_ms);
}

void expect_feed(struct expect *x, const void *data, size_t len, uint64_t now_ms)
{
        if (!x || !x->started)
                return;
        for (size_t i = 0; i < len && x->outcome == EXPECT_RUNNING; i++)
                feed_byte(x, ((const uint8_t *)data)[i], now_ms);
}

static void timed_out(struct expect *x, uint64_t now)
{
        const struct step *s = &x->steps[x->cur];
        snprintf(x->timeout_reason, sizeof(x->timeout_reason), "no match for %s '%.200s'%s%s%s within %u ms",
                 s->type == STEP_EXPECT ? "expect" : "expect_re", s->pat.text, s->name ? " (" : "",
                 s->name ? s->name : "", s->name ? ")" : "", s->timeout_ms);
        finish(x, EXPECT_TIMEOUT, now);
}

void expect_set_var_fn(struct expect *x, expect_var_fn fn, void *user)
{
        if (x) {
                x->var_fn = fn;
                x->var_user = user;
        }
}

/* Fill a templated send's references into x->rendered (a->data/len). true: ready to send; false:
 * a->act says what now (read on while another board's value is missing, or the run ended). */
static bool render_send(struct expect *x, struct step *s, uint64_t now_ms, struct expect_action *a)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        char missing[72] = "";
        bool own = false;
        const char *t = (const char *)s->data, *end = t + s->data_len;
        while (f && t < end && !missing[0]) {
                const char *p = memmem(t, (size_t)(end - t), "${", 2);
                if (!p) {
                        fwrite(t, 1, (size_t)(end - t), f);
                        break;
                }
                fwrite(t, 1, (size_t)(p - t), f);
                const char *q = memchr(p, '}', (size_t)(end - p));
                snprintf(missing, sizeof(missing), "%.*s", (int)(q - p - 2), p + 2);
                t = q + 1;
                if (!strchr(missing, '.')) {
                        const char *v = json_string_value(json_object_get(x->captures, missing));
                        if (v) {
                                fputs(v, f);
                                missing[0] = '\0';
                        } else {
                                own = true;
                        }
                } else {
                        char *v = x->var_fn ? x->var_fn(x->var_user, missing) : NULL;
                        if (v) {
                                fputs(v, f);
                                missing[0] = '\0';
                        }
                        free(v);
                }
        }
        if (f)
                fclose(f);
        if (!f || !buf) {
                free(buf);
                snprintf(x->timeout_reason, sizeof(x->timeout_reason), "out of memory filling in a send step");
                finish(x, EXPECT_TIMEOUT, now_ms);
                return false;
        }
        if (!missing[0]) {
                free(x->rendered);
                x->rendered = (uint8_t *)buf;
                x->rendered_len = len;
                a->data = x->rendered;
                a->len = len;
                return true;
        }
        free(buf);
        if (own || !x->var_fn) {
                snprintf(x->timeout_reason, sizeof(x->timeout_reason),
                         own ? "send: no capture named '%s' (captures come from earlier expect_re steps' named groups)"
                             : "send: ${%s} names another board's capture, but this run is not part of a multi-board test",
                         missing);
                finish(x, EXPECT_TIMEOUT, now_ms);
                return false;
        }
        if (now_ms - x->step_start >= s->timeout_ms) {
                snprintf(x->timeout_reason, sizeof(x->timeout_reason), "send: no value for ${%s} within %u ms",
                         missing, s->timeout_ms);
                finish(x, EXPECT_TIMEOUT, now_ms);
                return false;
        }
        a->act = EXPECT_ACT_READ;
        a->deadline_ms = x->step_start + s->timeout_ms;
        if (a->deadline_ms > now_ms + EXPECT_VAR_POLL_MS)
                a->deadline_ms = now_ms + EXPECT_VAR_POLL_MS;
        return false;
}

void expect_next(struct expect *x, uint64_t now_ms, struct expect_action *a)
{
        memset(a, 0, sizeof(*a));
        a->act = EXPECT_ACT_DONE;
        if (!x || !x->started)
                return;
        if (x->sent) {
                x->sent = false;
                x->step_start = now_ms;
                advance(x, now_ms);
        }
        for (;;) {
                if (x->draining) {
                        if (now_ms >= x->drain_until) {
                                finish(x, EXPECT_FAIL_ON, now_ms);
                                return;
                        }
                        a->act = EXPECT_ACT_READ;
                        a->deadline_ms = x->drain_until;
                        return;
                }
                if (x->outcome != EXPECT_RUNNING)
                        return;
                struct step *s = &x->steps[x->cur];
                switch (s->type) {
                case STEP_SEND:
                        if (s->templated) {
                                if (!render_send(x, s, now_ms, a))
                                        return;
                        } else {
                                a->data = s->data;
                                a->len = s->data_len;
                        }
                        s->done = true;
                        s->matched_ms = now_ms - x->t0;
                        x->cur++;
                        x->sent = true;
                        a->act = EXPECT_ACT_SEND;
                        /* the next step starts once the bytes are out: the caller calls again */
                        return;
                case STEP_WAIT:
                        if (now_ms - x->step_start >= s->wait_ms) {
                                s->done = true;
                                s->matched_ms = now_ms - x->t0;
                                x->cur++;
                                x->step_start = now_ms;
                                advance(x, now_ms);
                                continue;
                        }
                        a->act = EXPECT_ACT_READ;
                        a->deadline_ms = x->step_start + s->wait_ms;
                        return;
                default:
                        if (now_ms - x->step_start >= s->timeout_ms) {
                                timed_out(x, now_ms);
                                return;
                        }
                        a->act = EXPECT_ACT_READ;
                        a->deadline_ms = x->step_start + s->timeout_ms;
                        return;
                }
        }
}

void expect_abort(struct expect *x, uint64_t now_ms)
{
        if (!x || !x->started)
                return;
        if (x->draining) {
                finish(x, EXPECT_FAIL_ON, now_ms);
                return;
        }
        if (x->outcome != EXPECT_RUNNING)
                return;
        if (x->steps[x->cur].type == STEP_EXPECT || x->steps[x->cur].type == STEP_EXPECT_RE) {
                timed_out(x, now_ms);
                snprintf(x->timeout_reason + strlen(x->timeout_reason),
                         sizeof(x->timeout_reason) - strlen(x->timeout_reason), " (the job's time ran out first)");
        } else {
                snprintf(x->timeout_reason, sizeof(x->timeout_reason), "the job's time ran out during a %s step",
                         x->steps[x->cur].type == STEP_WAIT ? "wait" : "send");
                finish(x, EXPECT_TIMEOUT, now_ms);
        }
}


/* ---- results ---- */

enum expect_outcome expect_outcome(const struct expect *x)
{
        return x ? x->outcome : EXPECT_RUNNING;
}

const char *expect_outcome_name(enum expect_outcome o)
{
        switch (o) {
        case EXPECT_RUNNING: return "running";
        case EXPECT_PASSED: return "passed";
        case EXPECT_TIMEOUT: return "timeout";
        case EXPECT_FAIL_ON: return "fail_on";
        }
        return "?";
}

const char *expect_fail_name(const struct expect *x)
{
        return x && x->failed ? x->failed->name : NULL;
}

const char *expect_fail_line(const struct expect *x)
{
        return x && x->failed ? x->fail_line : NULL;
}

const char *expect_fail_evidence(const struct expect *x)
{
        return x && x->failed ? x->evidence : NULL;
}

static const char *type_name(enum step_type t)
{
        return t == STEP_EXPECT ? "expect" : t == STEP_EXPECT_RE ? "expect_re" : t == STEP_SEND ? "send" : "wait";
}

json_t *expect_result_json(const struct expect *x)
{
        if (!x)
                return NULL;
        size_t done = 0;
        json_t *steps = json_array();
        for (size_t i = 0; i < x->n_steps; i++) {
                const struct step *s = &x->steps[i];
                done += s->done;
                json_t *o = json_pack("{s:s, s:b}", "type", type_name(s->type), "done", s->done);
                if (s->name)
                        json_object_set_new(o, "name", json_string(s->name));
                if (s->done)
                        json_object_set_new(o, "at_ms", json_integer((json_int_t)s->matched_ms));
                if (s->matched)
                        json_object_set_new(o, "matched", jstrn(s->matched, strlen(s->matched)));
                json_array_append_new(steps, o);
        }
        json_t *r = json_pack("{s:s, s:I, s:I, s:O, s:o}", "outcome", expect_outcome_name(x->outcome), "steps_done",
                              (json_int_t)done, "steps_total", (json_int_t)x->n_steps, "captures", x->captures,
                              "steps", steps);
        if (x->outcome != EXPECT_RUNNING)
                json_object_set_new(r, "ended_ms", json_integer((json_int_t)x->ended_ms));
        if (x->outcome == EXPECT_TIMEOUT || x->outcome == EXPECT_FAIL_ON) {
                if (x->cur < x->n_steps) {
                        const struct step *s = &x->steps[x->cur];
                        json_t *fs = json_pack("{s:I, s:s}", "index", (json_int_t)x->cur, "type", type_name(s->type));
                        if (s->pat.text)
                                json_object_set_new(fs, "pattern", jstrn(s->pat.text, s->pat.len));
                        if (s->type == STEP_EXPECT || s->type == STEP_EXPECT_RE)
                                json_object_set_new(fs, "timeout_ms", json_integer(s->timeout_ms));
                        if (s->name)
                                json_object_set_new(fs, "name", json_string(s->name));
                        json_object_set_new(fs, "reason",
                                            x->outcome == EXPECT_TIMEOUT
                                                    ? json_string(x->timeout_reason)
                                                    : json_sprintf("fail_on '%s' matched before this step was done",
                                                                   x->failed->name));
                        json_object_set_new(r, "failed_step", fs);
                }
                json_t *t = json_array();
                for (size_t k = 0; k < x->ring_n; k++) {
                        size_t idx = (x->ring_next + EXPECT_TRANSCRIPT_LINES - x->ring_n + k) % EXPECT_TRANSCRIPT_LINES;
                        if (x->ring[idx])
                                json_array_append_new(t, jstrn(x->ring[idx], strlen(x->ring[idx])));
                }
                if (x->line_len)
                        json_array_append_new(t, jstrn(x->line, x->line_len));
                json_object_set_new(r, "transcript", t);
        }
        if (x->failed) {
                json_t *f = json_pack("{s:s, s:o, s:I}", "name", x->failed->name, "pattern",
                                      jstrn(x->failed->pat.text, x->failed->pat.len), "at_ms", (json_int_t)x->fail_ms);
                json_object_set_new(f, "line", x->fail_line ? jstrn(x->fail_line, strlen(x->fail_line)) : json_null());
                json_t *ev = json_array();
                for (const char *p = x->evidence; p && *p;) {
                        const char *nl = strchr(p, '\n');
                        size_t n = nl ? (size_t)(nl - p) : strlen(p);
                        json_array_append_new(ev, jstrn(p, n));
                        p += n + (nl ? 1 : 0);
                }
                json_object_set_new(f, "evidence", ev);
                json_object_set_new(r, "fail_on", f);
        }
        return r;
}

const json_t *expect_captures(const struct expect *x)
{
        return x ? x->captures : NULL;
}
