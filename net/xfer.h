/* `net xfer`: bulk TCP transfers whose data is checked end to end. lwiperf
 * (net/iperf.c) throws the data away, so here the receiver computes a
 * CRC-32 (net/crc32.h, zlib's) of every byte it gets and the sender of
 * every byte it sends; both print it, and a test compares the two, or the
 * receiver's with the CRC a Linux sender computed over its data.
 *
 *   net xfer listen [PORT]          accept transfers (default port 5002)
 *   net xfer send HOST SIZE [PORT]  send SIZE pseudo-random bytes, then close
 *   net xfer stop                   close the listener, abort transfers
 *
 * Any TCP client is a sender: e.g. `python3 -c` with a socket, or
 * `nc HOST 5002 < file` (the receiver ends a transfer at the sender's FIN).
 * Each finished transfer prints one line (xfer.c). Up to XFER_SESSIONS at
 * once, sending and receiving together. */
#pragma once
#include <stdint.h>

#define XFER_PORT 5002
#define XFER_SESSIONS 4

/* 0, -EBUSY if listening already, -EADDRINUSE, -ENOMEM. */
int xfer_listen(uint16_t port);
/* Starts sending bytes to ip:port. 0, -EINVAL, -ENOSPC (all sessions busy),
 * -ENOMEM, -ENETUNREACH. */
int xfer_send(uint32_t ip, uint16_t port, uint64_t bytes);
/* Closes the listener and aborts every transfer; how many there were. */
int xfer_stop(void);
