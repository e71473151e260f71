/* The TPM through tpm2-tss ESYS (tpm_esys.h): context, SRK, the salted
 * session, loaded keys and their eviction, and the key operations. The only
 * file of tokend that includes tss2 headers. */
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "drv_log.h"
#include "tpm_esys.h"

struct tpm_key {
	struct tpm_key *prev, *next; /* ctx->keys, most recently used first */
	ESYS_TR tr;                  /* ESYS_TR_NONE while evicted */
	TPMS_CONTEXT *saved;         /* the evicted key's context */
	enum tpm_key_kind kind;
	unsigned bits;
	TPM2B_AUTH auth;
	struct tpm_blob
	    blob; /* reloaded from here if a context will not load */
};

struct tpm_ctx {
	TSS2_TCTI_CONTEXT *tcti;
	ESYS_CONTEXT *esys;
	ESYS_TR srk;
	bool srk_transient; /* created here, flushed at close */
	ESYS_TR session;
	bool gone; /* the TPM stopped answering: every call is REMOVED */
	unsigned resident, budget; /* our keys loaded now; how many may be */
	struct tpm_key *keys;
};

/* ---- errors ---- */

#define TPM_RC_FMT1_MASK 0xbfu /* format-one code without P and N */

/* Maps a tss2 return code to TK_ERR_*, logging it once here. */
static int tpm_err(struct tpm_ctx *ctx, const char *fn, TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK, tpm = rc & 0xffff;

	if (layer == TSS2_TCTI_RC_LAYER ||
	    ((layer == TSS2_ESAPI_RC_LAYER || layer == TSS2_SYS_RC_LAYER) &&
	     (tpm == TSS2_BASE_RC_IO_ERROR ||
	      tpm == TSS2_BASE_RC_NO_CONNECTION ||
	      tpm == TSS2_BASE_RC_INSUFFICIENT_RESPONSE ||
	      tpm == TSS2_BASE_RC_MALFORMED_RESPONSE))) {
		if (ctx && !ctx->gone)
			drv_log(fn, "the TPM stopped answering (%s)",
				Tss2_RC_Decode(rc));
		if (ctx)
			ctx->gone = true;
		return TK_ERR_REMOVED;
	}
	if (layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER) {
		if ((tpm & TPM2_RC_FMT1) &&
		    ((tpm & TPM_RC_FMT1_MASK) == TPM2_RC_AUTH_FAIL ||
		     (tpm & TPM_RC_FMT1_MASK) == TPM2_RC_BAD_AUTH))
			return TK_ERR_PIN_INCORRECT;
		if (!(tpm & TPM2_RC_FMT1) && (tpm & 0xfff) == TPM2_RC_LOCKOUT) {
			drv_log(fn, "the TPM is in dictionary-attack lockout");
			return TK_ERR_PIN_LOCKED;
		}
		/* Our session or objects are gone, or the TPM wants a
		 * Startup: it was reset under us (swtpm restarted; the swtpm
		 * TCTI connects per command). The caller opens it again. */
		if (!(tpm & TPM2_RC_FMT1) &&
		    (((tpm & 0xfff) >= TPM2_RC_REFERENCE_H0 &&
		      (tpm & 0xfff) <= TPM2_RC_REFERENCE_S6) ||
		     (tpm & 0xfff) == TPM2_RC_INITIALIZE ||
		     (tpm & 0xfff) == TPM2_RC_REBOOT)) {
			if (ctx && !ctx->gone)
				drv_log(fn, "the TPM was reset (%s)",
					Tss2_RC_Decode(rc));
			if (ctx)
				ctx->gone = true;
			return TK_ERR_REMOVED;
		}
	}
	drv_log(fn, "%s", Tss2_RC_Decode(rc));
	return TK_ERR_DEVICE;
}

#define TPM_ERR(ctx, rc) tpm_err(ctx, __func__, rc)

static bool tpm_rc_is(TSS2_RC rc, TSS2_RC want)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

	return (layer == TSS2_TPM_RC_LAYER ||
		layer == TSS2_RESMGR_TPM_RC_LAYER) &&
	       ((rc & TPM2_RC_FMT1) ? (rc & TPM_RC_FMT1_MASK) : (rc & 0xfff)) ==
		   want;
}

/* ---- the session ---- */

/* Sets the session's attributes for the next command: a TPM refuses
 * decrypt (encrypt) on a command whose first parameter (response
 * parameter) is not a sized buffer. */
static int session_for(struct tpm_ctx *ctx, TPMA_SESSION crypt)
{
	TSS2_RC rc;

	rc = Esys_TRSess_SetAttributes(ctx->esys, ctx->session,
				       TPMA_SESSION_CONTINUESESSION | crypt,
				       0xff);
	return rc ? TPM_ERR(ctx, rc) : 0;
}

#define CRYPT_BOTH (TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT)

