/* Discovery under umockdev: start-up enumeration, hotplug add/remove, renumbering, identities of
 * boards with and without USB serial numbers, unknown ids, allow/deny lists.
 * Must run under umockdev-wrapper; when started directly it re-executes itself that way. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <umockdev.h>

#include "ports/port_serial.h"
#include "udev/udev_watch.h"
#include "util.h"

#define MAX_EVENTS 64
#define WAIT_MS 5000
#define HOST "/devices/pci0000:00/0000:00:14.0"

struct bed {
        UMockdevTestbed *tb;
        struct udev_watch *w;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        struct udev_port_info ev[MAX_EVENTS];
        size_t n_ev;
};

struct board {
        const char *tty;     /* "ttyUSB0" or "ttyACM0" */
        const char *usbport; /* "2", "3.1": hub port chain on bus 1 */
        const char *vid, *pid;
        const char *serial;  /* NULL: no serial attribute */
        const char *manufacturer, *product;
        bool udev_props;     /* add the ID_* properties udevd would have set */
        const char *id_path; /* ID_PATH property (only with udev_props) */
};

static void on_port(const struct udev_port_info *info, void *user)
{
        struct bed *b = user;
        pthread_mutex_lock(&b->mu);
        if (b->n_ev < MAX_EVENTS)
                b->ev[b->n_ev++] = *info;
        pthread_cond_broadcast(&b->cv);
        pthread_mutex_unlock(&b->mu);
}

/* Index of the first event with this action (and devnode, if given) at or after `from`,
 * waiting up to WAIT_MS; -1 when it never came. */
static int wait_event(struct bed *b, size_t from, const char *action, const char *devnode)
{
        uint64_t deadline = util_mono_ms() + WAIT_MS;
        int found = -1;
        pthread_mutex_lock(&b->mu);
        for (;;) {
                for (size_t i = from; i < b->n_ev && found < 0; i++)
                        if (strcmp(b->ev[i].action, action) == 0 &&
                            (!devnode || strcmp(b->ev[i].devnode, devnode) == 0))
                                found = (int)i;
                if (found >= 0 || util_mono_ms() >= deadline)
                        break;
                struct timespec ts = util_deadline_ts(20);
                pthread_cond_timedwait(&b->cv, &b->mu, &ts);
        }
        pthread_mutex_unlock(&b->mu);
        return found;
}

static size_t n_events(struct bed *b)
{
        pthread_mutex_lock(&b->mu);
        size_t n = b->n_ev;
        pthread_mutex_unlock(&b->mu);
        return n;
}

static size_t count_events(struct bed *b, const char *action)
{
        size_t n = 0;
        pthread_mutex_lock(&b->mu);
        for (size_t i = 0; i < b->n_ev; i++)
                n += strcmp(b->ev[i].action, action) == 0;
        pthread_mutex_unlock(&b->mu);
        return n;
}

static void usb_dev_path(const struct board *bd, char *buf, size_t size)
{
        /* 1-2 or, behind a hub, 1-3/1-3.1 */
        char parent[32] = "";
        const char *dot = strrchr(bd->usbport, '.');
        if (dot)
                snprintf(parent, sizeof(parent), "/1-%.*s", (int)(dot - bd->usbport), bd->usbport);
        snprintf(buf, size, HOST "/usb1%s/1-%s", parent, bd->usbport);
}

static void tty_sys_path(const struct board *bd, char *buf, size_t size)
{
        char usb[160];
        usb_dev_path(bd, usb, sizeof(usb));
        if (strncmp(bd->tty, "ttyACM", 6) == 0)
                snprintf(buf, size, "/sys%s/1-%s:1.0/tty/%s", usb, bd->usbport, bd->tty);
        else
                snprintf(buf, size, "/sys%s/1-%s:1.0/%s/tty/%s", usb, bd->usbport, bd->tty, bd->tty);
}

