/* Hardware watchers: they turn hardware changes into "device arrived" and
 * "device left" events, in the shape of pcsc-lite's hotplug backends.
 * Drivers never scan by themselves: the consumer probes them with what a
 * watcher reported.
 *
 * Two watchers:
 *  - udev (libudev): USB security keys and TPM resource managers
 *    (/dev/tpmrm*). It owns no thread: the caller polls its fd and calls
 *    _dispatch(). Inside a container there is no udevd and the monitor sees
 *    nothing; callers must not depend on it for correctness.
 *  - PC/SC (pcsc.c): readers and cards, through one long-lived pcscd
 *    context on a thread of its own while started (SCardGetStatusChange
 *    blocks), or one pass on the caller's thread (_scan()).
 *
 * Both deliver into one struct hotplug_queue of self-contained messages
 * (struct hotplug_msg). The queue fits an epoll loop (its fd is readable
 * while it holds a message) and a blocking wait with a timeout that another
 * thread can wake (C_WaitForSlotEvent in the in-process module). */
#ifndef TOKEND_HOTPLUG_H
#define TOKEND_HOTPLUG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum hotplug_kind {
	HOTPLUG_USB_KEY = 1,      /* a USB security key (usb_device) */
	HOTPLUG_TPM = 2,          /* a TPM resource manager (subsystem tpmrm) */
	HOTPLUG_PCSC_READER = 3,  /* a PC/SC reader, empty or not */
	HOTPLUG_PCSC_CARD = 4,    /* a card in a PC/SC reader */
	HOTPLUG_PCSC_SERVICE = 5, /* pcscd itself (SERVICE_LOST/BACK) */
	/* A token of a PKCS#11 module behind tokend (drivers/module/): id
	 * "module:NAME:SLOTID"; handled like a card in a reader. */
	HOTPLUG_MODULE_TOKEN = 6,
};

enum hotplug_event {
	HOTPLUG_ARRIVED = 1,
	HOTPLUG_LEFT = 2,
	/* The same device with new facts (a mute card now answers). */
	HOTPLUG_CHANGED = 3,
	/* pcscd went away (stopped, crashed, auto-exited) or came back. Every
	 * reader and card was reported LEFT right after LOST; they arrive
	 * again after BACK, as new devices (old card handles are dead). */
	HOTPLUG_SERVICE_LOST = 4,
	HOTPLUG_SERVICE_BACK = 5,
};

/* What a watcher knows of a device. Strings are owned by the watcher and
 * valid only during the callback; copy what you keep. */
struct hotplug_device {
	enum hotplug_kind kind;
	const char *sysname; /* "1-2" (USB port path), "tpmrm0": the key */
	const char *devpath; /* "/devices/pci0000:00/.../1-2" */
	const char
	    *devnode; /* "/dev/bus/usb/001/005", "/dev/tpmrm0"; or NULL */
	/* USB only (0 / NULL otherwise). */
	uint16_t vendor, product;
	const char *serial;       /* iSerialNumber, NULL when absent */
	const char *manufacturer; /* NULL when absent */
	const char *model;        /* USB product string, NULL when absent */
	const char *known_name;   /* from our vendor table, NULL when unknown */
	/* A CCID interface (class 0b) was seen: pcscd should show a reader
	 * soon. A key without one has its CCID interface disabled (or is a
	 * FIDO-only key); no PC/SC reader will come for it. */
	bool ccid;
	/* CLOCK_MONOTONIC when the watcher first saw it: the daemon compares
	 * with PC/SC reader arrivals to log a key that never became a
	 * reader. */
	struct timespec arrived_at;
};

/* Called once per arrival and once per departure of a device; never twice
 * in a row with the same event for the same sysname. The callback must not
 * free the watcher. */
typedef void (*hotplug_cb)(void *ctx, enum hotplug_event ev,
			   const struct hotplug_device *dev);

struct hotplug_udev;

/* Creates the udev monitor and enables it (events from now on queue up in
 * its socket) but reports nothing yet: call hotplug_udev_scan() next. */
int hotplug_udev_new(struct hotplug_udev **out, hotplug_cb cb, void *ctx);
void hotplug_udev_free(struct hotplug_udev **w);

/* Enumerates the devices present now: reports each new one as arrived, and
 * each known one that is gone as left. Called once after _new(), and again
 * whenever events may have been lost (_dispatch() does that by itself when
 * the monitor's socket overflowed). */
int hotplug_udev_scan(struct hotplug_udev *w);

/* The monitor's socket: poll it for POLLIN, then call _dispatch(). */
int hotplug_udev_fd(const struct hotplug_udev *w);

/* Reads every pending event without blocking and reports what changed.
 * Returns 0, or a negative TK_ERR_*. */
int hotplug_udev_dispatch(struct hotplug_udev *w);

const char *hotplug_kind_name(enum hotplug_kind kind);
const char *hotplug_event_name(enum hotplug_event ev);

/* ---- messages and the queue ---- */

#define HOTPLUG_ID_MAX 128 /* pcsc-lite's MAX_READERNAME */
#define HOTPLUG_ATR_MAX 33 /* MAX_ATR_SIZE */
#define HOTPLUG_STR_MAX 64

/* One change, self-contained (copied into and out of the queue). Strings
 * are NUL-terminated and cut to fit. */
