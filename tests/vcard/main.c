/* tokend-vcard: a virtual YubiKey 5 for vsmartcard's vpcd reader.
 *
 * main.c owns the command line and the event loop: one poll() over a
 * signalfd and the vpcd socket. SIGTERM/SIGINT end it cleanly, SIGUSR1
 * pulls the key (closes the socket and stays away), SIGUSR2 re-inserts it. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "front.h"
#include "hex.h"

#define PROG "tokend-vcard"
#define RETRY_MS 100

/* YubiKey 5 NFC. */
static const uint8_t yk5_atr[] = {
	0x3B, 0xFD, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15, 0x80, 0x73, 0xC0,
	0x21, 0xC0, 0x57, 0x59, 0x75, 0x62, 0x69, 0x4B, 0x65, 0x79, 0x40,
};

/* --plain-piv: a generic T=1 PIV card (historical bytes "PIV card"). */
static const uint8_t plain_atr[] = {
	0x3B, 0xF8, 0x13, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x15,
	0x50, 0x49, 0x56, 0x20, 0x63, 0x61, 0x72, 0x64, 0xCB,
};

enum {
	VPCD_POWER_OFF = 0,
	VPCD_POWER_ON = 1,
	VPCD_RESET = 2,
	VPCD_GET_ATR = 4
};

struct front_cfg {
	uint16_t port;
	const char *apdu_log;
	const char *pid_file;
	unsigned apdu_delay_ms;
	unsigned keyop_delay_ms;
	bool plain_piv;
	struct fault fault;
};

struct front_ctx {
	const struct front_cfg *cfg;
	struct vcard_app *app;
	struct apdu_front *apdu;
	struct vpcd *vpcd;
	FILE *log;
	struct buf rapdu;
	struct fault fault;
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: " PROG
	    " [--port N] [--serial N] [--firmware X.Y.Z] [--state FILE]\n"
	    "       [--apdu-log FILE] [--pin P] [--puk P] [--mgm-key HEX]\n"
	    "       [--mgm-alg 3des|aes128|aes192|aes256] [--apdu-delay-ms N]\n"
	    "       [--keyop-delay-ms N] [--pid-file FILE] [--plain-piv]\n"
	    "       [--fault none|garble|truncate|bad-sw|overlong] "
	    "[--fault-ins HEX]\n"
	    "       [--fault-file FILE]\n"
	    "Connects to vpcd on 127.0.0.1:PORT (35963 = \"Virtual PCD 00 "
	    "00\",\n"
	    "35964 = \"Virtual PCD 00 01\"). SIGUSR1 pulls the key, SIGUSR2\n"
	    "re-inserts it, SIGTERM/SIGINT end it. Defaults: serial 10000001 "
	    "on\n"
	    "35963 and 10000002 on 35964, firmware 5.7.2, PIN 123456, PUK\n"
	    "12345678, the YubiKey default management key (AES-192 from 5.7).\n"
	    "--plain-piv answers as a standard PIV card: no YubiKey "
	    "instructions\n"
	    "(6D00), a CHUID with GUID and FASC-N, a 3DES management key.\n"
	    "--fault breaks the responses to INS --fault-ins (default: all);\n"
	    "--fault-file names a file \"MODE [INS]\" read before every "
	    "response\n"
	    "that overrides --fault while it exists.\n");
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_fw(const char *s, uint8_t fw[3])
{
	unsigned a, b, c;
	char tail;

	if (sscanf(s, "%u.%u.%u%c", &a, &b, &c, &tail) != 3 || a > 255 ||
	    b > 255 || c > 255)
		return -1;
	fw[0] = (uint8_t)a;
	fw[1] = (uint8_t)b;
	fw[2] = (uint8_t)c;
	return 0;
}

static int parse_hex(const char *s, uint8_t *out, size_t max, size_t *len)
{
	size_t n = strlen(s);

	return n == 0 ? -1 : hex_decode(s, n, out, max, len);
}

static const struct {
	const char *name;
	uint8_t alg;
	size_t key_len;
} mgm_algs[] = {
	{ "3des", VCARD_MGM_3DES, 24 },
	{ "aes128", VCARD_MGM_AES128, 16 },
	{ "aes192", VCARD_MGM_AES192, 24 },
	{ "aes256", VCARD_MGM_AES256, 32 },
};

