/* The udev thread: libudev enumerate + monitor (subsystem tty), USB parent facts, allow/deny
 * filtering, a devnode cache so "remove" repeats the identity of its "add". */
#include "udev/udev_watch.h"
#include "udev/usb_ids.h"
#include "util.h"

#include <errno.h>
#include <libudev.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_PATTERNS 64
#define MONITOR_RCVBUF (1024 * 1024)

struct udev_watch {
        udev_watch_fn fn;
        void *user;
        bool include_non_usb;
        struct usb_id_match allow[MAX_PATTERNS], deny[MAX_PATTERNS];
        size_t n_allow, n_deny;

        pthread_t thread;
        int wake_fd; /* eventfd: stop request */
        atomic_bool live;

        /* start-up handshake */
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool init_done;
        bool scan_done; /* the start-up "add"s and "ready" were delivered */
        int init_err;
        char init_msg[160];

        /* udev thread only */
        struct udev *udev;
        struct udev_monitor *mon;
        struct udev_port_info *ports; /* present ports, as last posted */
        size_t n_ports, cap_ports;
};

static int parse_patterns(const char *const *list, struct usb_id_match *out, size_t *n, char *msg,
                          size_t msg_size)
{
        *n = 0;
        for (size_t i = 0; list && list[i]; i++) {
                if (*n >= MAX_PATTERNS) {
                        snprintf(msg, msg_size, "too many VID:PID patterns (max %d)", MAX_PATTERNS);
                        return -EINVAL;
                }
                if (usb_ids_parse_match(list[i], &out[*n]) < 0) {
                        snprintf(msg, msg_size, "bad VID:PID pattern \"%s\" (want e.g. 1a86:7523 or 239a:*)",
                                 list[i]);
                        return -EINVAL;
                }
                (*n)++;
        }
        return 0;
}

static bool filter_pass(const struct udev_watch *w, const struct udev_port_info *info)
{
        if (!info->usb)
                return w->include_non_usb;
        for (size_t i = 0; i < w->n_deny; i++)
                if (usb_ids_match(&w->deny[i], info->vid, info->pid))
                        return false;
        if (w->n_allow == 0)
                return true;
        for (size_t i = 0; i < w->n_allow; i++)
                if (usb_ids_match(&w->allow[i], info->vid, info->pid))
                        return true;
        return false;
}

/* Property first, else sysattr of `parent`: used for values udevd mangles or may not have. */
static const char *prop_or_attr(struct udev_device *d, const char *prop, struct udev_device *parent,
                                const char *attr)
{
        const char *v = prop ? udev_device_get_property_value(d, prop) : NULL;
        if ((!v || !*v) && parent)
                v = udev_device_get_sysattr_value(parent, attr);
        return v;
}

/* Sysattr first (raw, independent of udevd), else the udev property. */
static const char *attr_or_prop(struct udev_device *d, const char *prop, struct udev_device *parent,
                                const char *attr)
{
        const char *v = parent ? udev_device_get_sysattr_value(parent, attr) : NULL;
        if (!v || !*v)
                v = udev_device_get_property_value(d, prop);
        return v;
}

static void lower_hex(char *s)
{
        for (; *s; s++)
                if (*s >= 'A' && *s <= 'F')
                        *s = (char)(*s - 'A' + 'a');
}

/* DEVLINKS="/dev/serial/by-id/... /dev/serial/by-path/..." as found in the uevent environment
 * when the udev database has no entry (mocked or replayed devices). */
static void devlinks_from_property(struct udev_port_info *info, const char *links)
{
        while (links && *links) {
                links += strspn(links, " ");
                size_t len = strcspn(links, " ");
                char *dst = NULL;
                size_t size = 0;
                if (len > 18 && strncmp(links, "/dev/serial/by-id/", 18) == 0 && !info->by_id[0]) {
                        dst = info->by_id;
                        size = sizeof(info->by_id);
                } else if (len > 20 && strncmp(links, "/dev/serial/by-path/", 20) == 0 && !info->by_path[0]) {
                        dst = info->by_path;
                        size = sizeof(info->by_path);
                }
                if (dst && len < size) {
                        memcpy(dst, links, len);
                        dst[len] = '\0';
                }
                links += len;
        }
}

