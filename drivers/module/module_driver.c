/* The module driver: one helper process per configured module (link.h),
 * its tokens as devices "module:NAME:SLOTID". A thread of the driver's
 * keeps the slot table: it reads the module's slot list when the helper
 * comes up, every poll_ms after (SoftHSMv2 has no C_WaitForSlotEvent, and
 * shows a token made by softhsm2-util only after C_GetSlotList(NULL): the
 * size query every pass does), and when woken; and it empties the table
 * when the helper goes down (a crash, a hang the link killed). What
 * changed is announced as HOTPLUG_MODULE_TOKEN messages (module_driver_watch):
 * the front end closes the tokens that left (their
 * sessions answer CKR_DEVICE_REMOVED) and opens them again when the next
 * helper shows them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "drv_log.h"
#include "hotplug.h"
#include "module_int.h"

static const struct tk_driver_ops mdrv_ops;

static struct mdrv *mdrv_of(struct tk_driver *drv)
{
	return (struct mdrv *)drv;
}

bool module_driver_is(const struct tk_driver *drv)
{
	return drv && drv->ops == &mdrv_ops;
}

/* ---- the slot table ---- */

static void announce(struct mdrv *d, const struct mdrv_slot *s,
		     enum hotplug_event ev)
{
	struct hotplug_msg m = { .ev = ev, .kind = HOTPLUG_MODULE_TOKEN };

	pthread_cond_broadcast(&d->cond);
	if (!d->q)
		return;
	snprintf(m.id, sizeof(m.id), "%s", s->device);
	m.at_ms = hotplug_now_ms();
	if (hotplug_queue_push(d->q, &m) < 0)
		DRV_LOG("module %s: out of memory: an event for %s is lost",
			d->name, s->device);
}

static bool token_wanted(const struct mdrv *d, CK_TOKEN_INFO *ti)
{
	if (!d->nuris)
		return true;
	for (size_t i = 0; i < d->nuris; i++)
		if (p11_kit_uri_match_token_info(d->uris[i], ti))
			return true;
	return false;
}

/* Under lock: the new list of present tokens replaces the table's. */
static void table_apply(struct mdrv *d, const struct mdrv_slot *now, size_t n)
{
	struct mdrv_slot *s;
	size_t i, j;

	for (i = 0; i < d->nslots; i++) {
		s = &d->slots[i];
		for (j = 0; j < n && now[j].id != s->id; j++)
			;
		if (!s->present)
			continue;
		if (j == n) {
			s->present = false;
			announce(d, s, HOTPLUG_LEFT);
		} else if (memcmp(s->ti.serialNumber, now[j].ti.serialNumber,
				  16) != 0 ||
			   memcmp(s->ti.label, now[j].ti.label, 32) != 0) {
			/* another token in the slot (re-initialised) */
			s->ti = now[j].ti;
			s->events++;
			announce(d, s, HOTPLUG_ARRIVED);
		} else {
			s->ti = now[j].ti; /* flags change: no news */
		}
	}
	for (j = 0; j < n; j++) {
		for (i = 0; i < d->nslots && d->slots[i].id != now[j].id; i++)
			;
		if (i == d->nslots) {
			if (d->nslots == MDRV_MAX_SLOTS)
				continue;
			s = &d->slots[d->nslots++];
			*s = now[j];
			snprintf(s->device, sizeof(s->device), "%s%s:%lu",
				 MDRV_DEVICE_PREFIX, d->name,
				 (unsigned long)now[j].id);
		} else if (d->slots[i].present) {
			continue;
		}
		s = &d->slots[i];
		s->ti = now[j].ti;
		s->present = true;
		s->events++;
		announce(d, s, HOTPLUG_ARRIVED);
	}
}

/* Under lock: the helper went down; every token with it. */
static void table_clear(struct mdrv *d)
{
	for (size_t i = 0; i < d->nslots; i++)
		if (d->slots[i].present) {
			d->slots[i].present = false;
			announce(d, &d->slots[i], HOTPLUG_LEFT);
		}
}