/* A salted HMAC session, salt encrypted to the SRK, AES-128-CFB parameter
 * encryption: auth values and secrets never cross the bus in clear. */
static int session_start(struct tpm_ctx *ctx)
{
	const TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES,
				   .keyBits.aes = 128,
				   .mode.aes = TPM2_ALG_CFB };
	TSS2_RC rc;

	rc = Esys_StartAuthSession(ctx->esys, ctx->srk, ESYS_TR_NONE,
				   ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				   NULL, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256,
				   &ctx->session);
	if (rc) {
		ctx->session = ESYS_TR_NONE;
		return TPM_ERR(ctx, rc);
	}
	return session_for(ctx, CRYPT_BOTH);
}

/* ---- the SRK ---- */

/* The TCG standard SRK template (TCG TPM v2.0 Provisioning Guidance, ECC
 * P-256): attributes 0x00030472, AES-128-CFB, empty unique. The same key
 * as `tpm2_createprimary -C o -g sha256 -G ecc256:aes128cfb -a
 * 'restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|
 * userwithauth|noda'` (tpm2-tools' own default lacks noda). */
static const TPM2B_PUBLIC srk_template = {
	.publicArea = {
		.type = TPM2_ALG_ECC,
		.nameAlg = TPM2_ALG_SHA256,
		.objectAttributes = TPMA_OBJECT_FIXEDTPM |
				    TPMA_OBJECT_FIXEDPARENT |
				    TPMA_OBJECT_SENSITIVEDATAORIGIN |
				    TPMA_OBJECT_USERWITHAUTH |
				    TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED |
				    TPMA_OBJECT_DECRYPT,
		.parameters.eccDetail = {
			.symmetric = { .algorithm = TPM2_ALG_AES,
				       .keyBits.aes = 128,
				       .mode.aes = TPM2_ALG_CFB },
			.scheme = { .scheme = TPM2_ALG_NULL },
			.curveID = TPM2_ECC_NIST_P256,
			.kdf = { .scheme = TPM2_ALG_NULL },
		},
	},
};

/* A provisioned SRK must be a storage key (restricted decrypt, no sign):
 * another persistent key there is a configuration mistake. */
static int srk_check(struct tpm_ctx *ctx, uint32_t handle)
{
	const TPMA_OBJECT want = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	TPM2B_PUBLIC *pub = NULL;
	TSS2_RC rc;
	int err = 0;

	rc = Esys_ReadPublic(ctx->esys, ctx->srk, ESYS_TR_NONE, ESYS_TR_NONE,
			     ESYS_TR_NONE, &pub, NULL, NULL);
	if (rc)
		return TPM_ERR(ctx, rc);
	if ((pub->publicArea.objectAttributes &
	     (want | TPMA_OBJECT_SIGN_ENCRYPT)) != want) {
		drv_log(__func__, "0x%08x is not a storage key", handle);
		err = TK_ERR_INVALID;
	}
	Esys_Free(pub);
	return err;
}

static int srk_setup(struct tpm_ctx *ctx, uint32_t handle)
{
	const TPM2B_SENSITIVE_CREATE sens = { 0 };
	const TPM2B_DATA outside = { 0 };
	const TPML_PCR_SELECTION pcrs = { 0 };
	TSS2_RC rc;

	if (handle) {
		rc = Esys_TR_FromTPMPublic(ctx->esys, handle, ESYS_TR_NONE,
					   ESYS_TR_NONE, ESYS_TR_NONE,
					   &ctx->srk);
		if (rc == 0)
			return srk_check(ctx, handle);
		if (!tpm_rc_is(rc, TPM2_RC_HANDLE))
			return TPM_ERR(ctx, rc);
		drv_log(__func__, "no SRK at 0x%08x: creating one", handle);
	}
	rc = Esys_CreatePrimary(ctx->esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
				ESYS_TR_NONE, ESYS_TR_NONE, &sens,
				&srk_template, &outside, &pcrs, &ctx->srk, NULL,
				NULL, NULL, NULL);
	if (rc) {
		ctx->srk = ESYS_TR_NONE;
		return TPM_ERR(ctx, rc);
	}
	ctx->srk_transient = true;
	return 0;
}

/* ---- open, close, caps ---- */

static uint32_t transient_slots(struct tpm_ctx *ctx)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	uint32_t n = 3; /* the least a TPM has */

	if (Esys_GetCapability(ctx->esys, ESYS_TR_NONE, ESYS_TR_NONE,
			       ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
			       TPM2_PT_HR_TRANSIENT_MIN, 1, &more, &cap) == 0 &&
	    cap->data.tpmProperties.count == 1 &&
	    cap->data.tpmProperties.tpmProperty[0].property ==
		TPM2_PT_HR_TRANSIENT_MIN &&
	    cap->data.tpmProperties.tpmProperty[0].value >= 3)
		n = cap->data.tpmProperties.tpmProperty[0].value;
	Esys_Free(cap);
	return n;
}