static int parse_pin(const char *s, char out[9])
{
	size_t n = strlen(s);

	if (n < 6 || n > 8)
		return -1;
	memcpy(out, s, n + 1);
	return 0;
}

static int check_mgm(struct vcard_opts *o)
{
	bool fw54 = o->fw[0] > 5 || (o->fw[0] == 5 && o->fw[1] >= 4);
	size_t want = 24;

	for (size_t i = 0; i < sizeof(mgm_algs) / sizeof(mgm_algs[0]); i++)
		if (mgm_algs[i].alg == o->mgm_alg)
			want = mgm_algs[i].key_len;
	if (o->mgm_alg && o->mgm_alg != VCARD_MGM_3DES && !fw54) {
		fprintf(stderr, PROG
			": AES management keys need firmware 5.4 or later\n");
		return -1;
	}
	if (o->mgm_key_len != want) {
		fprintf(stderr,
			PROG
			": --mgm-key must be %zu bytes for this algorithm\n",
			want);
		return -1;
	}
	return 0;
}

enum {
	OPT_PORT = 256,
	OPT_SERIAL,
	OPT_FW,
	OPT_STATE,
	OPT_LOG,
	OPT_PIN,
	OPT_PUK,
	OPT_MGM_KEY,
	OPT_MGM_ALG,
	OPT_APDU_DELAY,
	OPT_KEYOP_DELAY,
	OPT_PID,
	OPT_PLAIN,
	OPT_FAULT,
	OPT_FAULT_INS,
	OPT_FAULT_FILE,
	OPT_HELP,
};