static bool token_info_parse(const struct mlink_reply *r, CK_TOKEN_INFO *ti)
{
	const struct rpc_arg *a = r->msg.args;

	if (r->msg.nargs < 17)
		return false;
	memset(ti, 0, sizeof(*ti));
	for (int i = 0; i < 4; i++)
		if (a[i].type != RPC_ARG_SPACE)
			return false;
	memcpy(ti->label, a[0].bytes.p,
	       a[0].bytes.len < 32 ? a[0].bytes.len : 32);
	memcpy(ti->manufacturerID, a[1].bytes.p,
	       a[1].bytes.len < 32 ? a[1].bytes.len : 32);
	memcpy(ti->model, a[2].bytes.p,
	       a[2].bytes.len < 16 ? a[2].bytes.len : 16);
	memcpy(ti->serialNumber, a[3].bytes.p,
	       a[3].bytes.len < 16 ? a[3].bytes.len : 16);
	ti->flags = a[4].ulong;
	ti->ulMaxSessionCount = a[5].ulong;
	ti->ulSessionCount = a[6].ulong;
	ti->ulMaxRwSessionCount = a[7].ulong;
	ti->ulRwSessionCount = a[8].ulong;
	ti->ulMaxPinLen = a[9].ulong;
	ti->ulMinPinLen = a[10].ulong;
	ti->ulTotalPublicMemory = a[11].ulong;
	ti->ulFreePublicMemory = a[12].ulong;
	ti->ulTotalPrivateMemory = a[13].ulong;
	ti->ulFreePrivateMemory = a[14].ulong;
	ti->hardwareVersion = a[15].version;
	ti->firmwareVersion = a[16].version;
	return true;
}

/* The tokens present in generation gen now, filtered by the URIs. */
static int slots_read(struct mdrv *d, uint64_t gen, struct mdrv_slot *now,
		      size_t *n)
{
	struct rpc_arg q[] = { MT_Y(CK_FALSE), MT_FU(0) };
	struct mlink_reply r, ti;
	CK_ULONG count = 0;
	int e;

	*n = 0;
	/* The size query first: SoftHSMv2 looks for new tokens then. */
	if ((e = mlink_call_gen(d->link, gen, RPC_C_GetSlotList, q, 2, 0, &r)) <
		0 ||
	    r.rv != CKR_OK) {
		mlink_reply_clear(&r);
		return e < 0 ? e : TK_ERR_DEVICE;
	}
	mlink_reply_clear(&r);
	q[0].byte = CK_TRUE;
	q[1].room = MDRV_MAX_SLOTS;
	if ((e = mlink_call_gen(d->link, gen, RPC_C_GetSlotList, q, 2, 0, &r)) <
		0 ||
	    r.rv != CKR_OK || r.msg.nargs < 1 ||
	    r.msg.args[0].type != RPC_ARG_ULONGS) {
		mlink_reply_clear(&r);
		return e < 0 ? e : TK_ERR_DEVICE;
	}
	count = r.msg.args[0].ulongs.count;
	for (CK_ULONG i = 0; i < count && *n < MDRV_MAX_SLOTS; i++) {
		struct mdrv_slot *s = &now[*n];
		struct rpc_arg a[] = { MT_U(r.msg.args[0].ulongs.v[i]) };

		memset(s, 0, sizeof(*s));
		s->id = a[0].ulong;
		if (mlink_call_gen(d->link, gen, RPC_C_GetTokenInfo, a, 1, 0,
				   &ti) == 0 &&
		    ti.rv == CKR_OK && token_info_parse(&ti, &s->ti) &&
		    (s->ti.flags & CKF_TOKEN_INITIALIZED) &&
		    token_wanted(d, &s->ti))
			(*n)++;
		mlink_reply_clear(&ti);
	}
	mlink_reply_clear(&r);
	return 0;
}