int tpm_open(const char *tcti, uint32_t srk_handle, struct tpm_ctx **out)
{
	struct tpm_ctx *ctx;
	TSS2_RC rc;
	int err;

	if (!tcti || !*tcti || !out)
		return TK_ERR_ARG;
	*out = NULL;
	/* tss2 logs its errors on stderr; ours are enough (and the module
	 * must stay quiet inside other programs) unless debugging. */
	if (!getenv("TOKEND_DEBUG"))
		setenv("TSS2_LOG", "all+NONE", 0);
	if (!(ctx = calloc(1, sizeof(*ctx))))
		return TK_ERR_NOMEM;
	ctx->srk = ctx->session = ESYS_TR_NONE;
	if ((rc = Tss2_TctiLdr_Initialize(tcti, &ctx->tcti)) ||
	    (rc = Esys_Initialize(&ctx->esys, ctx->tcti, NULL))) {
		/* swtpm not listening, no /dev/tpmrm0, no such TCTI. */
		drv_log(__func__, "%s: %s", tcti, Tss2_RC_Decode(rc));
		err = TK_ERR_REMOVED;
		goto out;
	}
	rc = Esys_Startup(ctx->esys, TPM2_SU_CLEAR);
	if (rc && !tpm_rc_is(rc, TPM2_RC_INITIALIZE)) {
		err = TPM_ERR(ctx, rc);
		goto out;
	}
	if ((err = srk_setup(ctx, srk_handle)) < 0 ||
	    (err = session_start(ctx)) < 0)
		goto out;
	/* Our keys share the slots with the SRK (a persistent one takes a
	 * slot too while a command uses it). */
	ctx->budget = transient_slots(ctx) - 1;
	*out = ctx;
	ctx = NULL;
	err = 0;
out:
	tpm_close(ctx);
	return err;
}

void tpm_close(struct tpm_ctx *ctx)
{
	if (!ctx)
		return;
	/* Keys the caller still holds are unloaded too (and freed). */
	while (ctx->keys)
		tpm_key_unload(ctx, ctx->keys);
	if (ctx->esys && !ctx->gone) {
		if (ctx->session != ESYS_TR_NONE)
			Esys_FlushContext(ctx->esys, ctx->session);
		if (ctx->srk_transient && ctx->srk != ESYS_TR_NONE)
			Esys_FlushContext(ctx->esys, ctx->srk);
	}
	if (ctx->esys)
		Esys_Finalize(&ctx->esys);
	if (ctx->tcti)
		Tss2_TctiLdr_Finalize(&ctx->tcti);
	free(ctx);
}

/* Walks the TPM properties from first (one group: fixed or variable),
 * calling see() for each, over as many answers as the TPM needs. */
static int caps_props(struct tpm_ctx *ctx, uint32_t first,
		      void (*see)(struct tpm_caps *, uint32_t, uint32_t),
		      struct tpm_caps *out)
{
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more = TPM2_YES;
	uint32_t prop = first, i;
	TSS2_RC rc;

	while (more) {
		rc = Esys_GetCapability(ctx->esys, ESYS_TR_NONE, ESYS_TR_NONE,
					ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
					prop, TPM2_MAX_TPM_PROPERTIES, &more,
					&cap);
		if (rc)
			return TPM_ERR(ctx, rc);
		for (i = 0; i < cap->data.tpmProperties.count; i++) {
			TPMS_TAGGED_PROPERTY *p =
			    &cap->data.tpmProperties.tpmProperty[i];
			see(out, p->property, p->value);
			prop = p->property + 1;
		}
		if (cap->data.tpmProperties.count == 0 || prop >= first + 0x100)
			more = TPM2_NO;
		Esys_Free(cap);
		cap = NULL;
	}
	return 0;
}

static void caps_see(struct tpm_caps *c, uint32_t prop, uint32_t v)
{
	switch (prop) {
	case TPM2_PT_HR_TRANSIENT_MIN:
		c->transient_slots = v;
		break;
	case TPM2_PT_LOCKOUT_COUNTER:
		c->lockout_counter = v;
		break;
	case TPM2_PT_MAX_AUTH_FAIL:
		c->max_auth_fail = v;
		break;
	case TPM2_PT_PERMANENT:
		c->in_lockout = (v & TPMA_PERMANENT_INLOCKOUT) != 0;
		break;
	case TPM2_PT_MANUFACTURER:
		for (int i = 0; i < 4; i++) {
			char ch = (char)(v >> (24 - 8 * i));
			c->manufacturer[i] = ch >= 0x21 && ch < 0x7f ? ch : 0;
		}
		c->manufacturer[4] = 0;
		break;
	case TPM2_PT_FIRMWARE_VERSION_1:
		c->fw1 = v;
		break;
	case TPM2_PT_FIRMWARE_VERSION_2:
		c->fw2 = v;
		break;
	}
}