static const struct option long_opts[] = {
	{ "port", required_argument, NULL, OPT_PORT },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "firmware", required_argument, NULL, OPT_FW },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "apdu-log", required_argument, NULL, OPT_LOG },
	{ "pin", required_argument, NULL, OPT_PIN },
	{ "puk", required_argument, NULL, OPT_PUK },
	{ "mgm-key", required_argument, NULL, OPT_MGM_KEY },
	{ "mgm-alg", required_argument, NULL, OPT_MGM_ALG },
	{ "apdu-delay-ms", required_argument, NULL, OPT_APDU_DELAY },
	{ "keyop-delay-ms", required_argument, NULL, OPT_KEYOP_DELAY },
	{ "pid-file", required_argument, NULL, OPT_PID },
	{ "plain-piv", no_argument, NULL, OPT_PLAIN },
	{ "fault", required_argument, NULL, OPT_FAULT },
	{ "fault-ins", required_argument, NULL, OPT_FAULT_INS },
	{ "fault-file", required_argument, NULL, OPT_FAULT_FILE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static int parse_one(int c, const char *arg, struct vcard_opts *o,
		     struct front_cfg *cfg)
{
	unsigned long v;
	size_t i;

	switch (c) {
	case OPT_PORT:
		if (parse_ulong(arg, 65535, &v) || v == 0)
			return -1;
		cfg->port = (uint16_t)v;
		return 0;
	case OPT_SERIAL:
		if (parse_ulong(arg, UINT32_MAX, &v))
			return -1;
		o->serial = (uint32_t)v;
		return 0;
	case OPT_FW:
		return parse_fw(arg, o->fw);
	case OPT_STATE:
		o->state_path = arg;
		return 0;
	case OPT_LOG:
		cfg->apdu_log = arg;
		return 0;
	case OPT_PIN:
		return parse_pin(arg, o->pin);
	case OPT_PUK:
		return parse_pin(arg, o->puk);
	case OPT_MGM_KEY:
		return parse_hex(arg, o->mgm_key, sizeof(o->mgm_key),
				 &o->mgm_key_len);
	case OPT_MGM_ALG:
		for (i = 0; i < sizeof(mgm_algs) / sizeof(mgm_algs[0]); i++) {
			if (strcmp(arg, mgm_algs[i].name) == 0) {
				o->mgm_alg = mgm_algs[i].alg;
				return 0;
			}
		}
		return -1;
	case OPT_APDU_DELAY:
	case OPT_KEYOP_DELAY:
		if (parse_ulong(arg, 600000, &v))
			return -1;
		if (c == OPT_APDU_DELAY)
			cfg->apdu_delay_ms = (unsigned)v;
		else
			cfg->keyop_delay_ms = (unsigned)v;
		return 0;
	case OPT_PID:
		cfg->pid_file = arg;
		return 0;
	case OPT_PLAIN:
		o->plain_piv = cfg->plain_piv = true;
		return 0;
	case OPT_FAULT:
		return fault_mode_parse(arg, &cfg->fault.mode);
	case OPT_FAULT_INS: {
		uint8_t ins;

		if (parse_hex(arg, &ins, 1, &i) != 0)
			return -1;
		cfg->fault.ins = ins;
		return 0;
	}
	case OPT_FAULT_FILE:
		cfg->fault.file = arg;
		return 0;
	}
	return -1;
}

/* 0 ok, 1 exit 0 (help), -1 usage error. */
static int parse_args(int argc, char **argv, struct vcard_opts *o,
		      struct front_cfg *cfg)
{
	static const uint8_t default_mgm[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	int c;

	memset(o, 0, sizeof(*o));
	memset(cfg, 0, sizeof(*cfg));
	cfg->port = 35963;
	cfg->fault.ins = -1;
	o->serial = 0; /* 0: derived from the port below */
	o->fw[0] = 5;
	o->fw[1] = 7;
	o->fw[2] = 2;
	strcpy(o->pin, "123456");
	strcpy(o->puk, "12345678");
	for (size_t i = 0; i < 3; i++)
		memcpy(o->mgm_key + 8 * i, default_mgm, 8);
	o->mgm_key_len = 24;

	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (c == 'h' || c == OPT_HELP) {
			usage(stdout);
			return 1;
		}
		if (parse_one(c, optarg, o, cfg) != 0) {
			if (c != '?')
				fprintf(stderr,
					PROG ": bad value for --%s: %s\n",
					long_opts[c - OPT_PORT].name, optarg);
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, PROG ": unexpected argument: %s\n",
			argv[optind]);
		usage(stderr);
		return -1;
	}
	/* Two cards in vpcd's two readers must not share a serial, or tools
	 * that pick a token by label pick the wrong one. */
	if (o->serial == 0)
		o->serial = 10000001u + (uint32_t)(cfg->port - 35963) % 100u;
	return check_mgm(o) ? -1 : 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void card_reset(struct front_ctx *c)
{
	vcard_app_reset(c->app);
	apdu_front_reset(c->apdu);
}

static void link_down(struct front_ctx *c, const char *why)
{
	if (!vpcd_connected(c->vpcd))
		return;
	vpcd_close(c->vpcd);
	card_reset(c);
	fprintf(stderr, PROG ": disconnected from vpcd port %u (%s)\n",
		(unsigned)c->cfg->port, why);
}

/* One message from vpcd. -1 when the link must be dropped. */
static int handle_msg(struct front_ctx *c, const uint8_t *msg, size_t len)
{
	bool key_op = false;
	int rc;

	if (len == 1) {
		switch (msg[0]) {
		case VPCD_POWER_OFF:
		case VPCD_POWER_ON:
		case VPCD_RESET:
			card_reset(c);
			return 0;
		case VPCD_GET_ATR:
			if (c->cfg->plain_piv)
				return vpcd_send(c->vpcd, plain_atr,
						 sizeof(plain_atr));
			return vpcd_send(c->vpcd, yk5_atr, sizeof(yk5_atr));
		}
		return 0; /* unknown control byte: ignored, as vicc does */
	}
	if (len == 0)
		return 0;
	if (c->cfg->apdu_delay_ms)
		sleep_ms(c->cfg->apdu_delay_ms);
	buf_reset(&c->rapdu);
	apdu_front_process(c->apdu, msg, len, &c->rapdu, &key_op);
	if (buf_failed(&c->rapdu)) {
		buf_reset(&c->rapdu);
		buf_add_u16be(&c->rapdu, 0x6F00);
	}
	if (key_op && c->cfg->keyop_delay_ms) {
		/* Tests wait for this line to know an operation is in the
		 * card (its stderr is vcard_dir's stderr.log). */
		fprintf(stderr, "key operation: %u ms\n",
			c->cfg->keyop_delay_ms);
		fflush(stderr);
		sleep_ms(c->cfg->keyop_delay_ms);
	}
	fault_apply(&c->fault, msg, len, &c->rapdu);
	apdu_log_write(c->log, msg, len, c->rapdu.data, c->rapdu.len);
	rc = vpcd_send(c->vpcd, c->rapdu.data, c->rapdu.len);
	buf_reset(&c->rapdu);
	return rc;
}

static void drain_socket(struct front_ctx *c)
{
	const uint8_t *msg;
	size_t len;
	int rc;

	for (;;) {
		rc = vpcd_read(c->vpcd, &msg, &len);
		if (rc == 0)
			return;
		if (rc < 0) {
			link_down(c, "closed by peer");
			return;
		}
		if (handle_msg(c, msg, len) != 0) {
			link_down(c, "send failed");
			return;
		}
	}
}

/* Returns false when the loop should end. */
static bool handle_signals(struct front_ctx *c, int sfd, bool *pulled)
{
	struct signalfd_siginfo si;
	bool run = true;

	while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			run = false;
			break;
		case SIGUSR1:
			*pulled = true;
			link_down(c, "pulled");
			break;
		case SIGUSR2:
			*pulled = false;
			break;
		}
	}
	return run;
}

