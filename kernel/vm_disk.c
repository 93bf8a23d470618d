/* A guest's disk on a volume of the host's NVMe disk (vm_disk.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kernel/log.h"
#include "kernel/vm_disk.h"
#include "storage/crc32c.h"
#include "storage/storage.h"
#include "storage/volume_claim.h"

/* The reasons that name a volume or a VM are formatted here: one console
 * command runs at a time. */
static char why_buf[320];

static const char *say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why_buf, sizeof(why_buf), fmt, ap);
	va_end(ap);
	return why_buf;
}

/* The volume VOLUME as it can be a disk, or NULL with *why and *rc. */
static const struct voltab_volume *usable(const char *volume, const char **why, int *rc)
{
	struct storage_disk *s = storage_disk();
	char problem[256];

	*rc = -ENODEV;
	if (!s->dev) {
		*why = s->probe_rc ? say("disk=%s: the NVMe controller failed to start (see 'log')",
					 volume)
				   : say("disk=%s: this host has no NVMe disk", volume);
		return NULL;
	}
	if (s->tab.load_rc) {
		*why = say("disk=%s: %s: %s", volume, s->dev->name,
			   storage_table_problem(s, problem, sizeof(problem)));
		return NULL;
	}
	const struct voltab_volume *v = voltab_find(&s->tab, volume);
	*rc = -ENOENT;
	if (!v) {
		*why = say("disk=%s: no such volume (see 'disk list')", volume);
		return NULL;
	}
	*rc = -EBUSY;
	const char *user = volume_user(v->id);
	if (user) {
		*why = say("disk=%s: the volume is in use by VM %s", volume, user);
		return NULL;
	}
	/* A clone's base must never change under its clones: no guest gets it,
	 * not even read-only, until clones say how a base is shared. */
	*rc = -EROFS;
	if (v->flags & VOLTAB_VOL_READONLY) {
		*why = say("disk=%s: the volume is read-only (a base for clones): no guest may "
			   "use it",
			   volume);
		return NULL;
	}
	*rc = 0;
	return v;
}

int vm_disk_check(const char *volume, const char **why)
{
	int rc;

	usable(volume, why, &rc);
	return rc;
}

void vm_disk_serial(const char *volume, char serial[VBLK_ID_BYTES])
{
	size_t n = strlen(volume);

	memset(serial, 0, VBLK_ID_BYTES);
	if (n <= VBLK_ID_BYTES) {
		memcpy(serial, volume, n);
		return;
	}
	char tail[10];
	snprintf(tail, sizeof(tail), "-%08x", (unsigned)crc32c_update(0, volume, n));
	memcpy(serial, volume, VBLK_ID_BYTES - 9);
	memcpy(serial + VBLK_ID_BYTES - 9, tail, 9);
}

int vm_disk_device_create(struct vm *vm)
{
	if (!vm->disk.on)
		return 0;
	return vblk_init(&vm->disk.dev, vm, &vm->pci, VBLK_PCI_DEV, &vm->disk.cfg);
}

void vm_disk_device_release(struct vm *vm)
{
	if (vm->disk.on)
		vblk_destroy(&vm->disk.dev);
}

int vm_disk_attach(struct vm *vm, const char *volume, const char **why)
{
	struct storage_disk *s = storage_disk();
	struct vm_disk *d = &vm->disk;
	int rc;

	const struct voltab_volume *v = usable(volume, why, &rc);
	if (!v)
		return rc;
	if ((rc = volume_claim(v->id, vm->name))) {
		*why = say("disk=%s: too many volumes in use", volume);
		return rc;
	}
	memset(d, 0, sizeof(*d));
	d->on = true;
	d->vol_id = v->id;
	snprintf(d->volume, sizeof(d->volume), "%s", v->name);
	d->cfg = (struct vblk_disk){
		.dev = s->dev,
		.start = v->start_lba,
		.blocks = v->size / s->dev->block_size,
	};
	vm_disk_serial(v->name, d->cfg.serial);
	if ((rc = vm_disk_device_create(vm))) {
		*why = say("disk=%s: the virtio-blk device could not be made (out of memory?)",
			   volume);
		volume_release(d->vol_id);
		memset(d, 0, sizeof(*d));
		return rc;
	}
	log_info("vm", "%s: disk %s, %lu MiB at LBA %lu of %s", vm->name, d->volume, v->size >> 20,
		 v->start_lba, s->dev->name);
	return 0;
}

void vm_disk_detach(struct vm *vm)
{
	if (!vm->disk.on)
		return;
	vm_disk_device_release(vm);
	volume_release(vm->disk.vol_id);
	memset(&vm->disk, 0, sizeof(vm->disk));
}
