/* One HTTP GET at a time over lwIP's HTTP client app (apps/http/
 * http_client.c, patched: net/patches/http_client-fixes.patch), for
 * `image fetch`. It checks the transfer; the caller owns the bytes:
 *
 *   begin(len)   status 200 and a Content-Length arrived: the caller
 *                makes room for len bytes (or refuses, with a reason);
 *   data(buf, n) the next n body bytes, never past len;
 *   end(rc, why) exactly once after a successful start: 0 when the
 *                server closed after exactly len bytes, else a negative
 *                errno and the reason (refused, timed out, status, short
 *                read, more bytes than announced, cancelled, ...).
 *
 * Everything runs from the main loop (lwIP's timers and receive path). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http_parse.h"

struct http_fetch_ops {
	int (*begin)(void *ctx, uint64_t len, const char **why);
	int (*data)(void *ctx, const void *buf, size_t n, const char **why);
	void (*end)(void *ctx, int rc, const char *why);
};

/* 0 when the request is under way; a negative errno and *why if it could
 * not start (busy, no network, no memory, no route): end() is not called. */
int http_fetch_start(const struct http_url *u, const struct http_fetch_ops *ops, void *ctx,
		     const char **why);
bool http_fetch_busy(void);
/* Stops the transfer under way: end(-ECANCELED) runs before it returns. */
void http_fetch_cancel(void);