/* Whether the TPM can make keys of this kind (TPM2_TestParms). */
static int caps_test(struct tpm_ctx *ctx, enum tpm_key_kind kind, unsigned bits,
		     bool *yes)
{
	TPMT_PUBLIC_PARMS p = { 0 };
	TSS2_RC rc;

	if (kind == TPM_KEY_RSA) {
		p.type = TPM2_ALG_RSA;
		p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
		p.parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)bits;
	} else {
		p.type = TPM2_ALG_ECC;
		p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
		p.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
		p.parameters.eccDetail.curveID =
		    bits == 384 ? TPM2_ECC_NIST_P384 : TPM2_ECC_NIST_P256;
		p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	}
	rc = Esys_TestParms(ctx->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
			    &p);
	*yes = rc == 0;
	if (rc && (rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER &&
	    (rc & TSS2_RC_LAYER_MASK) != TSS2_RESMGR_TPM_RC_LAYER)
		return TPM_ERR(ctx, rc);
	return 0;
}

int tpm_get_caps(struct tpm_ctx *ctx, struct tpm_caps *out)
{
	int rc;

	if (!ctx || !out)
		return TK_ERR_ARG;
	if (ctx->gone)
		return TK_ERR_REMOVED;
	memset(out, 0, sizeof(*out));
	if ((rc = caps_props(ctx, TPM2_PT_FIXED, caps_see, out)) < 0 ||
	    (rc = caps_props(ctx, TPM2_PT_VAR, caps_see, out)) < 0 ||
	    (rc = caps_test(ctx, TPM_KEY_RSA, 2048, &out->rsa2048)) < 0 ||
	    (rc = caps_test(ctx, TPM_KEY_RSA, 3072, &out->rsa3072)) < 0 ||
	    (rc = caps_test(ctx, TPM_KEY_EC, 256, &out->p256)) < 0 ||
	    (rc = caps_test(ctx, TPM_KEY_EC, 384, &out->p384)) < 0)
		return rc;
	return 0;
}

int tpm_random(struct tpm_ctx *ctx, uint8_t *buf, size_t len)
{
	TPM2B_DIGEST *r = NULL;
	size_t n;
	TSS2_RC rc;
	int err;

	if (!ctx || (!buf && len))
		return TK_ERR_ARG;
	if (ctx->gone)
		return TK_ERR_REMOVED;
	while (len) {
		n = len > 32 ? 32 : len;
		/* The session encrypts the answer (secrets come from here). */
		if ((err = session_for(ctx, TPMA_SESSION_ENCRYPT)) < 0)
			return err;
		rc = Esys_GetRandom(ctx->esys, ctx->session, ESYS_TR_NONE,
				    ESYS_TR_NONE, (UINT16)n, &r);
		if (rc)
			return TPM_ERR(ctx, rc);
		if (r->size == 0 || r->size > n) {
			Esys_Free(r);
			return TK_ERR_DEVICE;
		}
		memcpy(buf, r->buffer, r->size);
		buf += r->size;
		len -= r->size;
		explicit_bzero(r, sizeof(*r));
		Esys_Free(r);
		r = NULL;
	}
	return 0;
}

/* ---- blobs ---- */

static int blob_put(const TPM2B_PUBLIC *pub, const TPM2B_PRIVATE *priv,
		    struct tpm_blob *out)
{
	size_t off = 0;

	memset(out, 0, sizeof(*out));
	if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, out->pub, sizeof(out->pub), &off))
		return TK_ERR_TOO_LARGE;
	out->pub_len = off;
	off = 0;
	if (Tss2_MU_TPM2B_PRIVATE_Marshal(priv, out->priv, sizeof(out->priv),
					  &off))
		return TK_ERR_TOO_LARGE;
	out->priv_len = off;
	return 0;
}

/* Unmarshals a blob from the state directory (untrusted): every byte must
 * belong to the two structures. */
static int blob_get(const struct tpm_blob *b, TPM2B_PUBLIC *pub,
		    TPM2B_PRIVATE *priv)
{
	size_t off = 0;

	if (b->pub_len > sizeof(b->pub) || b->priv_len > sizeof(b->priv))
		return TK_ERR_INVALID;
	memset(pub, 0, sizeof(*pub));
	memset(priv, 0, sizeof(*priv));
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(b->pub, b->pub_len, &off, pub) ||
	    off != b->pub_len)
		return TK_ERR_INVALID;
	off = 0;
	if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(b->priv, b->priv_len, &off, priv) ||
	    off != b->priv_len)
		return TK_ERR_INVALID;
	return 0;
}

