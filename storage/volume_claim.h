/* Which VM uses which volume: a mark in memory only (a reboot starts with
 * none, as no guest runs then), kept by volume id, which is unique on the
 * table and never reused while the table lives. A volume may be claimed
 * by one VM at a time; `disk delete` and `disk init force` are refused
 * while a claim stands. */
#pragma once
#include <stdint.h>

#define VOLUME_CLAIMS_MAX 16 /* more than VMs a host runs (VM_MAX) */
#define VOLUME_OWNER_MAX 32

/* 0; -EBUSY when another owner holds it (volume_user says who), -ENOSPC
 * when every slot is taken. Claiming again for the same owner is 0. */
int volume_claim(uint64_t id, const char *owner);
/* Nothing when the volume is not claimed. */
void volume_release(uint64_t id);
/* The owner's name, or NULL when the volume is free. */
const char *volume_user(uint64_t id);
/* How many volumes are claimed. */
unsigned volume_claims(void);