/* Append printf output to text; aborts the test on overflow. */
static void cat(char *text, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cat(char *text, size_t size, const char *fmt, ...)
{
        va_list ap;
        size_t len = strlen(text);
        va_start(ap, fmt);
        int n = vsnprintf(text + len, size - len, fmt, ap);
        va_end(ap);
        assert_true(n >= 0 && (size_t)n < size - len);
}

/* Add the board's USB device, interface and tty to the testbed (parents first: umockdev creates
 * them in the order given) and announce the tty with an "add" uevent. */
static void plug(struct bed *b, const struct board *bd)
{
        char usb[160], tty[256], text[4096] = "";
        bool acm = strncmp(bd->tty, "ttyACM", 6) == 0;
        int minor = atoi(bd->tty + 6);
        usb_dev_path(bd, usb, sizeof(usb));
        tty_sys_path(bd, tty, sizeof(tty));

        cat(text, sizeof(text), "P: %s\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nA: idVendor=%s\nA: idProduct=%s\n"
            "A: busnum=1\nA: devnum=%d\n", usb, bd->vid, bd->pid, 2 + minor);
        if (bd->serial)
                cat(text, sizeof(text), "A: serial=%s\n", bd->serial);
        if (bd->manufacturer)
                cat(text, sizeof(text), "A: manufacturer=%s\n", bd->manufacturer);
        if (bd->product)
                cat(text, sizeof(text), "A: product=%s\n", bd->product);
        cat(text, sizeof(text), "\nP: %s/1-%s:1.0\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_interface\nA: bInterfaceNumber=00\n",
            usb, bd->usbport);
        if (!acm)
                cat(text, sizeof(text), "\nP: %s/1-%s:1.0/%s\nE: SUBSYSTEM=usb-serial\n", usb, bd->usbport, bd->tty);
        /* libserialport finds the USB parent through the "device" link, which umockdev does not
         * create by itself (B.4): ../../../<tty> (usb-serial) or ../../../1-P:1.0 (cdc_acm). */
        cat(text, sizeof(text), "\nP: %s\nN: %s\nE: DEVNAME=/dev/%s\nE: MAJOR=%d\nE: MINOR=%d\nE: SUBSYSTEM=tty\n",
            tty + 4, bd->tty, bd->tty, acm ? 166 : 188, minor);
        if (acm)
                cat(text, sizeof(text), "L: device=../../../1-%s:1.0\n", bd->usbport);
        else
                cat(text, sizeof(text), "L: device=../../../%s\n", bd->tty);
        if (bd->udev_props) {
                cat(text, sizeof(text), "E: ID_BUS=usb\nE: ID_VENDOR_ID=%s\nE: ID_MODEL_ID=%s\nE: ID_USB_INTERFACE_NUM=00\n",
                    bd->vid, bd->pid);
                if (bd->serial)
                        cat(text, sizeof(text), "E: ID_SERIAL_SHORT=%s\nE: DEVLINKS=/dev/serial/by-id/usb-%s_%s-if00 "
                            "/dev/serial/by-path/%s\n", bd->serial, bd->vid, bd->serial, bd->id_path ? bd->id_path : "x");
                if (bd->id_path)
                        cat(text, sizeof(text), "E: ID_PATH=%s\n", bd->id_path);
        }
        GError *err = NULL;
        if (!umockdev_testbed_add_from_string(b->tb, text, &err))
                fail_msg("umockdev: %s\n%s", err ? err->message : "?", text);
        umockdev_testbed_uevent(b->tb, tty, "add");
}

static void unplug(struct bed *b, const struct board *bd)
{
        char usb[200], tty[256];
        usb_dev_path(bd, usb + 4, sizeof(usb) - 4);
        memcpy(usb, "/sys", 4);
        tty_sys_path(bd, tty, sizeof(tty));
        umockdev_testbed_uevent(b->tb, tty, "remove");
        umockdev_testbed_remove_device(b->tb, tty);
        umockdev_testbed_remove_device(b->tb, usb);
        /* remove_device() leaves the bus/class symlinks behind; replugging would trip on them */
        const char *sys = umockdev_testbed_get_sys_dir(b->tb);
        char link[512];
        snprintf(link, sizeof(link), "%s/bus/usb/devices/1-%s", sys, bd->usbport);
        unlink(link);
        snprintf(link, sizeof(link), "%s/bus/usb/devices/1-%s:1.0", sys, bd->usbport);
        unlink(link);
        snprintf(link, sizeof(link), "%s/bus/usb-serial/devices/%s", sys, bd->tty);
        unlink(link);
        snprintf(link, sizeof(link), "%s/class/tty/%s", sys, bd->tty);
        unlink(link);
}

static void watch(struct bed *b, const struct udev_watch_options *opts)
{
        char msg[200];
        assert_int_equal(udev_watch_start(opts, on_port, b, &b->w, msg, sizeof(msg)), 0);
}

static void watch_ready(struct bed *b, const struct udev_watch_options *opts)
{
        watch(b, opts);
        assert_true(wait_event(b, 0, "ready", NULL) >= 0);
}

static int bed_setup(void **state)
{
        struct bed *b = calloc(1, sizeof(*b));
        char dir[512];
        assert_non_null(b);
        pthread_mutex_init(&b->mu, NULL);
        util_cond_init_mono(&b->cv);
        b->tb = umockdev_testbed_new();
        assert_non_null(b->tb);
        /* udev_enumerate_scan_devices() fails with -ENOENT without these (B.4) */
        snprintf(dir, sizeof(dir), "%s/bus", umockdev_testbed_get_sys_dir(b->tb));
        mkdir(dir, 0755);
        snprintf(dir, sizeof(dir), "%s/class", umockdev_testbed_get_sys_dir(b->tb));
        mkdir(dir, 0755);
        GError *err = NULL;
        if (!umockdev_testbed_add_from_string(b->tb,
                                              "P: " HOST "/usb1\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\n"
                                              "A: idVendor=1d6b\nA: idProduct=0002\n\n"
                                              "P: " HOST "\nE: SUBSYSTEM=pci\n",
                                              &err))
                fail_msg("umockdev: %s", err ? err->message : "?");
        *state = b;
        return 0;
}

static int bed_teardown(void **state)
{
        struct bed *b = *state;
        b->w = udev_watch_stop(b->w);
        g_object_unref(b->tb);
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->cv);
        free(b);
        return 0;
}

