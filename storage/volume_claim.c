/* In-use marks on volumes (volume_claim.h). A few slots, searched whole:
 * this runs from console commands, never on an I/O path. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "storage/volume_claim.h"

static struct {
	uint64_t id; /* 0: a free slot (volume ids start at 1) */
	char owner[VOLUME_OWNER_MAX];
} claims[VOLUME_CLAIMS_MAX];

const char *volume_user(uint64_t id)
{
	for (unsigned i = 0; id && i < VOLUME_CLAIMS_MAX; i++)
		if (claims[i].id == id)
			return claims[i].owner;
	return NULL;
}

int volume_claim(uint64_t id, const char *owner)
{
	const char *user = volume_user(id);

	if (!id)
		return -EINVAL;
	if (user)
		return strcmp(user, owner) ? -EBUSY : 0;
	for (unsigned i = 0; i < VOLUME_CLAIMS_MAX; i++)
		if (!claims[i].id) {
			claims[i].id = id;
			snprintf(claims[i].owner, sizeof(claims[i].owner), "%s", owner);
			return 0;
		}
	return -ENOSPC;
}

void volume_release(uint64_t id)
{
	for (unsigned i = 0; id && i < VOLUME_CLAIMS_MAX; i++)
		if (claims[i].id == id)
			claims[i].id = 0;
}

unsigned volume_claims(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < VOLUME_CLAIMS_MAX; i++)
		n += claims[i].id != 0;
	return n;
}
