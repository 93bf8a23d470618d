/* Tern's options without its LWIP_CHKSUM: built with these, lwIP's
 * inet_chksum.c compiles its own lwip_standard_chksum (algorithm 2, the
 * default Tern replaced), the reference tests/unit/net/test_inet_sum.c
 * checks net/inet_sum.c against. */
#ifndef TERN_TEST_CHKSUM_REF_LWIPOPTS_H
#define TERN_TEST_CHKSUM_REF_LWIPOPTS_H

#include "net/lwipopts.h"

#undef LWIP_CHKSUM

#endif /* TERN_TEST_CHKSUM_REF_LWIPOPTS_H */
