/* Inside the management API: what the protocol (kernel/mgmt_api.c), its
 * commands (kernel/mgmt_api_cmds.c) and its events (kernel/mgmt_events.c)
 * share. Not for the rest of Tern: kernel/mgmt_api.h and mgmt_events.h. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "mgmt/json.h"

struct mgmt_conn;

#define MGMT_NONCE_LEN 32

/* A connection's protocol state. */
struct mgmt_session {
	bool authed;
	uint8_t nonce[MGMT_NONCE_LEN]; /* ours, in the greeting */
	uint64_t events_lost;	       /* dropped for a slow reader, not yet told */
};

/* The request being answered. */
struct mgmt_req {
	struct mgmt_conn *c;
	const char *text;	     /* the request line */
	const struct json_tok *toks; /* its tokens */
	int args;		     /* index of "arguments", or -1 */
	const char *id;		     /* "id" as the client wrote it, or NULL */
};

/* Sends {"error": {"class", "desc"}, "id"}. */
void mgmt_fail(const struct mgmt_req *r, const char *class, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Starts the reply {"return": ...: the command writes its value into the
 * writer returned, then mgmt_done closes and sends it. */
struct json_out *mgmt_begin(void);
void mgmt_done(const struct mgmt_req *r, struct json_out *o);
/* True if every member of the arguments is named in allowed (NULL
 * terminated); else the error is sent. */
bool mgmt_only_args(const struct mgmt_req *r, const char *const *allowed);

struct mgmt_command {
	const char *name;
	const char *const *args; /* the arguments it takes (NULL terminated) */
	void (*run)(const struct mgmt_req *r);
};
/* The commands after authentication; NULL for an unknown name. */
const struct mgmt_command *mgmt_command_find(const char *name);