static int auth_put(const uint8_t *auth, size_t len, TPM2B_AUTH *out)
{
	if (len > TPM_AUTH_MAX || (len && !auth))
		return TK_ERR_ARG;
	memset(out, 0, sizeof(*out));
	out->size = (UINT16)len;
	if (len)
		memcpy(out->buffer, auth, len);
	return 0;
}

static void make_room(struct tpm_ctx *ctx);
static bool evict_one(struct tpm_ctx *ctx);

/* Esys_Create under the SRK, the result marshalled into out. */
static int create(struct tpm_ctx *ctx, const TPM2B_PUBLIC *tmpl,
		  TPM2B_SENSITIVE_CREATE *sens, struct tpm_blob *out)
{
	const TPM2B_DATA outside = { 0 };
	const TPML_PCR_SELECTION pcrs = { 0 };
	TPM2B_PRIVATE *priv = NULL;
	TPM2B_PUBLIC *pub = NULL;
	TSS2_RC rc;
	int err;

	if (ctx->gone)
		return TK_ERR_REMOVED;
	/* TPM2_Create needs a free object slot to work in. */
	make_room(ctx);
	for (;;) {
		if ((err = session_for(ctx, CRYPT_BOTH)) < 0)
			return err;
		rc =
		    Esys_Create(ctx->esys, ctx->srk, ctx->session, ESYS_TR_NONE,
				ESYS_TR_NONE, sens, tmpl, &outside, &pcrs,
				&priv, &pub, NULL, NULL, NULL);
		if (rc && tpm_rc_is(rc, TPM2_RC_OBJECT_MEMORY) &&
		    evict_one(ctx))
			continue;
		break;
	}
	if (rc)
		return TPM_ERR(ctx, rc);
	err = blob_put(pub, priv, out);
	Esys_Free(pub);
	Esys_Free(priv);
	return err;
}

int tpm_key_create(struct tpm_ctx *ctx, enum tpm_key_kind kind, unsigned bits,
		   const uint8_t *auth, size_t auth_len, struct tpm_blob *out)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_PUBLIC t = { 0 };
	int rc;

	if (!ctx || !out)
		return TK_ERR_ARG;
	if ((rc = auth_put(auth, auth_len, &sens.sensitive.userAuth)) < 0)
		return rc;
	t.publicArea.nameAlg = TPM2_ALG_SHA256;
	/* Scheme NULL: the caller picks RSASSA, PSS, OAEP or ECDSA per call. */
	t.publicArea.objectAttributes =
	    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
	    TPMA_OBJECT_NODA | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_DECRYPT;
	if (kind == TPM_KEY_RSA && (bits == 2048 || bits == 3072)) {
		TPMS_RSA_PARMS *p = &t.publicArea.parameters.rsaDetail;
		t.publicArea.type = TPM2_ALG_RSA;
		p->symmetric.algorithm = TPM2_ALG_NULL;
		p->scheme.scheme = TPM2_ALG_NULL;
		p->keyBits = (TPMI_RSA_KEY_BITS)bits;
	} else if (kind == TPM_KEY_EC && (bits == 256 || bits == 384)) {
		TPMS_ECC_PARMS *p = &t.publicArea.parameters.eccDetail;
		t.publicArea.type = TPM2_ALG_ECC;
		p->symmetric.algorithm = TPM2_ALG_NULL;
		p->scheme.scheme = TPM2_ALG_NULL;
		p->curveID =
		    bits == 384 ? TPM2_ECC_NIST_P384 : TPM2_ECC_NIST_P256;
		p->kdf.scheme = TPM2_ALG_NULL;
	} else {
		rc = TK_ERR_UNSUPPORTED;
		goto out;
	}
	rc = create(ctx, &t, &sens, out);
out:
	explicit_bzero(&sens, sizeof(sens));
	return rc;
}

int tpm_seal(struct tpm_ctx *ctx, const uint8_t *data, size_t len,
	     const uint8_t *auth, size_t auth_len, struct tpm_blob *out)
{
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_PUBLIC t = { 0 };
	int rc;

	if (!ctx || !out || (!data && len) || len > TPM_SEALED_MAX ||
	    len > sizeof(sens.sensitive.data.buffer))
		return TK_ERR_ARG;
	if ((rc = auth_put(auth, auth_len, &sens.sensitive.userAuth)) < 0)
		return rc;
	sens.sensitive.data.size = (UINT16)len;
	if (len)
		memcpy(sens.sensitive.data.buffer, data, len);
	t.publicArea.type = TPM2_ALG_KEYEDHASH;
	t.publicArea.nameAlg = TPM2_ALG_SHA256;
	t.publicArea.objectAttributes =
	    TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
	    TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA;
	t.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
	rc = create(ctx, &t, &sens, out);
	explicit_bzero(&sens, sizeof(sens));
	return rc;
}

/* ---- loaded keys: at most ctx->budget at a time, the least recently
 * used one context-saved and flushed to make room ---- */

