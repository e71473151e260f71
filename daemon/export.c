/* Listening sockets and per-export policy. */
#include "export.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "conn.h"
#include "error.h"
#include "frontend.h"
#include "log.h"
#include "loop.h"
#include "secret.h"

#define EXPORT_ACCEPT_BATCH 32
/* Out of descriptors: try accepting again after this long. */
#define EXPORT_EMFILE_RETRY_MS 1000

static void export_on_accept(struct loop *loop, int lfd, uint32_t events,
			     void *ctx);

/* ---- policy ---- */

static bool export_gid_listed(const struct export_conf *ec, gid_t gid)
{
	for (size_t i = 0; i < ec->n_allow_gids; i++)
		if (ec->allow_gids[i] == gid)
			return true;
	return false;
}

bool export_accepts_peer(const struct export_conf *ec, const struct peer *p)
{
	if (ec->n_allow_uids == 0 && ec->n_allow_gids == 0)
		return true;
	for (size_t i = 0; i < ec->n_allow_uids; i++)
		if (ec->allow_uids[i] == p->uid)
			return true;
	if (export_gid_listed(ec, p->gid))
		return true;
	for (size_t i = 0; i < p->ngroups; i++)
		if (export_gid_listed(ec, p->groups[i]))
			return true;
	return false;
}

bool export_shows_token(const struct export_conf *ec, const CK_TOKEN_INFO *ti)
{
	if (ec->n_tokens == 0)
		return true;
	for (size_t i = 0; i < ec->n_tokens; i++)
		if (p11_kit_uri_match_token_info(ec->tokens[i], ti) == 1)
			return true;
	return false;
}

size_t export_prefer_rank(const struct export_conf *ec, const CK_TOKEN_INFO *ti)
{
	size_t i;

	for (i = 0; i < ec->n_prefer; i++)
		if (p11_kit_uri_match_token_info(ec->prefer[i], ti) == 1)
			break;
	return i;
}

/* export_pick_slot without the cache: every present token's info. */
static bool pick_slot_read(const struct export_conf *ec, struct app *app,
			   CK_SLOT_ID *slot)
{
	CK_SLOT_ID *ids = NULL, *v;
	CK_ULONG n = 0;
	CK_TOKEN_INFO ti;
	size_t best = ec->n_prefer, rank;
	CK_RV rv = CKR_BUFFER_TOO_SMALL;

	/* A token may arrive between the two calls: try a few times. */
	for (int tries = 0; tries < 4 && rv == CKR_BUFFER_TOO_SMALL; tries++) {
		if (fe_C_GetSlotList(app, CK_TRUE, NULL, &n) != CKR_OK)
			break;
		n += 4;
		if (!(v = reallocarray(ids, n, sizeof(*ids))))
			break;
		ids = v;
		rv = fe_C_GetSlotList(app, CK_TRUE, ids, &n);
	}
	for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
		/* Gone since the list: not a candidate. */
		if (fe_C_GetTokenInfo(app, ids[i], &ti) != CKR_OK)
			continue;
		rank = export_prefer_rank(ec, &ti);
		if (rank < best ||
		    (rank == best && rank < ec->n_prefer && ids[i] < *slot)) {
			best = rank;
			*slot = ids[i];
		}
	}
	free(ids);
	return best < ec->n_prefer;
}

bool export_pick_slot(struct export_conf *ec, struct app *app, CK_SLOT_ID *slot)
{
	CK_ULONG n = 0;
	uint64_t gen;
	bool found, hit;

	/* The size query alone, as the slot list's: the device messages
	 * under way are applied first (cheap: no token is read). */
	(void)fe_C_GetSlotList(app, CK_TRUE, NULL, &n);
	/* Then the generation, before the pick is read: a token that comes
	 * meanwhile moves it, and the next call reads again. */
	gen = frontend_tokens_gen();
	pthread_mutex_lock(&ec->pick_lock);
	hit = ec->pick_valid && ec->pick_gen == gen;
	found = hit && ec->pick_found;
	if (found)
		*slot = ec->pick_slot;
	pthread_mutex_unlock(&ec->pick_lock);
	if (hit)
		return found;
	found = pick_slot_read(ec, app, slot);
	pthread_mutex_lock(&ec->pick_lock);
	ec->pick_valid = true;
	ec->pick_gen = gen;
	ec->pick_found = found;
	ec->pick_slot = found ? *slot : 0;
	pthread_mutex_unlock(&ec->pick_lock);
	return found;
}

