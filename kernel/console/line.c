#include <string.h>
#include "kernel/console/line.h"

#define CTRL(c) ((c) & 0x1f)
#define ESC 0x1b
#define DEL 0x7f

static void emit(struct line_editor *ed, const char *s)
{
	ed->out(ed->ctx, s, strlen(s));
}

void line_init(struct line_editor *ed, void (*out)(void *, const char *, size_t), void *ctx)
{
	memset(ed, 0, sizeof(*ed));
	ed->out = out;
	ed->ctx = ctx;
}

static void reset(struct line_editor *ed)
{
	ed->len = 0;
	ed->buf[0] = 0;
	ed->overflow = false;
	ed->hist_pos = 0;
}

static void erase_shown(struct line_editor *ed)
{
	for (size_t i = 0; i < ed->len; i++)
		emit(ed, "\b \b");
}

static const char *hist_entry(struct line_editor *ed, int k)
{
	int slot = (ed->hist_next - k + LINE_HISTORY) % LINE_HISTORY;
	return ed->hist[slot];
}

static void hist_add(struct line_editor *ed)
{
	if (!ed->len || (ed->hist_count && !strcmp(hist_entry(ed, 1), ed->buf)))
		return;
	memcpy(ed->hist[ed->hist_next], ed->buf, ed->len + 1);
	ed->hist_next = (ed->hist_next + 1) % LINE_HISTORY;
	if (ed->hist_count < LINE_HISTORY)
		ed->hist_count++;
}

/* Up (+1) or down (-1) through the history; the shown line is replaced. */
static void hist_move(struct line_editor *ed, int dir)
{
	int pos = ed->hist_pos + dir;

	if (pos < 0 || pos > ed->hist_count)
		return;
	erase_shown(ed);
	ed->hist_pos = pos;
	ed->overflow = false;
	if (pos == 0) {
		ed->len = 0;
		ed->buf[0] = 0;
		return;
	}
	strcpy(ed->buf, hist_entry(ed, pos));
	ed->len = strlen(ed->buf);
	emit(ed, ed->buf);
}

static enum line_event feed_escape(struct line_editor *ed, int ch)
{
	if (ed->esc == 1) {
		ed->esc = ch == '[' || ch == 'O' ? 2 : 0;
		return LINE_NONE;
	}
	/* In a CSI sequence: parameters until a final byte 0x40..0x7e. */
	if (ch >= 0x40 && ch <= 0x7e) {
		ed->esc = 0;
		if (ch == 'A')
			hist_move(ed, +1);
		else if (ch == 'B')
			hist_move(ed, -1);
	} else if (ch < 0x20 || ch > 0x3f) {
		ed->esc = 0; /* not a CSI byte: drop the sequence */
	}
	return LINE_NONE;
}

enum line_event line_feed(struct line_editor *ed, int ch)
{
	bool after_cr = ed->last_cr;

	ch &= 0xff;
	ed->last_cr = ch == '\r';
	if (ed->esc)
		return feed_escape(ed, ch);

	switch (ch) {
	case '\n':
		if (after_cr)
			return LINE_NONE; /* second half of CR LF */
		/* fall through */
	case '\r':
		emit(ed, "\r\n");
		if (ed->overflow) {
			reset(ed);
			return LINE_TOO_LONG;
		}
		ed->buf[ed->len] = 0;
		hist_add(ed);
		ed->hist_pos = 0;
		ed->len = 0; /* buf keeps the line until the next byte is fed */
		return LINE_DONE;
	case CTRL('C'):
		emit(ed, "^C\r\n");
		reset(ed);
		return LINE_ABORT;
	case CTRL('U'):
		erase_shown(ed);
		reset(ed);
		return LINE_NONE;
	case '\b':
	case DEL:
		if (ed->len && !ed->overflow) {
			ed->len--;
			ed->buf[ed->len] = 0;
			emit(ed, "\b \b");
		}
		return LINE_NONE;
	case ESC:
		ed->esc = 1;
		return LINE_NONE;
	}
	if (ch < 0x20 || ch >= DEL)
		return LINE_NONE; /* other control and non-ASCII bytes are ignored */
	if (ed->len >= LINE_MAX_LEN) {
		ed->overflow = true; /* keep swallowing until Enter, then refuse */
		return LINE_NONE;
	}
	ed->buf[ed->len++] = (char)ch;
	ed->buf[ed->len] = 0;
	char echo[2] = {(char)ch, 0};
	emit(ed, echo);
	return LINE_NONE;
}