static void key_unlink(struct tpm_ctx *ctx, struct tpm_key *key)
{
	if (key->prev)
		key->prev->next = key->next;
	else if (ctx->keys == key)
		ctx->keys = key->next;
	if (key->next)
		key->next->prev = key->prev;
	key->prev = key->next = NULL;
}

static void key_touch(struct tpm_ctx *ctx, struct tpm_key *key)
{
	key_unlink(ctx, key);
	key->next = ctx->keys;
	if (ctx->keys)
		ctx->keys->prev = key;
	ctx->keys = key;
}

static void key_evict(struct tpm_ctx *ctx, struct tpm_key *key)
{
	TSS2_RC rc;

	if (key->tr == ESYS_TR_NONE)
		return;
	Esys_Free(key->saved);
	key->saved = NULL;
	/* Without a saved context the key comes back from its blob. */
	if ((rc = Esys_ContextSave(ctx->esys, key->tr, &key->saved)))
		(void)TPM_ERR(ctx, rc);
	Esys_FlushContext(ctx->esys, key->tr);
	key->tr = ESYS_TR_NONE;
	ctx->resident--;
}

/* Evicts the least recently used resident key; false when none is. */
static bool evict_one(struct tpm_ctx *ctx)
{
	struct tpm_key *k, *lru = NULL;

	for (k = ctx->keys; k; k = k->next)
		if (k->tr != ESYS_TR_NONE)
			lru = k;
	if (!lru)
		return false;
	key_evict(ctx, lru);
	return true;
}

/* Frees a slot for one more object: our keys may fill the TPM's slots
 * (beside a transient SRK) but one is needed for any load or create. */
static void make_room(struct tpm_ctx *ctx)
{
	while (ctx->resident >= ctx->budget && evict_one(ctx))
		;
}

/* The TPM (or ESYS, checking the public area) refuses what it did not make
 * or what was changed: integrity, size, value, key, sensitive ... all mean
 * a bad blob, not a bad TPM. */
static bool load_refused(TSS2_RC rc)
{
	TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;

	if (layer == TSS2_ESAPI_RC_LAYER || layer == TSS2_MU_RC_LAYER)
		return true;
	return (layer == TSS2_TPM_RC_LAYER ||
		layer == TSS2_RESMGR_TPM_RC_LAYER) &&
	       ((rc & TPM2_RC_FMT1) || tpm_rc_is(rc, TPM2_RC_SENSITIVE));
}

/* Loads a blob into a transient slot, making room first (and again when
 * the TPM says its object memory is full: someone else holds slots). */
static int load_blob(struct tpm_ctx *ctx, const struct tpm_blob *blob,
		     const TPM2B_AUTH *auth, ESYS_TR *tr)
{
	TPM2B_PRIVATE priv;
	TPM2B_PUBLIC pub;
	TSS2_RC rc;
	int err;

	if ((err = blob_get(blob, &pub, &priv)) < 0)
		return err;
	make_room(ctx);
	for (;;) {
		if ((err = session_for(ctx, CRYPT_BOTH)) < 0)
			return err;
		rc = Esys_Load(ctx->esys, ctx->srk, ctx->session, ESYS_TR_NONE,
			       ESYS_TR_NONE, &priv, &pub, tr);
		if (rc && tpm_rc_is(rc, TPM2_RC_OBJECT_MEMORY) &&
		    evict_one(ctx))
			continue;
		break;
	}
	if (rc) {
		*tr = ESYS_TR_NONE;
		err = TPM_ERR(ctx, rc);
		return err == TK_ERR_DEVICE && load_refused(rc) ? TK_ERR_INVALID
								: err;
	}
	if ((rc = Esys_TR_SetAuth(ctx->esys, *tr, auth))) {
		Esys_FlushContext(ctx->esys, *tr);
		*tr = ESYS_TR_NONE;
		return TPM_ERR(ctx, rc);
	}
	return 0;
}

/* Makes key resident (reloading its saved context or its blob). */
static int key_use(struct tpm_ctx *ctx, struct tpm_key *key)
{
	TSS2_RC rc = 1;
	int err;

	if (ctx->gone)
		return TK_ERR_REMOVED;
	key_touch(ctx, key);
	if (key->tr != ESYS_TR_NONE)
		return 0;
	make_room(ctx);
	if (key->saved) {
		rc = Esys_ContextLoad(ctx->esys, key->saved, &key->tr);
		if (rc == 0 &&
		    (rc = Esys_TR_SetAuth(ctx->esys, key->tr, &key->auth))) {
			Esys_FlushContext(ctx->esys, key->tr);
			key->tr = ESYS_TR_NONE;
		}
		if (rc && (err = TPM_ERR(ctx, rc)) == TK_ERR_REMOVED)
			return err;
		Esys_Free(key->saved);
		key->saved = NULL;
	}
	if (rc && (err = load_blob(ctx, &key->blob, &key->auth, &key->tr)) < 0)
		return err;
	ctx->resident++;
	return 0;
}