bool export_shows_object(const struct export_conf *ec, const CK_TOKEN_INFO *ti,
			 const CK_ATTRIBUTE *attrs, CK_ULONG n)
{
	if (ec->n_objects == 0)
		return true;
	for (size_t i = 0; i < ec->n_objects; i++)
		if (p11_kit_uri_match_token_info(ec->objects[i], ti) == 1 &&
		    p11_kit_uri_match_attributes(ec->objects[i], attrs, n) == 1)
			return true;
	return false;
}

bool export_allows(const struct export_conf *ec, enum export_op op)
{
	switch (op) {
	case EXPORT_OP_INIT_TOKEN:
	case EXPORT_OP_INIT_PIN:
	case EXPORT_OP_SET_PIN:
		return ec->access >= EXPORT_ACCESS_ADMIN;
	case EXPORT_OP_SO_LOGIN:
		return ec->access >= EXPORT_ACCESS_FULL;
	case EXPORT_OP_GENERATE_KEY:
	case EXPORT_OP_CREATE_OBJECT:
	case EXPORT_OP_DESTROY_OBJECT:
	case EXPORT_OP_SET_ATTRIBUTE:
		return ec->access >= EXPORT_ACCESS_FULL && ec->n_objects == 0;
	}
	return false;
}

bool export_conf_has_pin(const struct export_conf *ec)
{
	return ec->pin_file != NULL;
}

int export_pin_get(struct export *ex, uint8_t *pin, size_t *len)
{
	int r = TK_ERR_NOT_FOUND;

	pthread_mutex_lock(&ex->lock);
	if (ex->pin_rejected) {
		r = TK_ERR_PIN_INCORRECT;
	} else if (ex->conf->pin != NULL) {
		r = TK_ERR_TOO_LARGE;
		if (ex->conf->pin->len <= *len) {
			memcpy(pin, ex->conf->pin->data, ex->conf->pin->len);
			*len = ex->conf->pin->len;
			r = 0;
		}
	}
	pthread_mutex_unlock(&ex->lock);
	return r;
}

void export_pin_rejected(struct export *ex)
{
	bool first;

	pthread_mutex_lock(&ex->lock);
	first = !ex->pin_rejected && ex->conf->pin != NULL;
	ex->pin_rejected = ex->pin_rejected || first;
	pthread_mutex_unlock(&ex->lock);
	if (first)
		log_err("export %s: the card refused the PIN from %s; NULL-PIN "
			"logins are refused until the file is fixed and tokend "
			"reloaded",
			ex->conf->name, ex->conf->pin_file);
}

/* ---- connections ---- */

bool export_conn_full(const struct export *ex)
{
	return ex->nconns - ex->nheld >= ex->limits.max_connections_per_export;
}

/* Stops watching the listening socket: new clients wait in its backlog. */
static void export_pause(struct export *ex, const char *why)
{
	if (ex->paused || ex->watch == NULL)
		return;
	loop_remove(ex->loop, &ex->watch);
	ex->paused = true;
	log_notice("export %s: %s; new connections wait until one ends",
		   ex->conf->name, why);
}

static void export_resume(struct export *ex)
{
	if (!ex->paused || ex->fd < 0 || ex->retry != NULL ||
	    export_conn_full(ex))
		return;
	if (loop_add(ex->loop, ex->fd, EPOLLIN, export_on_accept, ex,
		     &ex->watch) != 0)
		return; /* logged; the next connection's end retries */
	ex->paused = false;
	log_info("export %s: accepting connections again", ex->conf->name);
}

static void export_on_retry(struct loop *loop, void *ctx)
{
	struct export *ex = ctx;

	(void)loop;
	ex->retry = NULL;
	export_resume(ex);
}

void export_conn_add(struct export *ex, struct conn *c)
{
	c->prev = NULL;
	c->next = ex->conns;
	if (ex->conns)
		ex->conns->prev = c;
	ex->conns = c;
	ex->nconns++;
}

void export_conn_remove(struct export *ex, struct conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		ex->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	ex->nconns--;
	export_resume(ex);
}

bool export_close_conns(struct export *ex, const struct timespec *deadline)
{
	struct timespec dl;
	struct conn *c;
	bool all = true;

	if (deadline == NULL) {
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += EXPORT_CLOSE_WAIT_S;
		deadline = &dl;
	}
	while ((c = ex->conns) != NULL)
		all = conn_close_wait(&c, deadline) && all;
	return all;
}

/* ---- sockets ---- */