/* Collect facts about a tty. Returns false when it is not a port we report. */
static bool port_describe(struct udev_watch *w, struct udev_device *d, struct udev_port_info *info)
{
        const char *devnode = udev_device_get_devnode(d);
        memset(info, 0, sizeof(*info));
        if (!devnode)
                return false;
        struct udev_device *usb = udev_device_get_parent_with_subsystem_devtype(d, "usb", "usb_device");
        struct udev_device *intf = udev_device_get_parent_with_subsystem_devtype(d, "usb", "usb_interface");
        if (!usb) {
                /* ptys, virtual consoles and /dev/tty have no parent device at all. */
                if (!w->include_non_usb || !udev_device_get_parent(d))
                        return false;
        }
        info->usb = usb != NULL;
        udev_info_copy(info->devnode, sizeof(info->devnode), devnode);
        udev_info_copy(info->syspath, sizeof(info->syspath), udev_device_get_syspath(d));
        if (usb) {
                /* sysattrs are the raw USB descriptors and do not depend on udevd having run;
                 * ID_SERIAL_SHORT & co. are mangled ('_' for spaces) and absent in containers. */
                udev_info_copy(info->vid, sizeof(info->vid), attr_or_prop(d, "ID_VENDOR_ID", usb, "idVendor"));
                udev_info_copy(info->pid, sizeof(info->pid), attr_or_prop(d, "ID_MODEL_ID", usb, "idProduct"));
                udev_info_copy(info->serial, sizeof(info->serial), attr_or_prop(d, "ID_SERIAL_SHORT", usb, "serial"));
                udev_info_copy(info->manufacturer, sizeof(info->manufacturer),
                               attr_or_prop(d, "ID_VENDOR", usb, "manufacturer"));
                udev_info_copy(info->product, sizeof(info->product), attr_or_prop(d, "ID_MODEL", usb, "product"));
                udev_info_copy(info->interface_num, sizeof(info->interface_num),
                               prop_or_attr(d, "ID_USB_INTERFACE_NUM", intf, "bInterfaceNumber"));
                lower_hex(info->vid);
                lower_hex(info->pid);
                const struct usb_id *id = usb_ids_lookup(info->vid, info->pid);
                udev_info_copy(info->bridge, sizeof(info->bridge), id->bridge);
                udev_info_copy(info->family, sizeof(info->family), id->family);
                udev_info_copy(info->reset, sizeof(info->reset), id->reset);
        }
        udev_info_copy(info->id_path, sizeof(info->id_path), udev_device_get_property_value(d, "ID_PATH"));
        if (!info->id_path[0] && usb)
                (void)udev_info_derive_id_path(udev_device_get_devpath(d), info->id_path, sizeof(info->id_path));
        struct udev_list_entry *e;
        udev_list_entry_foreach(e, udev_device_get_devlinks_list_entry(d))
        {
                const char *link = udev_list_entry_get_name(e);
                if (!info->by_id[0] && strncmp(link, "/dev/serial/by-id/", 18) == 0)
                        udev_info_copy(info->by_id, sizeof(info->by_id), link);
                else if (!info->by_path[0] && strncmp(link, "/dev/serial/by-path/", 20) == 0)
                        udev_info_copy(info->by_path, sizeof(info->by_path), link);
        }
        if (!info->by_id[0] && !info->by_path[0])
                devlinks_from_property(info, udev_device_get_property_value(d, "DEVLINKS"));
        return filter_pass(w, info);
}

static struct udev_port_info *cache_find(struct udev_watch *w, const char *syspath)
{
        for (size_t i = 0; i < w->n_ports; i++)
                if (strcmp(w->ports[i].syspath, syspath) == 0)
                        return &w->ports[i];
        return NULL;
}

static void post(struct udev_watch *w, struct udev_port_info *info, const char *action)
{
        udev_info_copy(info->action, sizeof(info->action), action);
        w->fn(info, w->user);
}

static void cache_remove(struct udev_watch *w, struct udev_port_info *slot)
{
        struct udev_port_info gone = *slot;
        size_t i = (size_t)(slot - w->ports);
        memmove(&w->ports[i], &w->ports[i + 1], (w->n_ports - i - 1) * sizeof(*slot));
        w->n_ports--;
        post(w, &gone, "remove");
}

/* Identity, falling back to the port path when another present port has the same serial. */
static int assign_identity(struct udev_watch *w, struct udev_port_info *info)
{
        int r = board_identity_key(info, info->identity, sizeof(info->identity));
        if (r < 0 || info->serial_not_unique)
                return r;
        for (size_t i = 0; i < w->n_ports; i++) {
                if (strcmp(w->ports[i].identity, info->identity) == 0 &&
                    strcmp(w->ports[i].syspath, info->syspath) != 0) {
                        info->serial_not_unique = true;
                        return board_identity_key(info, info->identity, sizeof(info->identity));
                }
        }
        return 0;
}

