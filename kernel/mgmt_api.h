/* The management API (docs/mgmt-api.md): key and listener; the protocol
 * is kernel/mgmt_api.c's, the connections net/mgmt_tcp.c's. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define MGMT_API_VERSION 1
#define MGMT_KEY_MIN 16
#define MGMT_KEY_MAX 128

/* 0, or -EINVAL for a key of the wrong length. Connections already
 * authenticated keep going. */
int mgmt_api_set_key(const char *key);
bool mgmt_api_has_key(void);
/* Starts (with a new certificate) or stops the listener; port 0 is
 * MGMT_PORT. -ENOENT without a key. */
int mgmt_api_listen(bool on, uint16_t port);
