/* The TPM driver's udev hint (registry.h drivers_hint): a TPM that was not
 * there when the driver started is opened at once when a tpmrm device
 * arrives, not at the end of the driver's back-off. Run by hint.sh, which
 * stops the swtpm before and restarts it on the signal:
 *   test_tpm_hint SYNC_DIR      (TOKEND_TEST_TCTI set)
 * SYNC_DIR/ready: the driver failed its tries for a while (its back-off
 * is now seconds); SYNC_DIR/restarted: the TPM answers again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drv_config.h"
#include "hotplug.h"
#include "registry.h"

static int fail(const char *why)
{
	fprintf(stderr, "FAIL: %s\n", why);
	return 1;
}

/* Waits up to ms for the TPM token's arrival; its delay, or -1. */
static long arrival_ms(struct hotplug_queue *q, unsigned ms)
{
	uint64_t t0 = hotplug_now_ms(), now;
	struct hotplug_msg m;

	while ((now = hotplug_now_ms()) - t0 < ms) {
		hotplug_queue_wait(q, (int)(ms - (now - t0)));
		while (hotplug_queue_pop(q, &m) == 1)
			if (m.ev == HOTPLUG_ARRIVED &&
			    strcmp(m.id, "tpm:TPM") == 0)
				return (long)(hotplug_now_ms() - t0);
	}
	return -1;
}

int main(int argc, char **argv)
{
	const char *tcti = getenv("TOKEND_TEST_TCTI");
	struct drv_config *cfg = NULL;
	struct tk_driver **drv = NULL;
	struct hotplug_queue *q = NULL;
	struct hotplug_msg hint = { .ev = HOTPLUG_ARRIVED,
				    .kind = HOTPLUG_TPM };
	char path[512], state[512];
	size_t n = 0;
	long ms;
	int rc = 1;

	if (argc != 2 || !tcti)
		return fail("usage: test_tpm_hint SYNC_DIR (TOKEND_TEST_TCTI)");
	snprintf(state, sizeof(state), "%s/state", argv[1]);
	if (drv_config_new(&cfg) || hotplug_queue_new(&q))
		return fail("out of memory");
	cfg->piv.enabled = false;
	cfg->tpm.tcti = strdup(tcti);
	cfg->tpm.state = strdup(state);
	if (drivers_from_config(cfg, &drv, &n) || n != 1)
		return fail("no TPM driver");
	drivers_watch(drv, n, q);
	if (arrival_ms(q, 4000) >= 0) {
		fail("the TPM token arrived while swtpm was stopped");
		goto out;
	}
	snprintf(path, sizeof(path), "%s/ready", argv[1]);
	fclose(fopen(path, "w"));
	snprintf(path, sizeof(path), "%s/restarted", argv[1]);
	for (int i = 0; i < 200 && access(path, F_OK) != 0; i++)
		usleep(50000);
	if (access(path, F_OK) != 0) {
		fail("swtpm was not restarted");
		goto out;
	}
	snprintf(hint.id, sizeof(hint.id), "tpmrm0");
	drivers_hint(drv, n, &hint);
	ms = arrival_ms(q, 5000);
	printf("the TPM token arrived %ld ms after the hint\n", ms);
	/* Without the hint the next try would be seconds away (back-off
	 * 0.25, 0.5, 1, 2, 4 s: after 4 s of failures, at 7.75 s). */
	if (ms < 0 || ms > 1000)
		fail("the hint did not make the driver open the TPM at once");
	else
		rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		drv[i]->ops->free(drv[i]);
	free(drv);
	drv_config_free(&cfg);
	hotplug_queue_free(&q);
	return rc;
}
