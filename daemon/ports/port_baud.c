/* Arbitrary baud rates (74880, 921600, ...) through Linux termios2 and BOTHER.
 * <asm/termbits.h> clashes with glibc's <termios.h>, so this file includes only the former. */
#include "ports/port_backends.h"

#include <asm/termbits.h>
#include <errno.h>
#include <sys/ioctl.h>

int port_baud_set(int fd, unsigned baud)
{
        struct termios2 t;

        if (fd < 0 || baud == 0)
                return -EINVAL;
        if (ioctl(fd, TCGETS2, &t) < 0)
                return -errno;
        t.c_cflag &= ~(tcflag_t)CBAUD;
        t.c_cflag |= BOTHER;
        t.c_ospeed = baud;
        /* Input speed follows output speed (IBSHIFT bits cleared = "same as output"). */
        t.c_cflag &= ~(tcflag_t)(CBAUD << IBSHIFT);
        t.c_ispeed = baud;
        if (ioctl(fd, TCSETS2, &t) < 0)
                return -errno;
        return 0;
}

int port_baud_get(int fd, unsigned *ret_baud)
{
        struct termios2 t;

        if (fd < 0 || !ret_baud)
                return -EINVAL;
        if (ioctl(fd, TCGETS2, &t) < 0)
                return -errno;
        *ret_baud = t.c_ospeed;
        return 0;
}