int tpm_key_load(struct tpm_ctx *ctx, const struct tpm_blob *blob,
		 const uint8_t *auth, size_t auth_len, struct tpm_key **out)
{
	struct tpm_pubkey pk;
	struct tpm_key *key;
	int rc;

	if (!ctx || !blob || !out)
		return TK_ERR_ARG;
	*out = NULL;
	if (ctx->gone)
		return TK_ERR_REMOVED;
	if ((rc = tpm_blob_pubkey(blob, &pk)) < 0)
		return rc;
	if (!(key = calloc(1, sizeof(*key))))
		return TK_ERR_NOMEM;
	key->tr = ESYS_TR_NONE;
	key->kind = pk.kind;
	key->bits = pk.bits;
	key->blob = *blob;
	if ((rc = auth_put(auth, auth_len, &key->auth)) < 0 ||
	    (rc = load_blob(ctx, blob, &key->auth, &key->tr)) < 0) {
		explicit_bzero(key, sizeof(*key));
		free(key);
		return rc;
	}
	ctx->resident++;
	key_touch(ctx, key);
	*out = key;
	return 0;
}

void tpm_key_unload(struct tpm_ctx *ctx, struct tpm_key *key)
{
	if (!ctx || !key)
		return;
	if (key->tr != ESYS_TR_NONE) {
		if (!ctx->gone)
			Esys_FlushContext(ctx->esys, key->tr);
		ctx->resident--;
	}
	key_unlink(ctx, key);
	Esys_Free(key->saved);
	explicit_bzero(key, sizeof(*key));
	free(key);
}

/* ---- operations ---- */

static int unseal_loaded(struct tpm_ctx *ctx, ESYS_TR tr, uint8_t *data,
			 size_t *len)
{
	TPM2B_SENSITIVE_DATA *d = NULL;
	TSS2_RC rc;
	int err;

	/* Unseal has no command parameter: encrypt the answer only. */
	if ((err = session_for(ctx, TPMA_SESSION_ENCRYPT)) < 0)
		return err;
	rc = Esys_Unseal(ctx->esys, tr, ctx->session, ESYS_TR_NONE,
			 ESYS_TR_NONE, &d);
	if (rc)
		return TPM_ERR(ctx, rc);
	if (d->size > *len) {
		err = TK_ERR_TOO_LARGE;
	} else {
		memcpy(data, d->buffer, d->size);
		*len = d->size;
		err = 0;
	}
	explicit_bzero(d, sizeof(*d));
	Esys_Free(d);
	return err;
}

int tpm_unseal(struct tpm_ctx *ctx, const struct tpm_blob *blob,
	       const uint8_t *auth, size_t auth_len, uint8_t *data, size_t *len)
{
	TPM2B_AUTH a;
	ESYS_TR tr = ESYS_TR_NONE;
	int rc;

	if (!ctx || !blob || !data || !len)
		return TK_ERR_ARG;
	if (ctx->gone)
		return TK_ERR_REMOVED;
	if ((rc = auth_put(auth, auth_len, &a)) < 0)
		return rc;
	/* A sealed blob is loaded only for the unseal: one slot, briefly. */
	if ((rc = load_blob(ctx, blob, &a, &tr)) < 0)
		goto out;
	rc = unseal_loaded(ctx, tr, data, len);
	if (!ctx->gone)
		Esys_FlushContext(ctx->esys, tr);
out:
	explicit_bzero(&a, sizeof(a));
	return rc;
}

/* Copies a TPM2B value into out right-aligned in n bytes (the TPM may drop
 * leading zeros). */
static int put_fixed(uint8_t *out, size_t n, const uint8_t *v, size_t vlen)
{
	if (vlen > n)
		return TK_ERR_DEVICE;
	memset(out, 0, n - vlen);
	memcpy(out + (n - vlen), v, vlen);
	return 0;
}

