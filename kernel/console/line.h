/* The console line editor: turns received bytes into command lines.
 * Pure logic with an output callback, so it is unit-tested on the host. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#define LINE_MAX_LEN 255
#define LINE_HISTORY 16

enum line_event {
	LINE_NONE,     /* keep feeding */
	LINE_DONE,     /* a complete line is in ed->buf */
	LINE_ABORT,    /* Ctrl-C: the line was dropped */
	LINE_TOO_LONG, /* Enter after more than LINE_MAX_LEN characters: dropped */
};

struct line_editor {
	char buf[LINE_MAX_LEN + 1];
	size_t len;
	bool overflow;
	bool last_cr;
	int esc;   /* escape sequence state: 0 none, 1 after ESC, 2 in CSI */
	char hist[LINE_HISTORY][LINE_MAX_LEN + 1];
	int hist_count; /* entries stored, up to LINE_HISTORY */
	int hist_next;  /* slot the next entry goes to */
	int hist_pos;   /* 0 = editing a new line, k = k-th most recent entry */
	void (*out)(void *ctx, const char *s, size_t n);
	void *ctx;
};

void line_init(struct line_editor *ed, void (*out)(void *, const char *, size_t), void *ctx);
enum line_event line_feed(struct line_editor *ed, int ch);
