/* A scripted in-memory struct port for engine unit tests: a virtual clock, a receive queue the
 * test (or a device model callback) fills, and a record of every byte, baud and line change. */
#ifndef CORRAL_FAKE_PORT_H
#define CORRAL_FAKE_PORT_H

#include "ports/port.h"

/* Called on every write; a device model answers by calling fake_port_feed(). */
typedef void (*fake_port_write_fn)(struct port *p, const uint8_t *data, size_t len, void *user);
typedef void (*fake_port_lines_fn)(struct port *p, bool dtr, bool rts, void *user);

/* Creates a fake port; free with port_close(). */
struct port *fake_port_new(void);
void fake_port_set_device(struct port *p, fake_port_write_fn on_write, fake_port_lines_fn on_lines,
                          void *user);
/* Queue bytes for the engine to read (copied). */
void fake_port_feed(struct port *p, const void *data, size_t len);
void fake_port_feed_str(struct port *p, const char *s);
/* After this, reads and writes return -ENODEV (unplug). */
void fake_port_unplug(struct port *p);
/* Everything written so far (borrowed, valid until the next write or clear). */
const uint8_t *fake_port_written(struct port *p, size_t *len);
void fake_port_clear_written(struct port *p);
/* Virtual milliseconds elapsed (reads that time out and sleeps advance it). */
uint64_t fake_port_now(struct port *p);
/* Line changes recorded, oldest first: bit0 = dtr, bit1 = rts. */
size_t fake_port_line_history(struct port *p, const uint8_t **hist);
/* Make each read return at most n bytes (0 = unlimited), to split frames across reads. */
void fake_port_set_read_chunk(struct port *p, size_t n);

#endif
