/* Board identity keys, ID_PATH derivation and the USB id table: pure functions, no udev needed
 * (named test_udev_* so it runs with the other discovery tests). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "udev/udev_info.h"
#include "udev/usb_ids.h"

static struct udev_port_info usb_board(const char *vid, const char *pid, const char *serial, const char *id_path)
{
        struct udev_port_info i;
        memset(&i, 0, sizeof(i));
        i.usb = true;
        strcpy(i.vid, vid);
        strcpy(i.pid, pid);
        strcpy(i.serial, serial);
        strcpy(i.id_path, id_path);
        strcpy(i.interface_num, "00");
        strcpy(i.devnode, "/dev/ttyUSB0");
        return i;
}

static void test_key_uses_vid_pid_and_serial(void **state)
{
        struct udev_port_info i = usb_board("1a86", "55d4", "5678ABCD", "pci-0000:00:14.0-usb-0:2:1.0");
        char key[256];
        assert_int_equal(board_identity_key(&i, key, sizeof(key)), 0);
        assert_string_equal(key, "usb-1a86:55d4-5678ABCD");
}

static void test_key_without_serial_uses_port_path(void **state)
{
        struct udev_port_info i = usb_board("1a86", "7523", "", "pci-0000:00:14.0-usb-0:3:1.0");
        char key[256];
        assert_int_equal(board_identity_key(&i, key, sizeof(key)), 0);
        assert_string_equal(key, "path-pci-0000:00:14.0-usb-0:3:1.0");
}

static void test_key_ignores_placeholder_serials(void **state)
{
        struct udev_port_info i = usb_board("10c4", "ea60", "0001", "pci-0000:00:14.0-usb-0:2:1.0");
        char key[256];
        assert_int_equal(board_identity_key(&i, key, sizeof(key)), 0);
        assert_string_equal(key, "path-pci-0000:00:14.0-usb-0:2:1.0");
        assert_true(udev_info_serial_is_placeholder("0000"));
        assert_false(udev_info_serial_is_placeholder("A12345"));
}

static void test_key_honours_serial_not_unique(void **state)
{
        struct udev_port_info i = usb_board("0403", "6015", "DN0SAME", "pci-0000:00:14.0-usb-0:4:1.0");
        char key[256];
        i.serial_not_unique = true;
        assert_int_equal(board_identity_key(&i, key, sizeof(key)), 0);
        assert_string_equal(key, "path-pci-0000:00:14.0-usb-0:4:1.0");
}

static void test_key_names_the_interface_of_multi_port_bridges(void **state)
{
        struct udev_port_info i = usb_board("0403", "6010", "FT2232X", "");
        char key[256];
        strcpy(i.interface_num, "01");
        assert_int_equal(board_identity_key(&i, key, sizeof(key)), 0);
        assert_string_equal(key, "usb-0403:6010-FT2232X-if01");
}

static void test_key_replaces_odd_serial_characters(void **state)
{
        struct udev_port_info i = usb_board("239a", "80f4", "AB 12/x\xc3\xa9", "");
        char key[256];
        assert_int_equal(board_identity_key(&i, key, sizeof(key)), 0);
        assert_string_equal(key, "usb-239a:80f4-AB_12_x__");
}

static void test_key_of_non_usb_tty_is_its_name(void **state)
{
        struct udev_port_info i;
        char key[256];
        memset(&i, 0, sizeof(i));
        strcpy(i.devnode, "/dev/ttyS0");
        assert_int_equal(board_identity_key(&i, key, sizeof(key)), 0);
        assert_string_equal(key, "tty-ttyS0");
}

static void test_key_needs_something_to_key_on(void **state)
{
        struct udev_port_info i;
        char key[8] = "keep";
        memset(&i, 0, sizeof(i));
        assert_int_equal(board_identity_key(&i, key, sizeof(key)), -EINVAL);
        assert_string_equal(key, "keep");
}

static void test_key_reports_small_buffer(void **state)
{
        struct udev_port_info i = usb_board("1a86", "55d4", "5678ABCD", "");
        char key[10] = "keep";
        assert_int_equal(board_identity_key(&i, key, sizeof(key)), -ENOBUFS);
        assert_string_equal(key, "keep");
}

static void test_id_path_is_derived_like_udev_path_id(void **state)
{
        char p[192];
        assert_int_equal(udev_info_derive_id_path(
                                 "/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/ttyUSB0/tty/ttyUSB0", p, sizeof(p)),
                         0);
        assert_string_equal(p, "pci-0000:00:14.0-usb-0:2:1.0");
        assert_int_equal(udev_info_derive_id_path("/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3.1/1-3.1:1.0/tty/ttyACM0",
                                                  p, sizeof(p)),
                         0);
        assert_string_equal(p, "pci-0000:00:14.0-usb-0:3.1:1.0");
        assert_int_equal(udev_info_derive_id_path("/devices/platform/soc/3f980000.usb/usb1/1-1/1-1.3/1-1.3:1.0/ttyUSB0/tty/ttyUSB0",
                                                  p, sizeof(p)),
                         0);
        assert_string_equal(p, "platform-3f980000.usb-usb-0:1.3:1.0");
}

static void test_id_path_needs_a_usb_interface(void **state)
{
        char p[64];
        assert_int_equal(udev_info_derive_id_path("/devices/platform/serial8250/tty/ttyS0", p, sizeof(p)), -ENOENT);
        assert_int_equal(udev_info_derive_id_path("/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/ttyUSB0/tty/ttyUSB0",
                                                  p, 8),
                         -ENOBUFS);
}

static void test_known_bridges_and_boards_are_named(void **state)
{
        assert_string_equal(usb_ids_lookup("10c4", "ea60")->bridge, "CP210x");
        assert_string_equal(usb_ids_lookup("1A86", "7523")->bridge, "CH340");
        assert_string_equal(usb_ids_lookup("303a", "1001")->reset, "usb_jtag");
        assert_string_equal(usb_ids_lookup("2e8a", "0005")->family, "rp2");
        assert_string_equal(usb_ids_lookup("0d28", "0204")->family, "microbit");
        assert_string_equal(usb_ids_lookup("f055", "9800")->family, "pyboard");
        assert_string_equal(usb_ids_lookup("239a", "80f4")->family, "adafruit");
}

static void test_unknown_or_malformed_ids_are_unknown_serial_device(void **state)
{
        assert_string_equal(usb_ids_lookup("1234", "5678")->bridge, "unknown serial device");
        assert_string_equal(usb_ids_lookup("", "")->family, "unknown");
        assert_string_equal(usb_ids_lookup(NULL, "7523")->family, "unknown");
        assert_string_equal(usb_ids_lookup("1a86x", "7523")->family, "unknown");
}

static void test_match_patterns(void **state)
{
        struct usb_id_match m;
        assert_int_equal(usb_ids_parse_match("1a86:7523", &m), 0);
        assert_true(usb_ids_match(&m, "1a86", "7523"));
        assert_false(usb_ids_match(&m, "1a86", "55d4"));
        assert_int_equal(usb_ids_parse_match("239A:*", &m), 0);
        assert_true(usb_ids_match(&m, "239a", "80f4"));
        assert_false(usb_ids_match(&m, "2e8a", "0005"));
        assert_int_equal(usb_ids_parse_match("1a86", &m), -EINVAL);
        assert_int_equal(usb_ids_parse_match("1a86:75233", &m), -EINVAL);
        assert_int_equal(usb_ids_parse_match("zz86:7523", &m), -EINVAL);
        assert_int_equal(usb_ids_parse_match("1a86-7523", &m), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_key_uses_vid_pid_and_serial),
                cmocka_unit_test(test_key_without_serial_uses_port_path),
                cmocka_unit_test(test_key_ignores_placeholder_serials),
                cmocka_unit_test(test_key_honours_serial_not_unique),
                cmocka_unit_test(test_key_names_the_interface_of_multi_port_bridges),
                cmocka_unit_test(test_key_replaces_odd_serial_characters),
                cmocka_unit_test(test_key_of_non_usb_tty_is_its_name),
                cmocka_unit_test(test_key_needs_something_to_key_on),
                cmocka_unit_test(test_key_reports_small_buffer),
                cmocka_unit_test(test_id_path_is_derived_like_udev_path_id),
                cmocka_unit_test(test_id_path_needs_a_usb_interface),
                cmocka_unit_test(test_known_bridges_and_boards_are_named),
                cmocka_unit_test(test_unknown_or_malformed_ids_are_unknown_serial_device),
                cmocka_unit_test(test_match_patterns),
        };
        return cmocka_run_group_tests_name("udev_identity", tests, NULL, NULL);
}
