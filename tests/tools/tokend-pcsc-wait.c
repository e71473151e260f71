/* tokend-pcsc-wait: waits until pcscd sees a reader in a given state.
 *
 *   tokend-pcsc-wait --reader NAME (--present|--absent|--listed) [--timeout
 * SEC]
 *
 * --present: a card is in the reader; --absent: no card (or no such reader);
 * --listed: the reader exists. pcscd not running yet (SCARD_E_NO_SERVICE) is
 * retried until the timeout. Exit 0 when reached, 1 on timeout, 2 on usage. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>

#define PROG "tokend-pcsc-wait"
#define RETRY_MS 100
#define WAIT_SLICE_MS 500

enum mode { MODE_NONE, MODE_PRESENT, MODE_ABSENT, MODE_LISTED };

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " --reader NAME (--present|--absent|--listed)"
		   " [--timeout SEC]\n");
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* 1 listed, 0 not listed, -1 on a pcsc-lite error. */
static int reader_listed(SCARDCONTEXT ctx, const char *name)
{
	LPSTR list = NULL;
	DWORD len = SCARD_AUTOALLOCATE;
	LONG rv;
	int found = 0;

	rv = SCardListReaders(ctx, NULL, (LPSTR)&list, &len);
	if (rv == SCARD_E_NO_READERS_AVAILABLE)
		return 0;
	if (rv != SCARD_S_SUCCESS)
		return -1;
	for (const char *p = list; p && *p; p += strlen(p) + 1)
		if (strcmp(p, name) == 0)
			found = 1;
	SCardFreeMemory(ctx, list);
	return found;
}

static bool state_reached(enum mode mode, DWORD st)
{
	bool present = (st & SCARD_STATE_PRESENT) && !(st & SCARD_STATE_MUTE);

	return mode == MODE_PRESENT ? present : !(st & SCARD_STATE_PRESENT);
}

/* One attempt within an established context. 0 reached, 1 not yet,
 * -1 when the context must be re-established (pcscd went away). */
static int wait_once(SCARDCONTEXT ctx, const char *name, enum mode mode,
		     long long deadline)
{
	SCARD_READERSTATE rs;
	long long left;
	LONG rv;
	int listed;

	listed = reader_listed(ctx, name);
	if (listed < 0)
		return -1;
	if (listed == 0)
		return mode == MODE_ABSENT ? 0 : 1;
	if (mode == MODE_LISTED)
		return 0;
	memset(&rs, 0, sizeof(rs));
	rs.szReader = name;
	rs.dwCurrentState = SCARD_STATE_UNAWARE;
	rv = SCardGetStatusChange(ctx, 0, &rs, 1);
	while (rv == SCARD_S_SUCCESS || rv == SCARD_E_TIMEOUT) {
		if (rv == SCARD_S_SUCCESS) {
			if (rs.dwEventState & SCARD_STATE_UNKNOWN)
				return 1; /* the reader went away meanwhile */
			if (state_reached(mode, rs.dwEventState))
				return 0;
			rs.dwCurrentState =
			    rs.dwEventState & ~SCARD_STATE_CHANGED;
		}
		left = deadline - now_ms();
		if (left <= 0)
			return 1;
		rv = SCardGetStatusChange(
		    ctx, left < WAIT_SLICE_MS ? (DWORD)left : WAIT_SLICE_MS,
		    &rs, 1);
		if (rv == SCARD_E_TIMEOUT)
			return 1; /* list the readers again */
	}
	if (rv == SCARD_E_UNKNOWN_READER)
		return 1;
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reader", required_argument, NULL, 'r' },
		{ "present", no_argument, NULL, 'p' },
		{ "absent", no_argument, NULL, 'a' },
		{ "listed", no_argument, NULL, 'l' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL;
	enum mode mode = MODE_NONE;
	double timeout = 10;
	SCARDCONTEXT ctx = 0;
	bool have_ctx = false;
	long long deadline;
	char *end;
	int c, rv;

	while ((c = getopt_long(argc, argv, "r:palt:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			name = optarg;
			break;
		case 'p':
		case 'a':
		case 'l':
			if (mode != MODE_NONE) {
				usage(stderr);
				return 2;
			}
			mode = c == 'p'   ? MODE_PRESENT
			       : c == 'a' ? MODE_ABSENT
					  : MODE_LISTED;
			break;
		case 't':
			timeout = strtod(optarg, &end);
			if (*end || timeout < 0 || timeout > 86400) {
				usage(stderr);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!name || mode == MODE_NONE || optind != argc) {
		usage(stderr);
		return 2;
	}

	deadline = now_ms() + (long long)(timeout * 1000);
	for (;;) {
		if (!have_ctx) {
			have_ctx = SCardEstablishContext(SCARD_SCOPE_SYSTEM,
							 NULL, NULL, &ctx) ==
				   SCARD_S_SUCCESS;
		}
		rv = have_ctx ? wait_once(ctx, name, mode, deadline) : 1;
		if (rv == 0)
			break;
		if (rv < 0) { /* pcscd went away or restarted: start over */
			SCardReleaseContext(ctx);
			have_ctx = false;
		}
		if (now_ms() >= deadline) {
			fprintf(stderr,
				PROG ": timed out waiting for '%s' to be %s\n",
				name,
				mode == MODE_PRESENT  ? "present"
				: mode == MODE_ABSENT ? "absent"
						      : "listed");
			if (have_ctx)
				SCardReleaseContext(ctx);
			return 1;
		}
		sleep_ms(RETRY_MS);
	}
	if (have_ctx)
		SCardReleaseContext(ctx);
	return 0;
}
