#pragma once
#include <stddef.h>

extern char captured[65536];
extern size_t captured_len;
void captured_reset(void);