static const struct board ftdi = { "ttyUSB0", "2", "0403", "6001", "A12345", "FTDI", "FT232R USB UART", false, NULL };
static const struct board ch340_a = { "ttyUSB0", "2", "1a86", "7523", NULL, NULL, "USB Serial", false, NULL };
static const struct board ch340_b = { "ttyUSB1", "3", "1a86", "7523", NULL, NULL, "USB Serial", false, NULL };

static void test_ready_is_posted_after_scan_even_when_nothing_is_plugged(void **state)
{
        struct bed *b = *state;
        watch_ready(b, NULL);
        assert_int_equal(n_events(b), 1);
}

static void test_boards_present_at_start_are_enumerated_before_ready(void **state)
{
        struct bed *b = *state;
        plug(b, &ftdi);
        plug(b, &ch340_b);
        watch(b, NULL);
        int ready = wait_event(b, 0, "ready", NULL);
        assert_true(ready >= 0);
        int a0 = wait_event(b, 0, "add", "/dev/ttyUSB0"), a1 = wait_event(b, 0, "add", "/dev/ttyUSB1");
        assert_true(a0 >= 0 && a0 < ready);
        assert_true(a1 >= 0 && a1 < ready);
}

static void test_wait_ready_returns_after_start_up_adds_were_delivered(void **state)
{
        struct bed *b = *state;
        plug(b, &ftdi);
        plug(b, &ch340_b);
        watch(b, NULL);
        assert_int_equal(udev_watch_wait_ready(b->w, WAIT_MS), 0);
        /* no waiting here: the callbacks have already run */
        assert_int_equal(count_events(b, "add"), 2);
        assert_int_equal(count_events(b, "ready"), 1);
}