/* A tty appeared (enumerated, "add", or "change"). */
static void port_seen(struct udev_watch *w, struct udev_device *d)
{
        struct udev_port_info info;
        const char *syspath = udev_device_get_syspath(d);
        struct udev_port_info *old = syspath ? cache_find(w, syspath) : NULL;
        if (!port_describe(w, d, &info)) {
                if (old) /* changed into something we no longer report */
                        cache_remove(w, old);
                return;
        }
        if (old) {
                info.serial_not_unique = old->serial_not_unique;
                if (assign_identity(w, &info) < 0 || strcmp(old->identity, info.identity) == 0)
                        return; /* duplicate (enumerate raced with "add") or "change" */
                cache_remove(w, old);
        } else if (assign_identity(w, &info) < 0) {
                return;
        }
        if (w->n_ports == w->cap_ports) {
                size_t cap = w->cap_ports ? w->cap_ports * 2 : 16;
                struct udev_port_info *p = realloc(w->ports, cap * sizeof(*p));
                if (!p)
                        return; /* out of memory: the port is not reported */
                w->ports = p;
                w->cap_ports = cap;
        }
        w->ports[w->n_ports++] = info;
        post(w, &info, "add");
}

static void port_gone(struct udev_watch *w, struct udev_device *d)
{
        const char *syspath = udev_device_get_syspath(d);
        struct udev_port_info *old = syspath ? cache_find(w, syspath) : NULL;
        if (old)
                cache_remove(w, old);
}

static bool list_has(struct udev_list_entry *list, const char *name)
{
        struct udev_list_entry *e;
        udev_list_entry_foreach(e, list)
        {
                if (strcmp(udev_list_entry_get_name(e), name) == 0)
                        return true;
        }
        return false;
}

/* Scan all ttys; post "add" for new ones and "remove" for cached ones that are gone. */
static int scan(struct udev_watch *w)
{
        struct udev_enumerate *en = udev_enumerate_new(w->udev);
        if (!en)
                return -ENOMEM;
        int r = udev_enumerate_add_match_subsystem(en, "tty");
        if (r >= 0)
                r = udev_enumerate_scan_devices(en);
        if (r < 0) {
                udev_enumerate_unref(en);
                return r;
        }
        struct udev_list_entry *list = udev_enumerate_get_list_entry(en), *e;
        udev_list_entry_foreach(e, list)
        {
                struct udev_device *d = udev_device_new_from_syspath(w->udev, udev_list_entry_get_name(e));
                if (!d)
                        continue;
                port_seen(w, d);
                udev_device_unref(d);
        }
        /* After a monitor overflow: ports that vanished meanwhile. */
        for (size_t i = w->n_ports; i-- > 0;)
                if (!list_has(list, w->ports[i].syspath))
                        cache_remove(w, &w->ports[i]);
        udev_enumerate_unref(en);
        return 0;
}

static void monitor_drain(struct udev_watch *w)
{
        for (;;) {
                errno = 0;
                struct udev_device *d = udev_monitor_receive_device(w->mon);
                if (!d) {
                        if (errno == ENOBUFS)
                                (void)scan(w); /* events were lost: resynchronise */
                        return;
                }
                const char *action = udev_device_get_action(d);
                if (action && strcmp(action, "remove") == 0)
                        port_gone(w, d);
                else if (action && (strcmp(action, "add") == 0 || strcmp(action, "change") == 0))
                        port_seen(w, d);
                udev_device_unref(d);
        }
}

static void init_report(struct udev_watch *w, int err, const char *msg)
{
        pthread_mutex_lock(&w->mu);
        w->init_err = err;
        if (msg)
                udev_info_copy(w->init_msg, sizeof(w->init_msg), msg);
        w->init_done = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
}

static void watch_loop(struct udev_watch *w);

static void *watch_main(void *arg)
{
        struct udev_watch *w = arg;
        watch_loop(w);
        /* libudev objects are created, used and freed on this thread only. */
        w->mon = udev_monitor_unref(w->mon);
        w->udev = udev_unref(w->udev);
        return NULL;
}

