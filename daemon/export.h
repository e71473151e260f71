/* Exports: a listening Unix socket plus the policy for whoever connects to
 * it (who may connect, which tokens they see, what they may do, where the PIN
 * comes from). Settings come from the config as a struct export_conf; a
 * connection keeps a reference to the settings it was accepted under, so a
 * changed export's policy applies to new connections only.
 *
 * Threads: export_open/update/close and the connection list belong to the
 * loop thread. The policy functions read an immutable export_conf and may
 * be called from any thread; export_pin_get() too. */
#ifndef TOKEND_EXPORT_H
#define TOKEND_EXPORT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

#include "config.h"
#include "peer.h"
#include "rpc_calls.h"

struct loop;
struct loop_watch;
struct conn;
struct app;

struct export
{
	struct export_conf *conf;    /* current settings (lock to read from
					another thread) */
	struct config_limits limits; /* current limits */
	struct loop *loop;
	int fd;        /* listening socket */
	bool borrowed; /* fd came from systemd: not closed, not unlinked */
	dev_t dev;     /* the socket file we bound, unlinked at close */
	ino_t ino;
	struct loop_watch *watch;
	struct conn *conns; /* connections accepted here (loop thread) */
	size_t nconns;
	size_t nheld; /* of them, held for their peer's cap (conn.h) */
	bool paused;  /* not accepting: full, or out of descriptors */
	struct loop_timer *retry; /* resumes accepting after EMFILE */
	pthread_mutex_t lock;     /* guards conf swaps and the PIN */
	bool pin_rejected;        /* the card refused the pin-file PIN (lock) */
};

/* Opens an export: uses inherited_fd (a listening socket from systemd, kept
 * owned by the caller) when >= 0, otherwise creates the socket: a stale
 * socket file is removed, missing parent directories are made with 0755,
 * then bind, chown to owner:group, chmod to mode, listen. Owner and mode
 * are set on the socket file we bound (same device and inode), never
 * through a symlink, here and at export_update. Accepted peers go
 * through export_accepts_peer() and then to conn_accept(). */
int export_open(struct loop *loop, struct export_conf *conf,
		const struct config_limits *limits, int inherited_fd,
		struct export **out);
/* New settings for the same socket path: re-applies owner/group/mode and
 * swaps the settings new connections get. Existing connections keep the
 * settings they were accepted under, but those of peers the new settings
 * refuse are closed (logged). The previous settings' PIN is wiped now. When
 * owner/group/mode cannot be applied the settings are swapped all the same and
 * TK_ERR_IO returned. */
int export_update(struct export *ex, struct export_conf *conf,
		  const struct config_limits *limits);
/* Stops accepting (the socket file is removed; connections stay). */
void export_stop_listening(struct export *ex);
/* How long closing an export waits for requests in flight by default. */
#define EXPORT_CLOSE_WAIT_S 10
/* Closes every connection; requests in flight still get their replies,
 * waited for until deadline (CLOCK_MONOTONIC; NULL: EXPORT_CLOSE_WAIT_S
 * from now). Returns false when a connection had to be abandoned to its
 * still running requests (conn_close_wait). */
bool export_close_conns(struct export *ex, const struct timespec *deadline);
/* Stops listening, closes the connections, frees; NULL-safe. */
void export_close(struct export **p);

/* Connection bookkeeping for conn.c. The export serves at most
 * max-connections-per-export connections (held ones not counted): when
 * full it stops accepting, so new clients wait in the listen backlog, and
 * it accepts again when one is removed. */
void export_conn_add(struct export *ex, struct conn *c);
void export_conn_remove(struct export *ex, struct conn *c);
bool export_conn_full(const struct export *ex);

/* ---- policy ---- */

/* With neither allow-users nor allow-groups anyone who reaches the socket is
 * accepted; otherwise the peer's uid must be listed, or its primary gid or
 * one of its supplementary groups. */
bool export_accepts_peer(const struct export_conf *ec, const struct peer *p);
/* No tokens= URIs: every token; else one URI must match. */
bool export_shows_token(const struct export_conf *ec, const CK_TOKEN_INFO *ti);
/* How good a token is for prefer=: the index of the first URI it matches,
 * n_prefer for none. */
size_t export_prefer_rank(const struct export_conf *ec,
			  const CK_TOKEN_INFO *ti);