static void test_sysfs_attributes_describe_board_when_udevd_did_not_run(void **state)
{
        struct bed *b = *state;
        plug(b, &ftdi);
        watch_ready(b, NULL);
        const struct udev_port_info *i = &b->ev[wait_event(b, 0, "add", "/dev/ttyUSB0")];
        assert_string_equal(i->vid, "0403");
        assert_string_equal(i->pid, "6001");
        assert_string_equal(i->serial, "A12345");
        assert_string_equal(i->manufacturer, "FTDI");
        assert_string_equal(i->product, "FT232R USB UART");
        assert_string_equal(i->interface_num, "00");
        assert_string_equal(i->bridge, "FT232R");
        assert_string_equal(i->family, "generic");
        assert_true(i->usb);
        assert_string_equal(i->id_path, "pci-0000:00:14.0-usb-0:2:1.0");
        assert_string_equal(i->identity, "usb-0403:6001-A12345");
        assert_non_null(strstr(i->syspath, "/ttyUSB0/tty/ttyUSB0"));
        assert_string_equal(i->by_id, "");
}

static void test_udev_properties_are_used_when_present(void **state)
{
        struct bed *b = *state;
        const struct board bd = { "ttyACM0", "4", "303a", "1001", "F4:12:FA:00:11:22", "Espressif",
                                  "USB JTAG/serial debug unit", true, "pci-0000:00:14.0-usb-0:4:1.0" };
        plug(b, &bd);
        watch_ready(b, NULL);
        const struct udev_port_info *i = &b->ev[wait_event(b, 0, "add", "/dev/ttyACM0")];
        assert_string_equal(i->id_path, "pci-0000:00:14.0-usb-0:4:1.0");
        assert_string_equal(i->by_id, "/dev/serial/by-id/usb-303a_F4:12:FA:00:11:22-if00");
        assert_string_equal(i->by_path, "/dev/serial/by-path/pci-0000:00:14.0-usb-0:4:1.0");
        assert_string_equal(i->bridge, "ESP USB-Serial/JTAG");
        assert_string_equal(i->reset, "usb_jtag");
        assert_string_equal(i->identity, "usb-303a:1001-F4:12:FA:00:11:22");
}

static void test_hotplug_add_reaches_callback(void **state)
{
        struct bed *b = *state;
        watch_ready(b, NULL);
        size_t from = n_events(b);
        plug(b, &ftdi);
        int a = wait_event(b, from, "add", "/dev/ttyUSB0");
        assert_true(a >= 0);
        assert_string_equal(b->ev[a].identity, "usb-0403:6001-A12345");
}

static void test_remove_carries_the_identity_of_its_add(void **state)
{
        struct bed *b = *state;
        plug(b, &ch340_a);
        watch_ready(b, NULL);
        int a = wait_event(b, 0, "add", "/dev/ttyUSB0");
        assert_true(a >= 0);
        size_t from = n_events(b);
        unplug(b, &ch340_a);
        int r = wait_event(b, from, "remove", "/dev/ttyUSB0");
        assert_true(r >= 0);
        assert_string_equal(b->ev[r].identity, b->ev[a].identity);
        assert_string_equal(b->ev[r].vid, "1a86");
        assert_string_equal(b->ev[r].bridge, "CH340");
}

static void test_renumbered_board_keeps_its_identity(void **state)
{
        struct bed *b = *state;
        const struct board pico0 = { "ttyACM0", "2", "2e8a", "0005", "E66138935F4B2C21", "MicroPython",
                                     "Board in FS mode", false, NULL };
        struct board pico1 = pico0;
        pico1.tty = "ttyACM1";
        plug(b, &pico0);
        watch_ready(b, NULL);
        int a0 = wait_event(b, 0, "add", "/dev/ttyACM0");
        assert_true(a0 >= 0);
        unplug(b, &pico0);
        assert_true(wait_event(b, (size_t)a0, "remove", "/dev/ttyACM0") >= 0);
        size_t from = n_events(b);
        plug(b, &pico1);
        int a1 = wait_event(b, from, "add", "/dev/ttyACM1");
        assert_true(a1 >= 0);
        assert_string_equal(b->ev[a1].identity, b->ev[a0].identity);
        assert_string_equal(b->ev[a1].identity, "usb-2e8a:0005-E66138935F4B2C21");
        assert_string_equal(b->ev[a1].family, "rp2");
}

