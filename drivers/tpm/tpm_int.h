/* Inside the TPM driver: the driver (one TPM context, the thread that
 * opens it with back-off and notices it going away) and its token. */
#ifndef TOKEND_TPM_INT_H
#define TOKEND_TPM_INT_H

#include <pthread.h>

#include "drv_poll.h"
#include "tpm_driver.h"
#include "tpm_esys.h"
#include "tpm_pin.h"
#include "tpm_store.h"

struct tpm_drv {
	struct tk_driver base;
	char *tcti, *state, *label;
	uint32_t srk_handle;
	pthread_mutex_t lock; /* everything below */
	pthread_cond_t cond;
	pthread_t thread;
	bool thread_on, stop, kick;
	/* The liveness check's interval while up: 2 s after the TPM came,
	 * doubling to 30 s while it answers, 2 s again when clients look
	 * (tpm_driver_attend; rearm: the thread takes its deadline again). */
	struct drv_poll alive;
	bool rearm;
	struct hotplug_queue *q;
	/* The TPM while it answers; used under io by the token and by the
	 * thread's liveness check. */
	pthread_mutex_t io;
	struct tpm_ctx *ctx;
	uint64_t gen; /* bumped each time the TPM comes up */
	struct tpm_caps caps;
	bool lockout_said; /* under io: the lockout was logged */
	bool up;
};

/* One object of the token: a record of the store and what it gives. */
struct tpm_obj {
	struct tpm_rec rec;
	uint32_t handle;
	EVP_PKEY *pub;       /* KEY, CERT */
	struct tpm_key *key; /* KEY: loaded, NULL: not yet */
};

struct tpm_tok {
	struct tk_token base;
	struct tpm_drv *drv;
	uint64_t gen; /* the TPM's generation this token belongs to */
	bool dead;
	struct tpm_store *store;
	struct tpm_pin pin;
	struct tpm_obj *objs;
	size_t nobjs;
	uint32_t next_handle;
	char serial[17];
	struct tpm_caps caps; /* the TPM's, as it was at open */
	/* The token secret while a user or the SO is logged in. */
	uint8_t s[TPM_SECRET_LEN];
	bool user_in, so_in;
	/* The SO PIN of the last SO login, for C_InitToken's reset (the
	 * first: the one to set). */
	uint8_t so_pin[64];
	size_t so_len;
	bool so_pending; /* not initialised: so_pin is to become the SO PIN */
	/* objects() view */
	struct tk_key *keys;
	struct tk_data *data;
	struct tk_objects view;
	bool dirty;
};

int tpm_tok_open(struct tpm_drv *d, struct tk_token **out);
/* Under d->io: a TPM call answered rc; TK_ERR_REMOVED withdraws the token
 * (the TPM is closed; the thread reopens it with back-off). */
int tpm_drv_io_done(struct tpm_drv *d, uint64_t gen, int rc);

/* Objects (tpm_objs.c). */
int tpm_objs_load(struct tpm_tok *t);
void tpm_objs_free(struct tpm_tok *t);
int tpm_objs_view(struct tpm_tok *t, const struct tk_objects **out);
struct tpm_obj *tpm_obj_find(struct tpm_tok *t, uint32_t handle);
/* Adds a record written to the store (the token takes rec->value). */
int tpm_obj_add(struct tpm_tok *t, struct tpm_rec *rec, uint32_t *handle);
int tpm_obj_remove(struct tpm_tok *t, struct tpm_obj *o);
/* The certificate record belonging to key object o (same CKA_ID). */
struct tpm_obj *tpm_obj_cert_of(struct tpm_tok *t, const struct tpm_obj *o);
int tpm_obj_pubkey(const struct tpm_blob *blob, EVP_PKEY **out,
		   enum tk_alg *alg);

#endif
