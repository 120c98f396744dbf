/* udev_testbed: a umockdev testbed driven line by line over stdin, so black-box tests can plug and
 * unplug mocked USB serial boards under a real corrald running in `umockdev-wrapper`.
 *
 * Start it (it re-executes itself under umockdev-wrapper: umockdev resolves the device of a uevent
 * with libudev in the sending process, which needs the preload), read the first stdout line:
 *     {"umockdev_dir":"/tmp/umockdev.XXXXXX"}
 * then start corrald as `UMOCKDEV_DIR=<that dir> umockdev-wrapper corrald ...`. The testbed sends
 * its uevents to every process of that dir whose libudev monitor is bound (umockdev's preload turns
 * the netlink socket into a unix socket $UMOCKDEV_DIR/event<N>), so corrald sees real hotplug.
 *
 * Commands, one per line; tokens separated by blanks, values contain no blanks:
 *     add NAME vid=10c4 pid=ea60 [serial=0001] [busport=1-2] tty=ttyUSB0 [product=X] [manufacturer=Y]
 *             [node=pty|none]
 *         USB device + interface (+ usb-serial node for ttyUSB*) + tty, its devnode /dev/<tty> (a
 *         pty this process owns), then an "add" uevent for the tty. No serial= means no serial
 *         attribute (CH340 style). node=none: udev still names /dev/<tty> but no file exists.
 *         Why node=none: umockdev's preload (0.17.16, still upstream) stat()s through a static
 *         buffer after dropping its lock, so a program that lstat()s a mocked /dev tty while
 *         another of its threads touches /sys can die on "is_emulated_device: Assertion `res > 0'";
 *         corrald's port workers do exactly that. Without a file the stat fails and skips that
 *         code. Mocked ptys cannot be opened by corrald anyway (TIOCEXCL gives ENOTTY).
 *         busport is BUS-PORTCHAIN ("1-2", "1-3.1"); default "1-<n>" with a fresh port n.
 *         Missing root hubs and intermediate hubs are created (and left in place).
 *     remove NAME         hang up the pty (master closed), "remove" uevent for the tty, then the
 *                         devices and the devnode are deleted.
 *     renumber NAME tty=ttyUSB1
 *                         remove, then add again with the same USB identity on a new tty.
 *     quit                (or EOF) delete the testbed and exit 0.
 * Each command is answered by exactly one JSON line:
 *     {"ok":true,"cmd":"add","name":"a","syspath":"/sys/devices/...","devnode":"/dev/ttyUSB0",
 *      "uevent_us":N}
 *     {"ok":false,"error":"..."}
 * uevent_us is CLOCK_MONOTONIC in microseconds right after the (last) uevent was sent (renumber:
 * the "add"): the same clock as Node's process.hrtime on Linux, so a test can split its latency. */
#include <errno.h>
#include <jansson.h>
#include <pty.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <umockdev.h>

#define HOST "/devices/pci0000:00/0000:00:14.0"
#define MAX_BOARDS 64
#define TEXT_SIZE 4096

struct tb_board {
        char name[64];
        char vid[8], pid[8];
        char serial[64];
        bool has_serial;
        char product[128], manufacturer[128];
        unsigned bus;
        char chain[32]; /* "2", "3.1" */
        char tty[32];   /* "ttyUSB0", "ttyACM1" */
        unsigned devnum;
        bool no_node;     /* node=none: no /dev/<tty> file at all */
        int ptym;         /* master of the pty behind /dev/<tty>; -1 when not plugged or no_node */
        char ptyname[64]; /* "/dev/pts/3" */
};

struct testbed {
        UMockdevTestbed *tb;
        struct tb_board boards[MAX_BOARDS];
        size_t nboards;
        unsigned next_port, next_devnum;
        long long uevent_us; /* when the last uevent was sent */
};

static long long mono_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* Print one JSON line and flush; steals obj. */
static void reply(json_t *obj)
{
        char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        printf("%s\n", s ? s : "{\"ok\":false,\"error\":\"out of memory\"}");
        fflush(stdout);
        free(s);
        json_decref(obj);
}