int tpm_ecdsa(struct tpm_ctx *ctx, struct tpm_key *key, const uint8_t *digest,
	      size_t dlen, uint8_t *out, size_t *out_len)
{
	const TPMT_TK_HASHCHECK null_ticket = { .tag = TPM2_ST_HASHCHECK,
						.hierarchy = TPM2_RH_NULL };
	TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_ECDSA };
	TPMT_SIGNATURE *sig = NULL;
	TPM2B_DIGEST d = { 0 };
	size_t n;
	TSS2_RC rc;
	int err;

	if (!ctx || !key || !digest || !out || !out_len ||
	    key->kind != TPM_KEY_EC)
		return TK_ERR_ARG;
	n = key->bits / 8u;
	if (dlen == 0 || dlen > 64 || n > sizeof(d.buffer) || *out_len < 2 * n)
		return TK_ERR_ARG;
	/* Shaped to the curve as ECDSA reads it (the leftmost n bytes of a
	 * longer digest; a shorter one is the same integer zero-padded), and
	 * signed as the curve's own hash: the TPM need not have SHA-1 or
	 * SHA-512, and the signature is the same. */
	d.size = (UINT16)n;
	if (dlen >= n)
		memcpy(d.buffer, digest, n);
	else
		memcpy(d.buffer + (n - dlen), digest, dlen);
	scheme.details.ecdsa.hashAlg =
	    n == 48 ? TPM2_ALG_SHA384 : TPM2_ALG_SHA256;
	if ((err = key_use(ctx, key)) < 0 ||
	    (err = session_for(ctx, TPMA_SESSION_DECRYPT)) < 0)
		return err;
	rc = Esys_Sign(ctx->esys, key->tr, ctx->session, ESYS_TR_NONE,
		       ESYS_TR_NONE, &d, &scheme, &null_ticket, &sig);
	if (rc)
		return TPM_ERR(ctx, rc);
	if (sig->sigAlg != TPM2_ALG_ECDSA ||
	    (err = put_fixed(out, n, sig->signature.ecdsa.signatureR.buffer,
			     sig->signature.ecdsa.signatureR.size)) < 0 ||
	    (err = put_fixed(out + n, n, sig->signature.ecdsa.signatureS.buffer,
			     sig->signature.ecdsa.signatureS.size)) < 0) {
		err = err ? err : TK_ERR_DEVICE;
		goto out;
	}
	*out_len = 2 * n;
	err = 0;
out:
	Esys_Free(sig);
	return err;
}

int tpm_rsa_raw(struct tpm_ctx *ctx, struct tpm_key *key, const uint8_t *in,
		size_t in_len, uint8_t *out, size_t *out_len)
{
	const TPMT_RSA_DECRYPT scheme = { .scheme = TPM2_ALG_NULL };
	const TPM2B_DATA label = { 0 };
	TPM2B_PUBLIC_KEY_RSA c = { 0 };
	TPM2B_PUBLIC_KEY_RSA *m = NULL;
	size_t n;
	TSS2_RC rc;
	int err;

	if (!ctx || !key || !in || !out || !out_len || key->kind != TPM_KEY_RSA)
		return TK_ERR_ARG;
	n = key->bits / 8u;
	if (in_len != n || n > sizeof(c.buffer) || *out_len < n)
		return TK_ERR_ARG;
	c.size = (UINT16)n;
	memcpy(c.buffer, in, n);
	if ((err = key_use(ctx, key)) < 0 ||
	    (err = session_for(ctx, CRYPT_BOTH)) < 0)
		goto out;
	rc = Esys_RSA_Decrypt(ctx->esys, key->tr, ctx->session, ESYS_TR_NONE,
			      ESYS_TR_NONE, &c, &scheme, &label, &m);
	if (rc) {
		err = TPM_ERR(ctx, rc);
		goto out;
	}
	if ((err = put_fixed(out, n, m->buffer, m->size)) == 0)
		*out_len = n;
out:
	if (m)
		explicit_bzero(m, sizeof(*m));
	Esys_Free(m);
	explicit_bzero(&c, sizeof(c));
	return err;
}

int tpm_ecdh(struct tpm_ctx *ctx, struct tpm_key *key, const uint8_t *point,
	     size_t point_len, uint8_t *out, size_t *out_len)
{
	TPM2B_ECC_POINT p = { 0 };
	TPM2B_ECC_POINT *z = NULL;
	size_t n;
	TSS2_RC rc;
	int err;

	if (!ctx || !key || !point || !out || !out_len ||
	    key->kind != TPM_KEY_EC)
		return TK_ERR_ARG;
	n = key->bits / 8u;
	if (point_len != 1 + 2 * n || point[0] != 0x04 ||
	    n > sizeof(p.point.x.buffer) || *out_len < n)
		return TK_ERR_ARG;
	p.point.x.size = p.point.y.size = (UINT16)n;
	memcpy(p.point.x.buffer, point + 1, n);
	memcpy(p.point.y.buffer, point + 1 + n, n);
	if ((err = key_use(ctx, key)) < 0 ||
	    (err = session_for(ctx, CRYPT_BOTH)) < 0)
		return err;
	rc = Esys_ECDH_ZGen(ctx->esys, key->tr, ctx->session, ESYS_TR_NONE,
			    ESYS_TR_NONE, &p, &z);
	if (rc) {
		/* A point not on the curve is the caller's bad input. */
		err = TPM_ERR(ctx, rc);
		return tpm_rc_is(rc, TPM2_RC_ECC_POINT) ? TK_ERR_ARG : err;
	}
	if ((err = put_fixed(out, n, z->point.x.buffer, z->point.x.size)) == 0)
		*out_len = n;
	explicit_bzero(z, sizeof(*z));
	Esys_Free(z);
	return err;
}