static int event_loop(struct front_ctx *c, int sfd)
{
	struct pollfd pfd[2];
	bool pulled = false, run = true;
	nfds_t n;
	int rc;

	while (run) {
		if (!pulled && !vpcd_connected(c->vpcd) &&
		    vpcd_connect(c->vpcd) == 0) {
			card_reset(c);
			fprintf(stderr,
				PROG ": connected to vpcd on 127.0.0.1:%u\n",
				(unsigned)c->cfg->port);
		}
		pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		n = 1;
		if (vpcd_connected(c->vpcd)) {
			pfd[1] = (struct pollfd){ .fd = vpcd_fd(c->vpcd),
						  .events = POLLIN };
			n = 2;
		}
		rc = poll(pfd, n, !pulled && n == 1 ? RETRY_MS : -1);
		if (rc < 0 && errno != EINTR) {
			perror(PROG ": poll");
			return -1;
		}
		if (rc <= 0)
			continue;
		if (pfd[0].revents & POLLIN)
			run = handle_signals(c, sfd, &pulled);
		if (run && n == 2 && vpcd_connected(c->vpcd) && pfd[1].revents)
			drain_socket(c);
	}
	return 0;
}

static int write_pid(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f);
}

int main(int argc, char **argv)
{
	struct vcard_opts opts;
	struct front_cfg cfg;
	struct front_ctx c = { 0 };
	sigset_t set;
	int sfd = -1, rc, ret = 1;
	bool pid_written = false;

	rc = parse_args(argc, argv, &opts, &cfg);
	if (rc)
		return rc > 0 ? 0 : 2;
	c.cfg = &cfg;
	c.fault = cfg.fault;
	buf_init(&c.rapdu, 65537);

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
	    (sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		perror(PROG ": signalfd");
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);

	if (cfg.apdu_log) {
		c.log = fopen(cfg.apdu_log, "a");
		if (!c.log) {
			fprintf(stderr, PROG ": %s: %s\n", cfg.apdu_log,
				strerror(errno));
			goto out;
		}
	}
	c.app = vcard_app_new(&opts);
	c.apdu = c.app ? apdu_front_new(c.app) : NULL;
	c.vpcd = vpcd_new(cfg.port);
	if (!c.app || !c.apdu || !c.vpcd)
		goto out;
	if (cfg.pid_file && write_pid(cfg.pid_file) != 0) {
		fprintf(stderr, PROG ": %s: %s\n", cfg.pid_file,
			strerror(errno));
		goto out;
	}
	pid_written = cfg.pid_file != NULL;
	if (event_loop(&c, sfd) == 0)
		ret = 0;
	link_down(&c, "exiting");
out:
	if (pid_written)
		unlink(cfg.pid_file);
	vpcd_free(&c.vpcd);
	apdu_front_free(&c.apdu);
	vcard_app_free(&c.app);
	if (c.log)
		fclose(c.log);
	buf_free(&c.rapdu);
	if (sfd >= 0)
		close(sfd);
	explicit_bzero(&opts, sizeof(opts));
	return ret;
}
