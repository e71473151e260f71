/* tokend's configuration: an INI file (inih) parsed and validated into the
 * structs below. Every problem is reported as "FILE:LINE: reason".
 *
 *   [tokend]          log-level, state-dir, pin-tries-reserved and the
 *                     limits (connections, workers, handshake timeout)
 *   [export NAME]     socket, owner, group, mode, allow-users, allow-groups,
 *                     tokens, prefer, objects, access, pin-file
 *   [piv], [module NAME]  the drivers (drivers/drv_config.h parses them)
 *
 * See daemon/tokend.conf.example for every key. A config is immutable once
 * loaded; export settings are shared, reference-counted, between the live
 * export and the connections accepted under them. */
#ifndef TOKEND_CONFIG_H
#define TOKEND_CONFIG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <p11-kit/uri.h>

#include "drv_config.h"

#define CONFIG_DEFAULT_PATH "/etc/tokend/tokend.conf"
#define CONFIG_DEFAULT_SOCKET "/run/tokend/pkcs11"
#define CONFIG_DEFAULT_STATE_DIR "/var/lib/tokend"
#define CONFIG_GROUP "tokend"
/* The control socket (daemon/control.h) and the group allowed on it. */
#define CONFIG_DEFAULT_CONTROL "/run/tokend/control"
#define CONFIG_CONTROL_GROUP "tokend-admin"
/* The longest pin-file PIN: what the front end passes on to a token
 * (FE_MAX_PIN in pkcs11/internal.h); a longer one could never be sent. */
#define CONFIG_PIN_MAX 64

/* Ordered: each level allows everything the one before it does.
 *   read-only  user login, sign, decrypt, derive, read
 *   full       + SO login, key generation, import, object creation and
 *              deletion
 *   admin      + C_SetPIN (PIN or PUK), C_InitPIN, unblock, C_InitToken */
enum export_access {
	EXPORT_ACCESS_READ_ONLY = 0,
	EXPORT_ACCESS_FULL = 1,
	EXPORT_ACCESS_ADMIN = 2,
};

struct config_limits {
	size_t max_connections_per_export;  /* default 128 */
	size_t max_sessions_per_connection; /* default 64 */
	size_t max_message_size;            /* bytes, default 1 MiB */
	size_t max_attributes;              /* per template, default 256 */
	/* Connections of one peer uid over all exports, default 32. Beyond
	 * it a new connection is accepted and held unread until one of the
	 * peer's connections ends. */
	size_t max_connections_per_peer;
	/* Worker threads running requests, all connections together,
	 * default 64; further requests wait their turn. */
	size_t max_workers;
	/* Seconds a new connection may take for the handshake and
	 * C_Initialize, default 10; none afterwards. */
	unsigned handshake_timeout;
	/* A client's PIN (or PUK) reaches the card only while the card has
	 * more tries left than this, or when it is the one the card last
	 * accepted through tokend; default 1, 0 disables. */
	unsigned pin_tries_reserved;
};

struct secret;

struct export_conf {
	char *name;    /* from [export NAME] */
	unsigned line; /* of the section header; 0 for the built-in default */
	char *socket;  /* absolute path */
	uid_t owner;
	gid_t group;
	mode_t mode;
	uid_t *
	    allow_uids; /* none and no allow_gids: anyone reaching the socket */
	size_t n_allow_uids;
	gid_t *allow_gids; /* primary or supplementary group of the peer */
	size_t n_allow_gids;
	P11KitUri **tokens; /* P11_KIT_URI_FOR_TOKEN; none: every token */
	size_t n_tokens;
	char **token_strs; /* the URIs as written, for comparison and logs */
	/* prefer=: P11_KIT_URI_FOR_TOKEN URIs in order of preference (the
	 * fallback export, export_pick_slot): the export shows one slot with
	 * one token, the present one the earliest URI matches. Excludes
	 * tokens= (a config error). */
	P11KitUri **prefer;
	size_t n_prefer;
	char **prefer_strs;
	/* prefer='s pick, kept while no token comes or goes (pick_gen: the
	 * front end's tokens generation it was made at; export_pick_slot). */
	pthread_mutex_t pick_lock;
	bool pick_valid, pick_found;
	uint64_t pick_gen;
	unsigned long pick_slot; /* a CK_SLOT_ID */
	/* objects=: P11_KIT_URI_FOR_OBJECT_ON_TOKEN URIs (id, object, type,
	 * and token attributes); none: every object of the shown tokens.
	 * When set, only the matching keys with their public keys and
	 * certificates are visible and usable, and no key generation or
	 * deletion is allowed whatever the access level. */
	P11KitUri **objects;
	size_t n_objects;
	char **object_strs;
	enum export_access access; /* default read-only */
	char *pin_file;            /* NULL: the client gives the PIN */
	struct secret *pin; /* read at load; wiped with the conf (or earlier) */
	int refs;
};

struct config {
	char *path;    /* NULL for the built-in default */
	int log_level; /* syslog priority */
	char *state_dir;
	/* control-socket ("" or "none": no control socket) and control-group
	 * (default tokend-admin when it exists; (gid_t)-1: root only) */
	char *control_socket;
	gid_t control_gid;
	struct config_limits limits;
	struct export_conf **exports;
	size_t n_exports;
	/* The driver sections. Read at start: a reload does not change the
	 * drivers (restart tokend for that). */
	struct drv_config *drivers;
};

/* Loads path. A missing file is an error when must_exist, otherwise the
 * built-in default config is returned. On failure returns a TK_ERR_* and
 * writes "FILE:LINE: reason" (or "FILE: reason") to err. */
int config_load(const char *path, bool must_exist, struct config **out,
		char *err, size_t errlen);
/* One export "default" at /run/tokend/pkcs11, mode 0660, group tokend (or
 * the daemon's gid), every token, read-only access. */
int config_default(struct config **out);
void config_free(struct config **p);
const struct export_conf *config_find_export(const struct config *cfg,
					     const char *socket);

struct export_conf *export_conf_ref(struct export_conf *ec);
/* Drops one reference; the last one wipes the PIN and frees. Thread-safe. */
void export_conf_unref(struct export_conf **p);
/* Same settings (socket, ownership, mode, peers, tokens, prefer, objects,
 * access, pin-file path); the PIN's content and the name are not compared. */
bool export_conf_equal(const struct export_conf *a,
		       const struct export_conf *b);

#endif
