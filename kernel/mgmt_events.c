/* See mgmt_events.h. A client that reads too slowly loses events rather
 * than its connection: an event that would queue more than EVENT_QUEUE_MAX
 * bytes for it is dropped and counted, and the next one that fits is
 * preceded by EVENTS_LOST. Guests' states are watched by comparing each
 * main-loop pass with the last, so no code that changes a guest's state
 * needs to know about the API. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "drivers/cmos_rtc.h"
#include "kernel/loop.h"
#include "kernel/mgmt_api_int.h"
#include "kernel/mgmt_events.h"
#include "kernel/vm.h"
#include "kernel/vm_api.h"
#include "net/mgmt_tcp.h"

#define EVENT_MAX 2048
#define EVENT_QUEUE_MAX (256 * 1024)

static char buf[EVENT_MAX];
static struct json_out ev;
static bool open_event;

static void count(struct mgmt_conn *c, void *ctx)
{
	(void)c;
	(*(unsigned *)ctx)++;
}

struct json_out *mgmt_event_begin(const char *event)
{
	unsigned listeners = 0;

	mgmt_conn_each_authed(count, &listeners);
	if (!listeners || open_event)
		return NULL;
	open_event = true;
	jo_init(&ev, buf, sizeof(buf));
	jo_obj_begin(&ev);
	jo_key(&ev, "event");
	jo_str(&ev, event);
	jo_key(&ev, "data");
	jo_obj_begin(&ev);
	return &ev;
}

static void timestamp(struct json_out *o)
{
	uint64_t ns = wallclock_ns();
	jo_key(o, "timestamp");
	jo_obj_begin(o);
	jo_key(o, "seconds");
	jo_u64(o, ns / 1000000000u);
	jo_key(o, "microseconds");
	jo_u64(o, ns / 1000 % 1000000);
	jo_obj_end(o);
}

static void deliver(struct mgmt_conn *c, void *ctx)
{
	struct json_out *o = ctx;
	struct mgmt_session *s = mgmt_conn_state(c);

	if (!s)
		return;
	if (mgmt_conn_queued(c) + o->len + 256 > EVENT_QUEUE_MAX) {
		s->events_lost++;
		return;
	}
	if (s->events_lost) {
		char lost[200];
		struct json_out l;
		jo_init(&l, lost, sizeof(lost));
		jo_obj_begin(&l);
		jo_key(&l, "event");
		jo_str(&l, "EVENTS_LOST");
		jo_key(&l, "data");
		jo_obj_begin(&l);
		jo_key(&l, "count");
		jo_u64(&l, s->events_lost);
		jo_obj_end(&l);
		timestamp(&l);
		jo_obj_end(&l);
		jo_nl(&l);
		s->events_lost = 0;
		if (!mgmt_conn_send(c, lost, l.len))
			return;
	}
	mgmt_conn_send(c, o->buf, o->len);
}

void mgmt_event_end(struct json_out *o)
{
	jo_obj_end(o); /* data */
	timestamp(o);
	jo_obj_end(o);
	jo_nl(o);
	open_event = false;
	if (!o->overflow) /* never half a line: cannot happen with today's events */
		mgmt_conn_each_authed(deliver, o);
}

/* ---- guests' states ----------------------------------------------------------------- */

static struct {
	const struct vm *vm;
	char name[VM_NAME_MAX];
	enum vm_state state;
} seen[VM_MAX];

static void vm_state_event(const char *name, const char *state, const char *reason)
{
	struct json_out *o = mgmt_event_begin("VM_STATE");
	if (!o)
		return;
	jo_key(o, "name");
	jo_str(o, name);
	jo_key(o, "state");
	jo_str(o, state);
	jo_key(o, "reason");
	if (reason && *reason)
		jo_str(o, reason);
	else
		jo_raw(o, "null");
	mgmt_event_end(o);
}

static bool watch_poll(void)
{
	for (int k = 0; k < VM_MAX; k++) {
		struct vm *vm = vm_at(k);
		bool same = vm && seen[k].vm == vm && !strcmp(seen[k].name, vm->name);
		if (seen[k].vm && !same) {
			vm_state_event(seen[k].name, "gone", NULL);
			seen[k].vm = NULL;
		}
		if (!vm || (same && seen[k].state == vm->state))
			continue;
		seen[k].vm = vm;
		snprintf(seen[k].name, sizeof(seen[k].name), "%s", vm->name);
		seen[k].state = vm->state;
		bool stopped = vm->state == VM_STOPPED;
		vm_state_event(vm->name, vm_state_name(vm->state), stopped ? vm->stop_reason : NULL);
		struct json_out *o = stopped ? mgmt_event_begin("GUEST_FAULT") : NULL;
		if (o) {
			jo_key(o, "name");
			jo_str(o, vm->name);
			jo_key(o, "reason");
			jo_str(o, vm->stop_reason);
			mgmt_event_end(o);
		}
	}
	return false; /* noticing is not work: the loop may halt */
}

void mgmt_events_init(void)
{
	static bool added;
	if (!added && !loop_add("events", watch_poll))
		added = true;
}