static void test_identical_boards_with_serials_stay_distinct(void **state)
{
        struct bed *b = *state;
        const struct board x = { "ttyUSB0", "2", "1a86", "55d4", "5678ABCD01", NULL, NULL, false, NULL };
        const struct board y = { "ttyUSB1", "3", "1a86", "55d4", "5678ABCD02", NULL, NULL, false, NULL };
        plug(b, &x);
        plug(b, &y);
        watch_ready(b, NULL);
        int a = wait_event(b, 0, "add", "/dev/ttyUSB0"), c = wait_event(b, 0, "add", "/dev/ttyUSB1");
        assert_true(a >= 0 && c >= 0);
        assert_string_equal(b->ev[a].identity, "usb-1a86:55d4-5678ABCD01");
        assert_string_equal(b->ev[c].identity, "usb-1a86:55d4-5678ABCD02");
}

static void test_identical_ch340_without_serials_are_told_apart_by_usb_port(void **state)
{
        struct bed *b = *state;
        plug(b, &ch340_a);
        plug(b, &ch340_b);
        watch_ready(b, NULL);
        int a = wait_event(b, 0, "add", "/dev/ttyUSB0"), c = wait_event(b, 0, "add", "/dev/ttyUSB1");
        assert_true(a >= 0 && c >= 0);
        assert_string_equal(b->ev[a].identity, "path-pci-0000:00:14.0-usb-0:2:1.0");
        assert_string_equal(b->ev[c].identity, "path-pci-0000:00:14.0-usb-0:3:1.0");
}

static void test_board_behind_a_hub_is_keyed_by_full_port_chain(void **state)
{
        struct bed *b = *state;
        const struct board hub = { "ttyUSB0", "3.1", "1a86", "7523", NULL, NULL, NULL, false, NULL };
        GError *err = NULL;
        assert_true(umockdev_testbed_add_from_string(
                b->tb, "P: " HOST "/usb1/1-3\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\nA: idVendor=05e3\n", &err));
        plug(b, &hub);
        watch_ready(b, NULL);
        int a = wait_event(b, 0, "add", "/dev/ttyUSB0");
        assert_true(a >= 0);
        assert_string_equal(b->ev[a].identity, "path-pci-0000:00:14.0-usb-0:3.1:1.0");
}

static void test_cp210x_placeholder_serial_is_keyed_by_port(void **state)
{
        struct bed *b = *state;
        const struct board cp = { "ttyUSB0", "2", "10c4", "ea60", "0001", "Silicon Labs", "CP2102 USB to UART Bridge Controller", false, NULL };
        plug(b, &cp);
        watch_ready(b, NULL);
        int a = wait_event(b, 0, "add", "/dev/ttyUSB0");
        assert_true(a >= 0);
        assert_string_equal(b->ev[a].serial, "0001");
        assert_string_equal(b->ev[a].identity, "path-pci-0000:00:14.0-usb-0:2:1.0");
        assert_string_equal(b->ev[a].family, "esp");
}

static void test_serial_shared_by_two_present_boards_falls_back_to_port(void **state)
{
        struct bed *b = *state;
        const struct board x = { "ttyUSB0", "2", "0403", "6015", "DN0SAME", NULL, NULL, false, NULL };
        const struct board y = { "ttyUSB1", "3", "0403", "6015", "DN0SAME", NULL, NULL, false, NULL };
        plug(b, &x);
        watch_ready(b, NULL);
        size_t from = n_events(b);
        plug(b, &y);
        int a = wait_event(b, 0, "add", "/dev/ttyUSB0"), c = wait_event(b, from, "add", "/dev/ttyUSB1");
        assert_true(a >= 0 && c >= 0);
        assert_string_equal(b->ev[a].identity, "usb-0403:6015-DN0SAME");
        assert_string_equal(b->ev[c].identity, "path-pci-0000:00:14.0-usb-0:3:1.0");
        assert_true(b->ev[c].serial_not_unique);
}

