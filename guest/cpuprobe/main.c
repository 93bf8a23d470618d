/* cpuprobe's entry: its own descriptor tables, then the probes (the
 * default), mode=dbstorm or mode=mmio. */
#include "cpuprobe.h"
#include "common/boot.h"
#include "common/cmdline.h"
#include "common/cpu.h"
#include "common/uart.h"

const char guest_name[] = "cpuprobe";

void guest_main(const struct boot_info *boot)
{
	const char *pos = boot->cmdline;
	struct cmdline_word w;
	bool storm = false, mmio = false;
	uint64_t spin = 300;

	while (cmdline_next(&pos, &w)) {
		if (strv_is(w.key, "mode") && strv_is(w.value, "dbstorm"))
			storm = true;
		else if (strv_is(w.key, "mode") && strv_is(w.value, "mmio"))
			mmio = true;
		else if (strv_is(w.key, "spin_ms") && strv_to_u64(w.value, &spin) == 0)
			continue;
		else if (strv_is(w.key, "mode") && !strv_is(w.value, "probe")) {
			uart_printf("cpuprobe: error: mode=probe|dbstorm|mmio, spin_ms=N\n");
			return;
		}
	}
	cpu_setup();
	if (storm)
		probes_dbstorm();
	if (mmio) {
		probes_mmio();
		return;
	}
	uart_printf("cpuprobe: start\n");
	probes_run(spin);
	uart_printf("cpuprobe: done\n");
}
