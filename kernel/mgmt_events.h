/* Events of the management API (docs/mgmt-api.md "Events"): every
 * authenticated client gets each one as a line
 * {"event": NAME, "data": {...}, "timestamp": {...}}. */
#pragma once
#include "mgmt/json.h"

/* Starts an event: the caller writes the members of its data object into
 * the writer returned, then calls mgmt_event_end. NULL when no client
 * listens (then there is nothing to do). Not nested. */
struct json_out *mgmt_event_begin(const char *event);
void mgmt_event_end(struct json_out *o);
/* Watches the guests for VM_STATE and GUEST_FAULT (a main-loop poll),
 * from the first time the API listens on; again is harmless. */
void mgmt_events_init(void);
