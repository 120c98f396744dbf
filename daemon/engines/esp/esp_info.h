/* Identifying an ESP over the loader: chip, MAC, crystal, revision, and the preparation a flash
 * job needs (connect, stub, attach, flash id), as facts. Pure logic over esp_rom.h. */
#ifndef CORRAL_ESP_INFO_H
#define CORRAL_ESP_INFO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engines/esp/esp_rom.h"

/* GET_SECURITY_INFO, then the magic register; sets chip, status_len, block_size. */
int esp_detect_chip(struct esp_loader *l);

/* Needs a detected chip. */
int esp_read_mac(struct esp_loader *l);
int esp_read_crystal(struct esp_loader *l);
int esp_read_revision(struct esp_loader *l);

/* Connect, detect, read everything identifying the board, and (unless opts->no_hard_reset or
 * reset NONE) hard-reset. On success *ret_facts is a new object {chip, chip_revision, mac,
 * flash_size, flash_id, flash_vendor, crystal_mhz, features} owned by the caller. */
int esp_identify(struct port *p, const struct esp_connect_opts *opts, json_t **ret_facts,
                 char *msg, size_t msg_size);
/* Connect + detect + MAC + crystal + optional stub + attach + flash id: everything a flash job
 * needs before writing. */
int esp_loader_prepare(struct esp_loader *l, const struct esp_connect_opts *opts);
/* Facts of a prepared loader as a new JSON object (caller owns). */
json_t *esp_loader_facts(const struct esp_loader *l);

/* "aa:bb:cc:dd:ee:ff" into out[18]. */
void esp_format_mac(const uint8_t mac[6], char out[18]);

#endif