static void test_unknown_vid_pid_is_listed_as_unknown_serial_device(void **state)
{
        struct bed *b = *state;
        const struct board odd = { "ttyACM0", "2", "1234", "abcd", "XYZ", "Acme", "Widget", false, NULL };
        plug(b, &odd);
        watch_ready(b, NULL);
        int a = wait_event(b, 0, "add", "/dev/ttyACM0");
        assert_true(a >= 0);
        assert_string_equal(b->ev[a].bridge, "unknown serial device");
        assert_string_equal(b->ev[a].family, "unknown");
        assert_string_equal(b->ev[a].identity, "usb-1234:abcd-XYZ");
}

static void test_deny_list_hides_matching_boards(void **state)
{
        struct bed *b = *state;
        const char *const deny[] = { "1a86:*", NULL };
        const struct udev_watch_options opts = { .deny = deny };
        plug(b, &ch340_b);
        plug(b, &ftdi);
        watch_ready(b, &opts);
        assert_true(wait_event(b, 0, "add", "/dev/ttyUSB0") >= 0);
        assert_int_equal(count_events(b, "add"), 1);
        /* and its removal is not reported either */
        size_t from = n_events(b);
        unplug(b, &ch340_b);
        unplug(b, &ftdi);
        assert_true(wait_event(b, from, "remove", "/dev/ttyUSB0") >= 0);
        assert_int_equal(count_events(b, "remove"), 1);
}

static void test_allow_list_reports_only_matching_boards(void **state)
{
        struct bed *b = *state;
        const char *const allow[] = { "0403:6001", NULL };
        const struct udev_watch_options opts = { .allow = allow };
        plug(b, &ch340_b);
        watch_ready(b, &opts);
        size_t from = n_events(b);
        plug(b, &ftdi);
        assert_true(wait_event(b, from, "add", "/dev/ttyUSB0") >= 0);
        assert_int_equal(count_events(b, "add"), 1);
}

static void test_malformed_pattern_fails_start_with_a_message(void **state)
{
        struct bed *b = *state;
        const char *const deny[] = { "1a86-7523", NULL };
        const struct udev_watch_options opts = { .deny = deny };
        char msg[200] = "";
        struct udev_watch *w = NULL;
        assert_int_equal(udev_watch_start(&opts, on_port, b, &w, msg, sizeof(msg)), -EINVAL);
        assert_null(w);
        assert_non_null(strstr(msg, "1a86-7523"));
}

static void add_platform_uart(struct bed *b)
{
        GError *err = NULL;
        assert_true(umockdev_testbed_add_from_string(
                b->tb,
                "P: /devices/platform/serial8250/tty/ttyS0\nN: ttyS0\nE: DEVNAME=/dev/ttyS0\nE: MAJOR=4\n"
                "E: MINOR=64\nE: SUBSYSTEM=tty\n\nP: /devices/platform/serial8250\nE: SUBSYSTEM=platform\n"
                "\nP: /devices/virtual/tty/ptmx\nN: ptmx\nE: DEVNAME=/dev/ptmx\nE: MAJOR=5\nE: MINOR=2\n"
                "E: SUBSYSTEM=tty\n",
                &err));
}

static void test_non_usb_ttys_are_ignored_by_default(void **state)
{
        struct bed *b = *state;
        add_platform_uart(b);
        watch_ready(b, NULL);
        assert_int_equal(count_events(b, "add"), 0);
}

static void test_non_usb_ttys_are_reported_when_asked(void **state)
{
        struct bed *b = *state;
        const struct udev_watch_options opts = { .include_non_usb = true };
        add_platform_uart(b);
        watch_ready(b, &opts);
        int a = wait_event(b, 0, "add", "/dev/ttyS0");
        assert_true(a >= 0);
        assert_false(b->ev[a].usb);
        assert_string_equal(b->ev[a].identity, "tty-ttyS0");
        assert_int_equal(count_events(b, "add"), 1); /* ptmx (virtual) never */
}

