/* What kernel/migrate_cmd.c tells the management API about migrations:
 * those in progress, the incoming policy, and the last ones that ended. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "kernel/vm.h"
#include "migrate/migrate.h"
#include "migrate/send.h"

struct migrate_session {
	bool out;
	char name[VM_NAME_MAX]; /* empty: an incoming one still in its pre-check */
	char peer[24];		/* out: "IP:PORT" */
	uint64_t elapsed_ms;
	struct mig_send_status st; /* out only */
};

struct migrate_listen {
	bool listening, key_set, insecure;
	uint16_t port;
};

/* Up to max sessions (the outgoing one first), and the incoming policy. */
int migrate_sessions(struct migrate_session *s, int max, struct migrate_listen *l);

#define MIGRATE_HISTORY 8

struct migrate_ended {
	uint64_t when_ms; /* since boot */
	bool out;
	char name[VM_NAME_MAX];
	char peer[24];
	enum mig_result result;
	char reason[200]; /* empty when it completed */
};

/* The last migrations that ended, oldest first; how many. */
int migrate_history_get(struct migrate_ended *h, int max);
/* Records a migration that ended (name, peer and why are copied; peer
 * NULL for an incoming one) and sends MIGRATION_END; downtime_us
 * UINT64_MAX when not known. */
void migrate_ended(bool out, enum mig_result res, const char *name, const char *peer,
		   const char *why, uint64_t total_us, uint64_t bytes, uint64_t downtime_us);
/* `migrate history`: the lines, or "no migrations yet". */
int migrate_history_print(void);
