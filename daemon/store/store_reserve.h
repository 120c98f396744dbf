/* A few hundred KiB kept aside next to the database so that repairs (deleting firmware,
 * unpinning) still work on a full disk. */
#ifndef CORRAL_STORE_RESERVE_H
#define CORRAL_STORE_RESERVE_H

struct store;

#define STORE_RESERVE_BYTES (128 * 1024)

/* Allocate "<state_dir>/corral.reserve" (STORE_RESERVE_BYTES) if it is not there. 0 or -errno
 * (-ENOSPC: no room for it now; nothing is left behind). */
int store_reserve_make(struct store *s);
/* Give the reserve up: 0 when there was one to free, else -errno (-ENOENT: already used). */
int store_reserve_release(struct store *s);

#endif