static void test_no_callback_runs_after_stop(void **state)
{
        struct bed *b = *state;
        watch_ready(b, NULL);
        b->w = udev_watch_stop(b->w);
        assert_null(b->w);
        size_t n = n_events(b);
        plug(b, &ftdi);
        usleep(200 * 1000);
        assert_int_equal(n_events(b), n);
}

static void test_static_port_metadata_comes_from_sysfs(void **state)
{
        struct bed *b = *state;
        struct port_serial_meta m;
        plug(b, &ftdi);
        assert_int_equal(port_serial_usb_meta("/dev/ttyUSB0", &m), 0);
        assert_string_equal(m.vid, "0403");
        assert_string_equal(m.pid, "6001");
        assert_string_equal(m.serial, "A12345");
        assert_string_equal(m.product, "FT232R USB UART");
        assert_int_equal(port_serial_usb_meta("/dev/ttyNOPE0", &m), -ENOENT);
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

/* umockdev needs its LD_PRELOAD library; ASan then must not insist on coming first (B.4). */
static void reexec_under_umockdev(char **argv)
{
        const char *pre = getenv("LD_PRELOAD");
        if (pre && strstr(pre, "libumockdev-preload"))
                return;
        if (getenv("CORRAL_TEST_REEXEC")) {
                fprintf(stderr, "umockdev preload missing even under umockdev-wrapper\n");
                exit(1);
        }
        const char *asan = getenv("ASAN_OPTIONS");
        char opts[1024];
        snprintf(opts, sizeof(opts), "%s%sverify_asan_link_order=0", asan ? asan : "", asan && *asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        setenv("CORRAL_TEST_REEXEC", "1", 1);
        char *args[64];
        int n = 0;
        args[n++] = "umockdev-wrapper";
        for (int i = 0; argv[i] && n < 63; i++)
                args[n++] = argv[i];
        args[n] = NULL;
        execvp(args[0], args);
        perror("exec umockdev-wrapper");
        exit(77);
}

#define BED_TEST(f) cmocka_unit_test_setup_teardown(f, bed_setup, bed_teardown)

int main(int argc, char **argv)
{
        (void)argc;
        reexec_under_umockdev(argv);
        const struct CMUnitTest tests[] = {
                BED_TEST(test_ready_is_posted_after_scan_even_when_nothing_is_plugged),
                BED_TEST(test_boards_present_at_start_are_enumerated_before_ready),
                BED_TEST(test_wait_ready_returns_after_start_up_adds_were_delivered),
                BED_TEST(test_sysfs_attributes_describe_board_when_udevd_did_not_run),
                BED_TEST(test_udev_properties_are_used_when_present),
                BED_TEST(test_hotplug_add_reaches_callback),
                BED_TEST(test_remove_carries_the_identity_of_its_add),
                BED_TEST(test_renumbered_board_keeps_its_identity),
                BED_TEST(test_identical_boards_with_serials_stay_distinct),
                BED_TEST(test_identical_ch340_without_serials_are_told_apart_by_usb_port),
                BED_TEST(test_board_behind_a_hub_is_keyed_by_full_port_chain),
                BED_TEST(test_cp210x_placeholder_serial_is_keyed_by_port),
                BED_TEST(test_serial_shared_by_two_present_boards_falls_back_to_port),
                BED_TEST(test_unknown_vid_pid_is_listed_as_unknown_serial_device),
                BED_TEST(test_deny_list_hides_matching_boards),
                BED_TEST(test_allow_list_reports_only_matching_boards),
                BED_TEST(test_malformed_pattern_fails_start_with_a_message),
                BED_TEST(test_non_usb_ttys_are_ignored_by_default),
                BED_TEST(test_non_usb_ttys_are_reported_when_asked),
                BED_TEST(test_no_callback_runs_after_stop),
                BED_TEST(test_static_port_metadata_comes_from_sysfs),
        };
        if (getenv("TEST_FILTER"))
                cmocka_set_test_filter(getenv("TEST_FILTER"));
        return cmocka_run_group_tests_name("udev_watch", tests, NULL, NULL);
}