/* prefer= (the fallback export): the front end's slot whose token the
 * export shows now. The earliest URI that matches a present token wins; of
 * several tokens one URI matches, the lowest slot id. false: none of them
 * is present.
 *
 * The client sees one slot, id 0 (SRV_PREFER_SLOT in the RPC server),
 * whichever token is behind it, and that slot is always listed, empty
 * when no preferred token is present: a switch looks like a card pulled
 * from a reader and another one inserted. Why not the tokens' own slot
 * ids: a gateway program holds a session and a slot id it found at start.
 * At a switch its session must end either way (the other token has other
 * keys, another certificate, its own login), and it does, with
 * CKR_DEVICE_REMOVED as for a pulled card. Its recovery is then the one
 * every PKCS#11 program has for a pulled card: open a session on the same
 * slot, log in, find the key. With the tokens' own ids that would fail
 * (CKR_SLOT_ID_INVALID: the slot it knows vanished from the list) unless
 * it lists the slots again, which simple programs and NSS-style slot
 * caches do not; and a C_WaitForSlotEvent answer would name a slot the
 * client has never seen. The slot's info names the device behind it now;
 * logs, audit and tokenctl keep the front end's ids. */
bool export_pick_slot(struct export_conf *ec, struct app *app,
		      CK_SLOT_ID *slot);
/* No objects= URIs: every object; else one URI must match both the token
 * (its token attributes, if any) and the object's attributes (CKA_CLASS,
 * CKA_ID, CKA_LABEL: type, id, object). The front end asks it per key
 * (app_set_object_filter). */
bool export_shows_object(const struct export_conf *ec, const CK_TOKEN_INFO *ti,
			 const CK_ATTRIBUTE *attrs, CK_ULONG n);

/* Operations an export may refuse, and the access level each needs
 * (config.h explains the levels):
 *   EXPORT_OP_SO_LOGIN: C_Login / C_LoginUser as CKU_SO          full
 *   EXPORT_OP_GENERATE_KEY, _CREATE_OBJECT, _DESTROY_OBJECT,
 *   _SET_ATTRIBUTE                                               full
 *   EXPORT_OP_INIT_TOKEN, _INIT_PIN, _SET_PIN (PIN, PUK, unblock) admin
 * All but SO login are the call table's write classes, with their values
 * (enum rpc_write): rpc/rpc_calls.c says which call has which; a creation
 * (C_CreateObject, C_CopyObject, C_GenerateKey, C_UnwrapKey, C_DeriveKey)
 * writes only when it asks for a token object.
 * An export with objects= refuses every token write but the admin ones.
 * A refused call answers EXPORT_READ_ONLY_RV, CKR_TOKEN_WRITE_PROTECTED,
 * for all of them, session-level calls included: the restriction belongs to
 * the token as this export presents it, and PKCS#11 lists that code for
 * each of these calls. For the same reason C_GetTokenInfo on an export
 * below full should set CKF_WRITE_PROTECTED. Read-write sessions are still
 * allowed to open (many clients ask for one to sign), so
 * CKR_SESSION_READ_ONLY would be a lie. */
enum export_op {
	EXPORT_OP_INIT_TOKEN = RPC_WRITE_INIT_TOKEN,
	EXPORT_OP_INIT_PIN = RPC_WRITE_INIT_PIN,
	EXPORT_OP_SET_PIN = RPC_WRITE_SET_PIN,
	EXPORT_OP_GENERATE_KEY = RPC_WRITE_GENERATE_KEY,
	EXPORT_OP_CREATE_OBJECT = RPC_WRITE_CREATE_OBJECT,
	EXPORT_OP_DESTROY_OBJECT = RPC_WRITE_DESTROY_OBJECT,
	EXPORT_OP_SET_ATTRIBUTE = RPC_WRITE_SET_ATTRIBUTE,
	EXPORT_OP_SO_LOGIN = RPC_WRITE_COUNT, /* not a write class */
};
#define EXPORT_READ_ONLY_RV CKR_TOKEN_WRITE_PROTECTED

bool export_allows(const struct export_conf *ec, enum export_op op);

/* True when the export has a pin-file: its tokens report
 * CKF_PROTECTED_AUTHENTICATION_PATH and clients log in with a NULL PIN. */
bool export_conf_has_pin(const struct export_conf *ec);
/* Copies the export's current PIN (from its current settings, so a reload
 * that changed the file takes effect) into pin; *len is the room in, the
 * length out. TK_ERR_NOT_FOUND without a pin-file, TK_ERR_TOO_LARGE when it
 * does not fit. The caller wipes its copy with explicit_bzero. */
int export_pin_get(struct export *ex, uint8_t *pin, size_t *len);
/* The card answered the pin-file PIN with PIN incorrect: it is stale (the
 * PIN was changed on the card). Until the next reload export_pin_get()
 * refuses with TK_ERR_PIN_INCORRECT, so clients' NULL-PIN logins stop
 * using up the card's retries. */
void export_pin_rejected(struct export *ex);

/* Creates a listening socket at path as export_open does (stale file
 * removed, parents made, owner and mode set on the inode bound, then
 * listen), for the daemon's other sockets. Returns 0 or a TK_ERR_*. */
int export_listen_path(const char *path, uid_t owner, gid_t group, mode_t mode,
		       int *fd, dev_t *dev, ino_t *ino);

#endif