static void watch_loop(struct udev_watch *w)
{

        /* The monitor is enabled before the scan so nothing plugged in between is missed;
         * duplicates are dropped by the cache. */
        w->udev = udev_new();
        if (!w->udev) {
                init_report(w, -ENOMEM, "udev_new() failed");
                return;
        }
        w->mon = udev_monitor_new_from_netlink(w->udev, "udev");
        if (!w->mon) {
                init_report(w, -EIO, "cannot create the udev monitor (netlink)");
                return;
        }
        int r = udev_monitor_filter_add_match_subsystem_devtype(w->mon, "tty", NULL);
        if (r >= 0)
                r = udev_monitor_enable_receiving(w->mon);
        if (r < 0) {
                init_report(w, r, "cannot enable the udev monitor");
                return;
        }
        (void)udev_monitor_set_receive_buffer_size(w->mon, MONITOR_RCVBUF);
        /* libudev disables a "udev" monitor when udevd is not running (B.4): it stays silent. */
        atomic_store(&w->live, access("/run/udev/control", F_OK) == 0);
        init_report(w, 0, NULL);

        (void)scan(w); /* a failed scan (no sysfs) leaves hotplug working */
        struct udev_port_info ready;
        memset(&ready, 0, sizeof(ready));
        post(w, &ready, "ready");
        pthread_mutex_lock(&w->mu);
        w->scan_done = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);

        for (;;) {
                struct pollfd pfd[2] = {
                        { .fd = w->wake_fd, .events = POLLIN },
                        { .fd = udev_monitor_get_fd(w->mon), .events = POLLIN },
                };
                int n = poll(pfd, 2, -1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pfd[0].revents)
                        break;
                if (pfd[1].revents & POLLIN)
                        monitor_drain(w);
        }
}

/* Called after the thread ended (it freed its libudev objects) or never started. */
static void watch_free(struct udev_watch *w)
{
        if (w->wake_fd >= 0)
                close(w->wake_fd);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w->ports);
        free(w);
}

int udev_watch_start(const struct udev_watch_options *opts, udev_watch_fn fn, void *user,
                     struct udev_watch **ret, char *msg, size_t msg_size)
{
        char dummy[1];
        if (!msg || msg_size == 0) {
                msg = dummy;
                msg_size = sizeof(dummy);
        }
        msg[0] = '\0';
        if (!fn || !ret) {
                snprintf(msg, msg_size, "udev_watch_start: missing callback or result pointer");
                return -EINVAL;
        }
        struct udev_watch *w = calloc(1, sizeof(*w));
        if (!w) {
                snprintf(msg, msg_size, "out of memory");
                return -ENOMEM;
        }
        w->fn = fn;
        w->user = user;
        w->include_non_usb = opts && opts->include_non_usb;
        pthread_mutex_init(&w->mu, NULL);
        util_cond_init_mono(&w->cv);
        atomic_init(&w->live, false);
        w->wake_fd = -1;
        int r = parse_patterns(opts ? opts->allow : NULL, w->allow, &w->n_allow, msg, msg_size);
        if (r == 0)
                r = parse_patterns(opts ? opts->deny : NULL, w->deny, &w->n_deny, msg, msg_size);
        if (r < 0) {
                watch_free(w);
                return r;
        }
        w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->wake_fd < 0) {
                r = -errno;
                snprintf(msg, msg_size, "eventfd: %s", strerror(-r));
                watch_free(w);
                return r;
        }
        r = -pthread_create(&w->thread, NULL, watch_main, w);
        if (r < 0) {
                snprintf(msg, msg_size, "cannot start the udev thread: %s", strerror(-r));
                watch_free(w);
                return r;
        }
        pthread_mutex_lock(&w->mu);
        while (!w->init_done)
                pthread_cond_wait(&w->cv, &w->mu);
        r = w->init_err;
        pthread_mutex_unlock(&w->mu);
        if (r < 0) {
                snprintf(msg, msg_size, "%s: %s", w->init_msg, strerror(-r));
                pthread_join(w->thread, NULL);
                watch_free(w);
                return r;
        }
        *ret = w;
        return 0;
}

int udev_watch_wait_ready(struct udev_watch *w, int timeout_ms)
{
        if (!w)
                return -EINVAL;
        struct timespec ts = util_deadline_ts(timeout_ms);
        int r = 0;
        pthread_mutex_lock(&w->mu);
        while (!w->scan_done && r == 0)
                r = pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        bool done = w->scan_done;
        pthread_mutex_unlock(&w->mu);
        return done ? 0 : -ETIMEDOUT;
}

bool udev_watch_monitor_live(const struct udev_watch *w)
{
        return w && atomic_load(&((struct udev_watch *)w)->live);
}

struct udev_watch *udev_watch_stop(struct udev_watch *w)
{
        if (!w)
                return NULL;
        uint64_t one = 1;
        /* An eventfd write fails only on counter overflow, which one write cannot cause. */
        (void)!write(w->wake_fd, &one, sizeof(one));
        pthread_join(w->thread, NULL);
        watch_free(w);
        return NULL;
}