static void reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply_error(const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        reply(json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

/* Append printf output; returns -ENOSPC on overflow. */
static int cat(char *text, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int cat(char *text, size_t size, const char *fmt, ...)
{
        va_list ap;
        size_t len = strlen(text);
        va_start(ap, fmt);
        int n = vsnprintf(text + len, size - len, fmt, ap);
        va_end(ap);
        return n >= 0 && (size_t)n < size - len ? 0 : -ENOSPC;
}

static bool is_acm(const struct tb_board *b)
{
        return strncmp(b->tty, "ttyACM", 6) == 0;
}

/* /devices/.../usb1/1-3/1-3.1 for bus 1, chain "3.1"; `upto` limits the chain to its first
 * `upto` characters (the hub above), or use strlen(chain). */
static void usb_path(unsigned bus, const char *chain, size_t upto, char *buf, size_t size)
{
        size_t len = (size_t)snprintf(buf, size, HOST "/usb%u", bus);
        for (size_t i = 0; i <= upto && len < size; i++) {
                if (i == upto || chain[i] == '.')
                        len += (size_t)snprintf(buf + len, size - len, "/%u-%.*s", bus, (int)i, chain);
        }
}

static int tty_major(const struct tb_board *b)
{
        return is_acm(b) ? 166 : 188;
}

static void tty_path(const struct tb_board *b, char *buf, size_t size)
{
        char usb[256];
        usb_path(b->bus, b->chain, strlen(b->chain), usb, sizeof(usb));
        if (is_acm(b))
                snprintf(buf, size, "/sys%s/%u-%s:1.0/tty/%s", usb, b->bus, b->chain, b->tty);
        else
                snprintf(buf, size, "/sys%s/%u-%s:1.0/%s/tty/%s", usb, b->bus, b->chain, b->tty, b->tty);
}

static bool sys_exists(struct testbed *t, const char *devpath)
{
        char p[512];
        struct stat st;
        snprintf(p, sizeof(p), "%s%s", umockdev_testbed_get_sys_dir(t->tb), devpath);
        return stat(p, &st) == 0;
}

static int add_text(struct testbed *t, const char *text, char *err, size_t err_size)
{
        GError *e = NULL;
        if (umockdev_testbed_add_from_string(t->tb, text, &e))
                return 0;
        snprintf(err, err_size, "umockdev: %s", e ? e->message : "add_from_string failed");
        g_clear_error(&e);
        return -EINVAL;
}

/* Root hub and every hub above the board, parents first. */
static int ensure_hubs(struct testbed *t, const struct tb_board *b, char *err, size_t err_size)
{
        char path[256], text[512];
        snprintf(path, sizeof(path), HOST "/usb%u", b->bus);
        if (!sys_exists(t, path)) {
                snprintf(text, sizeof(text), "P: %s\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nA: idVendor=1d6b\n"
                         "A: idProduct=0002\nA: busnum=%u\nA: devnum=1\n", path, b->bus);
                if (add_text(t, text, err, err_size) < 0)
                        return -EINVAL;
        }
        for (size_t i = 0; b->chain[i]; i++) {
                if (b->chain[i] != '.')
                        continue;
                usb_path(b->bus, b->chain, i, path, sizeof(path));
                if (sys_exists(t, path))
                        continue;
                snprintf(text, sizeof(text), "P: %s\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nA: idVendor=05e3\n"
                         "A: idProduct=0610\nA: busnum=%u\nA: devnum=%u\n", path, b->bus, ++t->next_devnum);
                if (add_text(t, text, err, err_size) < 0)
                        return -EINVAL;
        }
        return 0;
}

/* Device records for the board, parents first (umockdev creates them in the order given). */
static int board_text(const struct tb_board *b, char *text, size_t size)
{
        char usb[256];
        bool acm = is_acm(b);
        usb_path(b->bus, b->chain, strlen(b->chain), usb, sizeof(usb));
        text[0] = '\0';
        int r = cat(text, size, "P: %s\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nA: idVendor=%s\nA: idProduct=%s\n"
                    "A: busnum=%u\nA: devnum=%u\n", usb, b->vid, b->pid, b->bus, b->devnum);
        if (r == 0 && b->has_serial)
                r = cat(text, size, "A: serial=%s\n", b->serial);
        if (r == 0 && b->manufacturer[0])
                r = cat(text, size, "A: manufacturer=%s\n", b->manufacturer);
        if (r == 0 && b->product[0])
                r = cat(text, size, "A: product=%s\n", b->product);
        if (r == 0)
                r = cat(text, size, "\nP: %s/%u-%s:1.0\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_interface\n"
                        "A: bInterfaceNumber=00\n", usb, b->bus, b->chain);
        if (r == 0 && !acm)
                r = cat(text, size, "\nP: %s/%u-%s:1.0/%s\nE: SUBSYSTEM=usb-serial\n", usb, b->bus, b->chain, b->tty);
        char tty[512];
        tty_path(b, tty, sizeof(tty));
        if (r == 0)
                r = cat(text, size, "\nP: %s\nE: DEVNAME=/dev/%s\nE: MAJOR=%d\nE: MINOR=%d\nE: SUBSYSTEM=tty\n"
                        "A: dev=%d:%d\n", tty + 4, b->tty, tty_major(b), atoi(b->tty + 6), tty_major(b),
                        atoi(b->tty + 6));
        /* libserialport finds the USB parent through "device", which umockdev does not create (B.4). */
        if (r == 0 && acm)
                r = cat(text, size, "L: device=../../../%u-%s:1.0\n", b->bus, b->chain);
        else if (r == 0)
                r = cat(text, size, "L: device=../../../%s\n", b->tty);
        return r;
}

static struct tb_board *board_find(struct testbed *t, const char *name)
{
        for (size_t i = 0; i < t->nboards; i++)
                if (strcmp(t->boards[i].name, name) == 0)
                        return &t->boards[i];
        return NULL;
}

static bool tty_taken(struct testbed *t, const char *tty, const struct tb_board *except)
{
        for (size_t i = 0; i < t->nboards; i++)
                if (&t->boards[i] != except && strcmp(t->boards[i].tty, tty) == 0)
                        return true;
        return false;
}

static bool port_taken(struct testbed *t, const struct tb_board *b)
{
        for (size_t i = 0; i < t->nboards; i++)
                if (&t->boards[i] != b && t->boards[i].bus == b->bus && strcmp(t->boards[i].chain, b->chain) == 0)
                        return true;
        return false;
}

static void root_path(struct testbed *t, char *buf, size_t size, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void root_path(struct testbed *t, char *buf, size_t size, const char *fmt, ...)
{
        va_list ap;
        int n = snprintf(buf, size, "%s/", umockdev_testbed_get_root_dir(t->tb));
        va_start(ap, fmt);
        if (n > 0 && (size_t)n < size)
                vsnprintf(buf + n, size - (size_t)n, fmt, ap);
        va_end(ap);
}

/* The devnode: a pty we own, so the name can be used again after an unplug (umockdev's own "N:"
 * nodes keep their pty master for the testbed's lifetime and assert on reuse) and the unplug can
 * hang the port up like a real one. The preload maps /dev/<tty> into the testbed, and the
 * .ptymap link makes fstat() of the opened pty report the mocked major:minor. */
static int node_create(struct testbed *t, struct tb_board *b, char *err, size_t err_size)
{
        char node[512], map[512], majmin[32], pts[64];
        int slave = -1;
        if (openpty(&b->ptym, &slave, pts, NULL, NULL) < 0) {
                snprintf(err, err_size, "openpty: %s", strerror(errno));
                return -errno;
        }
        close(slave);
        struct termios tio;
        if (tcgetattr(b->ptym, &tio) == 0) {
                cfmakeraw(&tio);
                (void)tcsetattr(b->ptym, TCSANOW, &tio);
        }
        snprintf(b->ptyname, sizeof(b->ptyname), "%s", pts);
        root_path(t, node, sizeof(node), "dev/%s", b->tty);
        (void)unlink(node);
        root_path(t, map, sizeof(map), "dev/.ptymap");
        (void)mkdir(map, 0755);
        root_path(t, map, sizeof(map), "dev/.ptymap/%s", pts);
        for (char *c = map + strlen(map) - strlen(pts); *c; c++)
                if (*c == '/')
                        *c = '_';
        (void)unlink(map);
        snprintf(majmin, sizeof(majmin), "%d:%d", tty_major(b), atoi(b->tty + 6));
        if (symlink(pts, node) < 0 || symlink(majmin, map) < 0) {
                snprintf(err, err_size, "devnode %s: %s", node, strerror(errno));
                close(b->ptym);
                b->ptym = -1;
                return -EIO;
        }
        return 0;
}

static void node_remove(struct testbed *t, struct tb_board *b)
{
        char p[512];
        if (b->ptym >= 0)
                close(b->ptym);
        b->ptym = -1;
        root_path(t, p, sizeof(p), "dev/%s", b->tty);
        (void)unlink(p);
        if (!b->ptyname[0])
                return;
        root_path(t, p, sizeof(p), "dev/.ptymap/%s", b->ptyname);
        for (char *c = p + strlen(p) - strlen(b->ptyname); *c; c++)
                if (*c == '/')
                        *c = '_';
        (void)unlink(p);
        b->ptyname[0] = '\0';
}

static void unlink_in_sys(struct testbed *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void unlink_in_sys(struct testbed *t, const char *fmt, ...)
{
        char rel[256], p[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rel, sizeof(rel), fmt, ap);
        va_end(ap);
        snprintf(p, sizeof(p), "%s/%s", umockdev_testbed_get_sys_dir(t->tb), rel);
        (void)unlink(p);
}

/* Delete the board's devices and devnode (hubs stay). */
static void devices_remove(struct testbed *t, struct tb_board *b)
{
        char usb[300], tty[512];
        snprintf(usb, sizeof(usb), "/sys");
        usb_path(b->bus, b->chain, strlen(b->chain), usb + 4, sizeof(usb) - 4);
        tty_path(b, tty, sizeof(tty));
        umockdev_testbed_remove_device(t->tb, tty);
        umockdev_testbed_remove_device(t->tb, usb);
        /* remove_device() leaves the bus/class links behind; a replug would trip on them. */
        unlink_in_sys(t, "bus/usb/devices/%u-%s", b->bus, b->chain);
        unlink_in_sys(t, "bus/usb/devices/%u-%s:1.0", b->bus, b->chain);
        unlink_in_sys(t, "bus/usb-serial/devices/%s", b->tty);
        unlink_in_sys(t, "class/tty/%s", b->tty);
        node_remove(t, b);
}

/* Hang up the port (like the kernel on unplug), announce the removal, delete the devices. */
static void board_unplug(struct testbed *t, struct tb_board *b)
{
        char tty[512];
        tty_path(b, tty, sizeof(tty));
        if (b->ptym >= 0)
                close(b->ptym);
        b->ptym = -1;
        umockdev_testbed_uevent(t->tb, tty, "remove");
        t->uevent_us = mono_us();
        devices_remove(t, b);
}

/* Create the devices and announce the tty. */
static int board_plug(struct testbed *t, struct tb_board *b, char *err, size_t err_size)
{
        char text[TEXT_SIZE], tty[512];
        b->ptym = -1;
        b->ptyname[0] = '\0';
        if (ensure_hubs(t, b, err, err_size) < 0)
                return -EINVAL;
        if (board_text(b, text, sizeof(text)) < 0) {
                snprintf(err, err_size, "device description too long");
                return -ENOSPC;
        }
        if (add_text(t, text, err, err_size) < 0)
                return -EINVAL;
        tty_path(b, tty, sizeof(tty));
        if (!b->no_node && node_create(t, b, err, err_size) < 0) {
                devices_remove(t, b);
                return -EIO;
        }
        umockdev_testbed_uevent(t->tb, tty, "add");
        t->uevent_us = mono_us();
        return 0;
}

static bool hex4(const char *s)
{
        if (strlen(s) != 4)
                return false;
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
                        return false;
        return true;
}

static bool tty_name_ok(const char *s)
{
        if (strncmp(s, "ttyUSB", 6) != 0 && strncmp(s, "ttyACM", 6) != 0)
                return false;
        if (!s[6] || strlen(s) > 12)
                return false;
        for (s += 6; *s; s++)
                if (*s < '0' || *s > '9')
                        return false;
        return true;
}

static bool busport_parse(const char *s, unsigned *bus, char *chain, size_t chain_size)
{
        char *end = NULL;
        unsigned long n = strtoul(s, &end, 10);
        if (end == s || *end != '-' || n == 0 || n > 99)
                return false;
        const char *c = end + 1;
        size_t len = strlen(c);
        if (len == 0 || len >= chain_size || c[0] == '.' || c[len - 1] == '.' || strstr(c, ".."))
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((c[i] >= '0' && c[i] <= '9') || c[i] == '.'))
                        return false;
        *bus = (unsigned)n;
        memcpy(chain, c, len + 1);
        return true;
}

static int copy_value(char *dst, size_t size, const char *v)
{
        if (strlen(v) >= size)
                return -ENAMETOOLONG;
        strcpy(dst, v);
        return 0;
}

/* key=value tokens into a board; unknown keys are an error. */
static int board_parse(struct tb_board *b, char **tok, size_t ntok, char *err, size_t err_size)
{
        for (size_t i = 0; i < ntok; i++) {
                char *eq = strchr(tok[i], '=');
                if (!eq) {
                        snprintf(err, err_size, "expected key=value, got '%s'", tok[i]);
                        return -EINVAL;
                }
                *eq = '\0';
                const char *k = tok[i], *v = eq + 1;
                int r = 0;
                if (!strcmp(k, "vid") && hex4(v))
                        r = copy_value(b->vid, sizeof(b->vid), v);
                else if (!strcmp(k, "pid") && hex4(v))
                        r = copy_value(b->pid, sizeof(b->pid), v);
                else if (!strcmp(k, "serial") && *v) {
                        r = copy_value(b->serial, sizeof(b->serial), v);
                        b->has_serial = true;
                } else if (!strcmp(k, "product"))
                        r = copy_value(b->product, sizeof(b->product), v);
                else if (!strcmp(k, "manufacturer"))
                        r = copy_value(b->manufacturer, sizeof(b->manufacturer), v);
                else if (!strcmp(k, "tty") && tty_name_ok(v))
                        r = copy_value(b->tty, sizeof(b->tty), v);
                else if (!strcmp(k, "busport") && busport_parse(v, &b->bus, b->chain, sizeof(b->chain)))
                        r = 0;
                else if (!strcmp(k, "node") && (!strcmp(v, "pty") || !strcmp(v, "none")))
                        b->no_node = !strcmp(v, "none");
                else
                        r = -EINVAL;
                if (r < 0) {
                        snprintf(err, err_size, "bad %s '%s'", k, v);
                        return r;
                }
        }
        return 0;
}

static void reply_board(const char *cmd, struct testbed *t, const struct tb_board *b)
{
        char tty[512], devnode[64];
        tty_path(b, tty, sizeof(tty));
        snprintf(devnode, sizeof(devnode), "/dev/%s", b->tty);
        reply(json_pack("{s:b, s:s, s:s, s:s, s:s, s:I}", "ok", 1, "cmd", cmd, "name", b->name, "syspath", tty,
                        "devnode", devnode, "uevent_us", (json_int_t)t->uevent_us));
}

static void cmd_add(struct testbed *t, const char *name, char **tok, size_t ntok)
{
        char err[512] = "";
        struct tb_board b;
        memset(&b, 0, sizeof(b));
        b.ptym = -1;
        if (board_find(t, name)) {
                reply_error("board '%s' is already plugged", name);
                return;
        }
        if (t->nboards >= MAX_BOARDS || copy_value(b.name, sizeof(b.name), name) < 0) {
                reply_error("too many boards or name too long");
                return;
        }
        if (board_parse(&b, tok, ntok, err, sizeof(err)) < 0) {
                reply_error("%s", err);
                return;
        }
        if (!b.vid[0] || !b.pid[0] || !b.tty[0]) {
                reply_error("add needs vid=, pid= and tty=");
                return;
        }
        if (!b.chain[0]) {
                b.bus = 1;
                snprintf(b.chain, sizeof(b.chain), "%u", 10 + t->next_port++);
        }
        if (tty_taken(t, b.tty, NULL) || port_taken(t, &b)) {
                reply_error("tty %s or port %u-%s is in use", b.tty, b.bus, b.chain);
                return;
        }
        b.devnum = ++t->next_devnum + 1;
        if (board_plug(t, &b, err, sizeof(err)) < 0) {
                reply_error("%s", err);
                return;
        }
        t->boards[t->nboards] = b;
        reply_board("add", t, &t->boards[t->nboards++]);
}

static void cmd_remove(struct testbed *t, const char *name)
{
        struct tb_board *b = board_find(t, name);
        if (!b) {
                reply_error("no board '%s'", name);
                return;
        }
        struct tb_board gone = *b;
        board_unplug(t, b);
        *b = t->boards[--t->nboards];
        reply_board("remove", t, &gone);
}

static void cmd_renumber(struct testbed *t, const char *name, char **tok, size_t ntok)
{
        char err[512] = "";
        struct tb_board *b = board_find(t, name);
        if (!b) {
                reply_error("no board '%s'", name);
                return;
        }
        struct tb_board nb = *b;
        if (ntok != 1 || strncmp(tok[0], "tty=", 4) != 0 || board_parse(&nb, tok, ntok, err, sizeof(err)) < 0) {
                reply_error("renumber needs exactly tty=NEW %s", err);
                return;
        }
        if (tty_taken(t, nb.tty, b)) {
                reply_error("tty %s is in use", nb.tty);
                return;
        }
        board_unplug(t, b);
        if (board_plug(t, &nb, err, sizeof(err)) < 0) {
                *b = t->boards[--t->nboards];
                reply_error("%s", err);
                return;
        }
        *b = nb;
        reply_board("renumber", t, b);
}

/* Returns false on "quit". */
static bool handle_line(struct testbed *t, char *line)
{
        char *tok[32], *save = NULL;
        size_t n = 0;
        for (char *s = strtok_r(line, " \t\r\n", &save); s && n < 32; s = strtok_r(NULL, " \t\r\n", &save))
                tok[n++] = s;
        if (n == 0)
                return true;
        if (!strcmp(tok[0], "quit")) {
                reply(json_pack("{s:b, s:s}", "ok", 1, "cmd", "quit"));
                return false;
        }
        if (n < 2) {
                reply_error("usage: add|remove|renumber NAME ...");
                return true;
        }
        if (!strcmp(tok[0], "add"))
                cmd_add(t, tok[1], tok + 2, n - 2);
        else if (!strcmp(tok[0], "remove") && n == 2)
                cmd_remove(t, tok[1]);
        else if (!strcmp(tok[0], "renumber"))
                cmd_renumber(t, tok[1], tok + 2, n - 2);
        else
                reply_error("unknown command '%s'", tok[0]);
        return true;
}

static int testbed_init(struct testbed *t)
{
        char dir[512];
        memset(t, 0, sizeof(*t));
        t->tb = umockdev_testbed_new();
        if (!t->tb)
                return -ENOMEM;
        /* udev_enumerate_scan_devices() fails with -ENOENT without these (B.4). */
        snprintf(dir, sizeof(dir), "%s/bus", umockdev_testbed_get_sys_dir(t->tb));
        (void)mkdir(dir, 0755);
        snprintf(dir, sizeof(dir), "%s/class", umockdev_testbed_get_sys_dir(t->tb));
        (void)mkdir(dir, 0755);
        char err[512];
        return add_text(t, "P: " HOST "\nE: SUBSYSTEM=pci\n", err, sizeof(err));
}

/* uevent_sender resolves the device with libudev in THIS process, so it needs the preload too;
 * ASan then must not insist on coming first (B.4). */
static void reexec_under_umockdev(char **argv)
{
        const char *pre = getenv("LD_PRELOAD");
        if (pre && strstr(pre, "libumockdev-preload"))
                return;
        if (getenv("UDEV_TESTBED_REEXEC")) {
                fprintf(stderr, "udev_testbed: umockdev preload missing even under umockdev-wrapper\n");
                exit(1);
        }
        const char *asan = getenv("ASAN_OPTIONS");
        char opts[1024];
        snprintf(opts, sizeof(opts), "%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        setenv("UDEV_TESTBED_REEXEC", "1", 1);
        char *args[] = { "umockdev-wrapper", argv[0], NULL };
        execvp(args[0], args);
        perror("udev_testbed: exec umockdev-wrapper");
        exit(1);
}

int main(int argc, char **argv)
{
        static struct testbed t;
        (void)argc;
        reexec_under_umockdev(argv);
        if (testbed_init(&t) < 0) {
                fprintf(stderr, "udev_testbed: cannot create the umockdev testbed\n");
                return 1;
        }
        reply(json_pack("{s:s}", "umockdev_dir", umockdev_testbed_get_root_dir(t.tb)));
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, stdin) >= 0)
                if (!handle_line(&t, line))
                        break;
        free(line);
        g_object_unref(t.tb); /* removes the testbed directory */
        return 0;
}

/* GLib/umockdev keep a few allocations for the life of the process; they are not ours. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
        return "leak:libglib-2.0.so\nleak:libgobject-2.0.so\nleak:libumockdev\n";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
        return "print_suppressions=0";
}