struct hotplug_msg {
	enum hotplug_event ev;
	enum hotplug_kind kind;
	/* Stable per device while it is there: the reader name (for a card
	 * too: a reader holds one card), the USB port path ("1-2"), the TPM
	 * sysname ("tpmrm0"); "pcscd" for the service. */
	char id[HOTPLUG_ID_MAX];
	/* PC/SC card: its ATR, and whether it does not answer (mute: no
	 * driver can serve it). */
	uint8_t atr[HOTPLUG_ATR_MAX];
	size_t atr_len;
	bool mute;
	/* LEFT because pcscd went away, not because of the hardware: the
	 * consumer may log it quietly (one "pcscd lost" line says it all). */
	bool service_lost;
	/* USB key and TPM (from the udev watcher). */
	char devnode[HOTPLUG_STR_MAX];
	uint16_t vendor, product;
	char serial[HOTPLUG_STR_MAX];
	char manufacturer[HOTPLUG_STR_MAX];
	char model[HOTPLUG_STR_MAX];
	const char *known_name; /* static (usb_keys table), or NULL */
	bool ccid;
	uint64_t at_ms; /* CLOCK_MONOTONIC, when the watcher saw it */
};

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t hotplug_now_ms(void);

/* One line an admin can act on, e.g. "card arrived in 'Virtual PCD 00 00'
 * (ATR 3B F8 ...)". Always NUL-terminates buf (cut to len). */
void hotplug_msg_format(const struct hotplug_msg *m, char *buf, size_t len);

/* Converts a udev watcher report into a message. */
void hotplug_msg_from_device(enum hotplug_event ev,
			     const struct hotplug_device *dev,
			     struct hotplug_msg *out);

/* How watchers log (syslog levels): one finished line, no newline. The
 * daemon passes its log_msg, the module its own; NULL logs nothing. */
typedef void (*hotplug_log_fn)(void *ctx, int level, const char *line);

struct hotplug_queue;

int hotplug_queue_new(struct hotplug_queue **out);
/* Frees the messages still queued. Stop the watchers that push first. */
void hotplug_queue_free(struct hotplug_queue **q);

/* Thread-safe. Returns 0 or TK_ERR_NOMEM (the message is then lost: the
 * consumer should rescan). */
int hotplug_queue_push(struct hotplug_queue *q, const struct hotplug_msg *m);

/* A hotplug_cb for the udev watcher: pushes into the queue given as ctx. */
void hotplug_queue_push_device(void *q, enum hotplug_event ev,
			       const struct hotplug_device *dev);

/* Thread-safe, never blocks: takes the oldest message into *out. Returns
 * 1, or 0 when the queue is empty. */
int hotplug_queue_pop(struct hotplug_queue *q, struct hotplug_msg *out);

/* An eventfd that is readable exactly while the queue holds a message:
 * add it to epoll (level-triggered) and drain with _pop() when readable.
 * Do not read it yourself. */
int hotplug_queue_fd(const struct hotplug_queue *q);

enum hotplug_wait {
	HOTPLUG_WAIT_TIMEOUT = 0,
	HOTPLUG_WAIT_EVENT = 1, /* a message is queued: _pop() it */
	HOTPLUG_WAIT_WOKEN = 2, /* hotplug_queue_wake() was called */
};

/* Blocks until a message is queued, _wake() is called, or timeout_ms
 * passed (negative: no timeout). Returns at once when a message is already
 * queued, or a wake came since the last wait returned WOKEN (a wake
 * between the caller's checks and its wait is not lost). Every thread
 * blocked when _wake() is called returns WOKEN. */
enum hotplug_wait hotplug_queue_wait(struct hotplug_queue *q, int timeout_ms);

/* Thread-safe; async-signal-unsafe. */
void hotplug_queue_wake(struct hotplug_queue *q);

/* ---- the PC/SC watcher (pcsc.c) ---- */

struct hotplug_pcsc;

struct hotplug_pcsc_opts {
	hotplug_log_fn log; /* may be NULL */
	void *log_ctx;
	/* Reconnect back-off after pcscd went away: first, doubled up to
	 * max. 0: 250 ms and 8 s. */
	unsigned backoff_first_ms, backoff_max_ms;
	/* Longest single SCardGetStatusChange before the reader list is
	 * read again anyway (pcsc-lite 1.9.9 can miss a reader added between
	 * the listing and the wait). 0: 10 s. */
	unsigned recheck_ms;
};

/* Creates the watcher; it pushes into q, which must outlive it. Opens
 * nothing yet. opts may be NULL. */
int hotplug_pcsc_new(struct hotplug_pcsc **out, struct hotplug_queue *q,
		     const struct hotplug_pcsc_opts *opts);
/* Stops it (if started) and releases the pcscd context. */
void hotplug_pcsc_free(struct hotplug_pcsc **w);

/* Starts the watcher's thread: it connects to pcscd (with back-off),
 * reports the present readers and cards, then every change. Returns 0 or
 * a negative TK_ERR_*; starting a started watcher is a no-op. */
int hotplug_pcsc_start(struct hotplug_pcsc *w);
/* Interrupts its wait (SCardCancel) and joins the thread. The context and
 * what the watcher knows stay, so a later _start() or _scan() reports only
 * what changed meanwhile. */
void hotplug_pcsc_stop(struct hotplug_pcsc *w);

/* One pass on the caller's thread, without waiting: connects if needed
 * (one attempt, unless within back-off), re-lists the readers and reports
 * what changed since the last pass. For a program that lists slots without
 * waiting (the module's C_GetSlotList). A no-op while the thread runs (it
 * is current already). Returns 0, or TK_ERR_TRANSPORT when pcscd is not
 * reachable (SERVICE_LOST was reported once). */
int hotplug_pcsc_scan(struct hotplug_pcsc *w);

struct hotplug_pcsc_stats {
	uint64_t waits;         /* SCardGetStatusChange calls */
	uint64_t connects;      /* SCardEstablishContext successes */
	uint64_t connect_fails; /* and failures */
	bool connected;
};

void hotplug_pcsc_stats(struct hotplug_pcsc *w, struct hotplug_pcsc_stats *out);

#endif