static void deadline_after(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *watch_thread(void *arg)
{
	struct mdrv *d = arg;
	struct mdrv_slot *now = calloc(MDRV_MAX_SLOTS, sizeof(*now));
	struct timespec ts;
	uint64_t gen;
	size_t n;
	bool up;
	int e;

	pthread_mutex_lock(&d->lock);
	while (now && !d->stop) {
		up = d->up;
		gen = d->gen;
		d->kick = false;
		pthread_mutex_unlock(&d->lock);
		/* Before OpenSC's slot list looks for new readers. */
		if (d->osc && osc_refresh(d->osc) > 0 && up) {
			mlink_kill(d->link, gen);
			up = false;
		}
		e = up ? slots_read(d, gen, now, &n) : TK_ERR_TRANSPORT;
		pthread_mutex_lock(&d->lock);
		/* A helper that went down meanwhile: on_state cleared. */
		if (e == 0 && d->up && d->gen == gen)
			table_apply(d, now, n);
		deadline_after(&ts, d->poll_ms);
		while (!d->stop && !d->kick &&
		       pthread_cond_timedwait(&d->cond, &d->lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&d->lock);
	free(now);
	return NULL;
}

/* The link's thread: the helper came up or went down. */
static void on_state(void *ctx, uint64_t gen, bool up)
{
	struct mdrv *d = ctx;

	pthread_mutex_lock(&d->lock);
	if (up) {
		d->up = true;
		d->gen = gen;
	} else if (d->gen == gen) {
		d->up = false;
		DRV_LOG("module %s: helper down: its tokens are withdrawn",
			d->name);
		table_clear(d);
	}
	d->kick = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

bool mdrv_slot_get(struct mdrv *d, const char *device, struct mdrv_slot *out,
		   uint64_t *gen)
{
	bool found = false;

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->nslots && !found; i++)
		if (d->slots[i].present &&
		    strcmp(d->slots[i].device, device) == 0) {
			*out = d->slots[i];
			found = d->up;
		}
	*gen = d->gen;
	pthread_mutex_unlock(&d->lock);
	return found;
}

/* ---- driver ops ---- */

static int drv_open(struct tk_driver *drv, const char *device,
		    struct tk_token **out)
{
	struct mdrv *d = mdrv_of(drv);
	size_t pre = strlen(MDRV_DEVICE_PREFIX), nl = strlen(d->name);
	struct mdrv_slot s;
	uint64_t gen;

	if (!device || !out)
		return TK_ERR_ARG;
	if (strncmp(device, MDRV_DEVICE_PREFIX, pre) != 0 ||
	    strncmp(device + pre, d->name, nl) != 0 || device[pre + nl] != ':')
		return TK_ERR_NOT_FOUND;
	if (!mdrv_slot_get(d, device, &s, &gen))
		return TK_ERR_NOT_FOUND;
	return mt_open(d, &s, gen, out);
}

static void drv_free(struct tk_driver *drv)
{
	struct mdrv *d = mdrv_of(drv);

	if (!d)
		return;
	if (d->thread_on) {
		pthread_mutex_lock(&d->lock);
		d->stop = true;
		pthread_cond_broadcast(&d->cond);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->thread, NULL);
	}
	mlink_free(&d->link);
	osc_free(&d->osc);
	for (size_t i = 0; i < d->nuris; i++)
		p11_kit_uri_free(d->uris[i]);
	free(d->uris);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static const struct tk_driver_ops mdrv_ops = {
	.name = "module",
	.open = drv_open,
	.free = drv_free,
};

void module_driver_rescan(struct tk_driver *drv)
{
	struct mdrv *d = mdrv_of(drv);

	pthread_mutex_lock(&d->lock);
	d->kick = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

void module_driver_watch(struct tk_driver *drv, struct hotplug_queue *q)
{
	struct mdrv *d = mdrv_of(drv);

	pthread_mutex_lock(&d->lock);
	d->q = q;
	for (size_t i = 0; i < d->nslots; i++)
		if (d->slots[i].present)
			announce(d, &d->slots[i], HOTPLUG_ARRIVED);
	pthread_mutex_unlock(&d->lock);
}

void module_driver_helper(struct tk_driver *drv, pid_t *pid, uint64_t *gen)
{
	struct mlink_stats st;

	mlink_stats(mdrv_of(drv)->link, &st);
	*pid = st.up ? st.pid : 0;
	*gen = st.up ? st.gen : 0;
}

static int uris_parse(struct mdrv *d, const struct drv_module_cfg *cfg)
{
	if (!cfg->ntokens)
		return 0;
	if (!(d->uris = calloc(cfg->ntokens, sizeof(*d->uris))))
		return TK_ERR_NOMEM;
	for (size_t i = 0; i < cfg->ntokens; i++) {
		if (!(d->uris[i] = p11_kit_uri_new()))
			return TK_ERR_NOMEM;
		d->nuris++;
		if (p11_kit_uri_parse(cfg->tokens[i], P11_KIT_URI_FOR_TOKEN,
				      d->uris[i]) != P11_KIT_URI_OK) {
			DRV_LOG("module %s: token URI '%s' does not parse",
				cfg->name, cfg->tokens[i]);
			return TK_ERR_ARG;
		}
	}
	return 0;
}

int module_driver_new(const struct drv_module_cfg *cfg, struct tk_driver **out)
{
	struct drv_config one = { .modules = (struct drv_module_cfg *)cfg,
				  .nmodules = cfg ? 1 : 0 };

	return module_driver_new_in(&one, 0, out);
}

int module_driver_new_in(const struct drv_config *all, size_t self,
			 struct tk_driver **out)
{
	const struct drv_module_cfg *cfg =
	    all && self < all->nmodules ? &all->modules[self] : NULL;
	struct mlink_config lc = { 0 };
	struct mdrv *d;
	const char **env = NULL;
	int r;

	*out = NULL;
	if (!cfg || !cfg->path || !cfg->name[0])
		return TK_ERR_ARG;
	if (!(d = calloc(1, sizeof(*d))) ||
	    !(env = calloc(cfg->nenv + 2, sizeof(*env)))) {
		free(d);
		return TK_ERR_NOMEM;
	}
	d->base.ops = &mdrv_ops;
	snprintf(d->name, sizeof(d->name), "%s", cfg->name);
	d->poll_ms = MODULE_POLL_MS;
	pthread_mutex_init(&d->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&d->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	if ((r = uris_parse(d, cfg)) < 0)
		goto out;
	for (size_t i = 0; i < cfg->nenv; i++)
		env[i] = cfg->env[i];
	if ((r = osc_new(all, self, &d->osc)) < 0)
		goto out;
	if (d->osc)
		env[cfg->nenv] = osc_env(d->osc);
	lc.module = cfg->path;
	lc.helper = getenv("TOKEND_MODULE_HELPER"); /* tests; NULL: beside */
	lc.env = env;
	lc.timeout_ms =
	    (cfg->timeout ? cfg->timeout : DRV_MODULE_TIMEOUT_DEFAULT) * 1000u;
	lc.on_state = on_state;
	lc.ctx = d;
	if ((r = mlink_new(&lc, &d->link)) < 0) {
		DRV_LOG("module %s (%s): %s", cfg->name, cfg->path,
			tk_strerror(r));
		goto out;
	}
	if (pthread_create(&d->thread, NULL, watch_thread, d) != 0) {
		r = TK_ERR_NOMEM;
		goto out;
	}
	d->thread_on = true;
	*out = &d->base;
	d = NULL;
out:
	free(env);
	if (d)
		drv_free(&d->base);
	return r;
}