static void export_on_accept(struct loop *loop, int lfd, uint32_t events,
			     void *ctx)
{
	struct export *ex = ctx;
	struct peer peer;
	int fd;

	(void)loop;
	(void)events;
	for (int i = 0; i < EXPORT_ACCEPT_BATCH && !ex->paused; i++) {
		if (export_conn_full(ex)) {
			export_pause(ex, "max-connections-per-export reached");
			return;
		}
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			/* Level-triggered: left watched, this would spin. */
			export_pause(ex, "out of file descriptors");
			if (ex->paused &&
			    loop_timer_add(ex->loop, EXPORT_EMFILE_RETRY_MS,
					   export_on_retry, ex,
					   &ex->retry) != 0)
				export_resume(ex);
			return;
		}
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_err("export %s: accept: %s", ex->conf->name,
					strerror(errno));
			return;
		}
		if (peer_from_socket(fd, &peer) != 0) {
			close(fd);
			continue;
		}
		if (!export_accepts_peer(ex->conf, &peer)) {
			log_notice(
			    "export %s: refused peer uid %u gid %u pid %d",
			    ex->conf->name, (unsigned)peer.uid,
			    (unsigned)peer.gid, (int)peer.pid);
			close(fd);
		} else {
			conn_accept(ex, fd, &peer);
		}
		peer_clear(&peer);
	}
}

/* mkdir -p of the socket's parent directory, missing parts made 0755. */
static int export_make_parent(const char *path)
{
	char dir[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(dir))
		return TK_ERR_ARG;
	memcpy(dir, path, len + 1);
	for (char *s = dir + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			log_err("mkdir %s: %s", dir, strerror(errno));
			return TK_ERR_IO;
		}
		*s = '/';
	}
	return 0;
}

/* Removes a stale socket file; refuses a live one or a non-socket. */
static int export_remove_stale(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, r;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : TK_ERR_IO;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket", sun->sun_path);
		return TK_ERR_IO;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return TK_ERR_IO;
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (r == 0) {
		log_err("%s: another server is listening there", sun->sun_path);
		return TK_ERR_BUSY;
	}
	if (unlink(sun->sun_path) < 0 && errno != ENOENT) {
		log_err("unlink %s: %s", sun->sun_path, strerror(errno));
		return TK_ERR_IO;
	}
	return 0;
}

/* Owner and mode of the socket file we bound, found by path but checked
 * by device and inode and changed through an O_PATH descriptor: whoever
 * may write the socket's directory cannot make this chown or chmod
 * another file (O_NOFOLLOW refuses a symlink at the end; a swapped
 * directory higher up yields another inode). fchmod() refuses O_PATH
 * descriptors, so the mode goes through /proc/self/fd, which names this
 * very inode. */
static int export_apply_perms(const struct export *ex,
			      const struct export_conf *ec)
{
	char proc[64];
	struct stat st;
	int fd, r = TK_ERR_IO;

	fd = open(ec->socket, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		log_err("open %s: %s", ec->socket, strerror(errno));
		return TK_ERR_IO;
	}
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    st.st_dev != ex->dev || st.st_ino != ex->ino) {
		log_err("%s is no longer the socket tokend bound; owner and "
			"mode left alone",
			ec->socket);
		goto out;
	}
	/* chown only when needed: seccomp filters may refuse it. */
	if ((st.st_uid != ec->owner || st.st_gid != ec->group) &&
	    fchownat(fd, "", ec->owner, ec->group, AT_EMPTY_PATH) < 0) {
		log_err("chown %s to %u:%u: %s", ec->socket,
			(unsigned)ec->owner, (unsigned)ec->group,
			strerror(errno));
		goto out;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if ((st.st_mode & 07777) != ec->mode && chmod(proc, ec->mode) < 0) {
		log_err("chmod %s: %s", ec->socket, strerror(errno));
		goto out;
	}
	r = 0;
out:
	close(fd);
	return r;
}

/* Binds and listens; clients cannot connect before listen(), so they never
 * see the socket with the wrong owner or mode. */
