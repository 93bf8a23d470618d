/* GET /metrics over plain HTTP/1.x (Prometheus' scrape), on lwIP's raw
 * TCP API: read-only, no key; the body is kernel/metrics.h's. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#define METRICS_HTTP_PORT 80
#define METRICS_HTTP_CONNS 4	       /* at once; a new one evicts the oldest */
#define METRICS_HTTP_REQUEST_MAX 2048  /* request line and headers */
#define METRICS_HTTP_DEADLINE_MS 10000 /* from accept to the last byte acknowledged */
#define METRICS_HTTP_BODY_MAX (128 * 1024)

struct metrics_http_stats {
	bool on;
	uint16_t port;
	uint64_t scrapes; /* 200 answers to GET /metrics */
	uint64_t refused; /* requests answered with an error status */
	uint64_t dropped; /* connections closed without an answer: evicted, timed out */
};

/* Listens on port (0: METRICS_HTTP_PORT). 0, -EBUSY when already on,
 * -EADDRINUSE, -ENOMEM. */
int metrics_http_start(uint16_t port);
/* Stops listening and closes every connection. */
void metrics_http_stop(void);
void metrics_http_stats(struct metrics_http_stats *out);