static int export_bind(struct export *ex)
{
	const struct export_conf *ec = ex->conf;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int r;

	mode_t mask;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", ec->socket);
	if ((r = export_make_parent(ec->socket)) != 0 ||
	    (r = export_remove_stale(&sun)) != 0)
		return r;
	ex->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ex->fd < 0) {
		log_err("socket: %s", strerror(errno));
		return TK_ERR_IO;
	}
	/* Born 0600: nobody else connects before owner and mode are set. */
	mask = umask(0177);
	r = bind(ex->fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(mask);
	if (r < 0) {
		log_err("bind %s: %s", ec->socket, strerror(errno));
		return TK_ERR_IO;
	}
	/* The inode we bound, for every later change and the unlink. */
	if (lstat(ec->socket, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		log_err("%s: not our socket after bind", ec->socket);
		return TK_ERR_IO;
	}
	ex->dev = st.st_dev;
	ex->ino = st.st_ino;
	if ((r = export_apply_perms(ex, ec)) != 0)
		return r;
	if (listen(ex->fd, SOMAXCONN) < 0) {
		log_err("listen %s: %s", ec->socket, strerror(errno));
		return TK_ERR_IO;
	}
	return 0;
}

int export_open(struct loop *loop, struct export_conf *conf,
		const struct config_limits *limits, int inherited_fd,
		struct export **out)
{
	struct export *ex;
	int r;

	*out = NULL;
	if ((ex = calloc(1, sizeof(*ex))) == NULL)
		return TK_ERR_NOMEM;
	pthread_mutex_init(&ex->lock, NULL);
	ex->conf = export_conf_ref(conf);
	ex->limits = *limits;
	ex->pin_rejected = false; /* the file was read again */
	ex->loop = loop;
	ex->fd = -1;
	if (inherited_fd >= 0) {
		ex->fd = inherited_fd;
		ex->borrowed = true;
	} else if ((r = export_bind(ex)) != 0) {
		goto out;
	}
	r = loop_add(loop, ex->fd, EPOLLIN, export_on_accept, ex, &ex->watch);
	if (r != 0)
		goto out;
	log_info("export %s: listening on %s%s", conf->name, conf->socket,
		 ex->borrowed ? " (from systemd)" : "");
	*out = ex;
	ex = NULL;
out:
	export_close(&ex);
	return r;
}

int export_update(struct export *ex, struct export_conf *conf,
		  const struct config_limits *limits)
{
	struct export_conf *old = ex->conf;
	int r = 0;

	/* The new policy (peers, tokens, access, PIN) applies even when the
	 * socket's owner or mode cannot be changed: keeping the old one
	 * would leave a tightened allow-users silently unapplied. */
	if (!ex->borrowed &&
	    (old->owner != conf->owner || old->group != conf->group ||
	     old->mode != conf->mode))
		r = export_apply_perms(ex, conf);
	pthread_mutex_lock(&ex->lock);
	ex->conf = export_conf_ref(conf);
	ex->limits = *limits;
	ex->pin_rejected = false; /* the file was read again */
	/* Connections keep the old settings for policy, never for the PIN. */
	secret_destroy(&old->pin);
	pthread_mutex_unlock(&ex->lock);
	export_conf_unref(&old);
	conn_revoke_refused(ex);
	export_resume(ex); /* the cap may have grown */
	return r;
}

void export_stop_listening(struct export *ex)
{
	struct stat st;

	if (ex->fd < 0)
		return;
	loop_remove(ex->loop, &ex->watch);
	loop_timer_cancel(ex->loop, &ex->retry);
	ex->paused = false;
	if (!ex->borrowed) {
		/* Only our own socket file: another instance may own it now. */
		if (ex->ino != 0 && lstat(ex->conf->socket, &st) == 0 &&
		    st.st_dev == ex->dev && st.st_ino == ex->ino)
			unlink(ex->conf->socket);
		close(ex->fd);
	}
	ex->fd = -1;
	log_info("export %s: stopped listening on %s", ex->conf->name,
		 ex->conf->socket);
}

void export_close(struct export **p)
{
	struct export *ex = *p;

	if (ex == NULL)
		return;
	export_stop_listening(ex);
	export_close_conns(ex, NULL);
	export_conf_unref(&ex->conf);
	pthread_mutex_destroy(&ex->lock);
	free(ex);
	*p = NULL;
}

/* For other listening sockets of the daemon (the control socket): the
 * same safe bind as an export's, owner and mode applied before listen.
 * *fd is -1 on failure. */
int export_listen_path(const char *path, uid_t owner, gid_t group, mode_t mode,
		       int *fd, dev_t *dev, ino_t *ino)
{
	struct export_conf ec = { .name = "control",
				  .socket = (char *)path,
				  .owner = owner,
				  .group = group,
				  .mode = mode };
	struct export ex = { .conf = &ec, .fd = -1 };
	int r;

	if ((r = export_bind(&ex)) != 0 && ex.fd >= 0) {
		close(ex.fd);
		ex.fd = -1;
	}
	*fd = ex.fd;
	*dev = ex.dev;
	*ino = ex.ino;
	return r;
}
