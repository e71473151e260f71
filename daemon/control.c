/* The control socket: accepting, peer checks, one request per connection,
 * replies written without blocking the loop. */
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "conn.h"
#include "error.h"
#include "export.h"
#include "log.h"
#include "loop.h"

struct ctl_conn {
	struct control *ctl;
	uint64_t id;
	int fd;
	struct peer peer;
	struct loop_watch *watch;
	struct loop_timer *timer; /* the request's deadline */
	char in[CONTROL_MAX_REQUEST];
	size_t in_len;
	bool answered; /* the request was handled: no more input */
	bool json;
	struct ctl_sub *sub; /* watch, trace: lines until the peer closes */
	struct buf out;
	size_t out_off;        /* written so far */
	struct ctl_conn *next; /* the control's list */
};

struct control {
	struct loop *loop;
	struct control_host host;
	char *path;
	int fd;
	dev_t dev;
	ino_t ino;
	struct loop_watch *watch;
	int hub_fd; /* watch and trace lines are queued (control_watch.c) */
	struct loop_watch *hub_watch;
	struct ctl_conn *conns;
	size_t nconns;
	uint64_t next_id;
};

/* ---- connections ---- */

static void ctl_conn_free(struct ctl_conn **p)
{
	struct ctl_conn *cc = *p;
	struct control *ctl;

	if (cc == NULL)
		return;
	ctl = cc->ctl;
	for (struct ctl_conn **pp = &ctl->conns; *pp; pp = &(*pp)->next)
		if (*pp == cc) {
			*pp = cc->next;
			ctl->nconns--;
			break;
		}
	loop_remove(ctl->loop, &cc->watch);
	loop_timer_cancel(ctl->loop, &cc->timer);
	control_sub_free(&cc->sub);
	close(cc->fd);
	peer_clear(&cc->peer);
	buf_free(&cc->out);
	free(cc);
	*p = NULL;
}

/* Writes what it can; false when the connection broke or is over (then
 * it was freed). */
static bool ctl_flush(struct ctl_conn *cc)
{
	struct control *ctl = cc->ctl;
	ssize_t w;

	while (cc->out_off < cc->out.len) {
		w = send(cc->fd, cc->out.data + cc->out_off,
			 cc->out.len - cc->out_off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0) {
			ctl_conn_free(&cc);
			return false;
		}
		cc->out_off += (size_t)w;
	}
	if (cc->out_off == cc->out.len) {
		buf_reset(&cc->out);
		cc->out_off = 0;
		if (cc->answered && cc->sub == NULL) {
			/* One request per connection: done. */
			ctl_conn_free(&cc);
			return false;
		}
	}
	if (loop_modify(ctl->loop, cc->watch,
			EPOLLIN | (cc->out.len ? EPOLLOUT : 0)) != 0) {
		ctl_conn_free(&cc);
		return false;
	}
	return true;
}

static void ctl_refuse(struct ctl_conn *cc, const char *why)
{
	log_notice("control: connection %llu (uid %u pid %d): %s; closed",
		   (unsigned long long)cc->id, (unsigned)cc->peer.uid,
		   (int)cc->peer.pid, why);
	buf_reset(&cc->out);
	cc->out_off = 0;
	control_printf(&cc->out, "error %s\n", why);
	cc->answered = true;
	ctl_flush(cc);
}

/* ---- requests ---- */

static void ctl_do_status(struct ctl_conn *cc, const char *arg)
{
	struct control *ctl = cc->ctl;
	struct export *const *ex;
	size_t n = 0;

	(void)arg;
	ex = ctl->host.exports(ctl->host.ctx, &n);
	buf_add(&cc->out, "ok\n", 3);
	control_status(&cc->out, cc->json, ex, n);
}

static void ctl_do_reload(struct ctl_conn *cc, const char *arg)
{
	struct control *ctl = cc->ctl;
	char err[512] = "";

	(void)arg;
	log_info("control: reload asked by uid %u pid %d",
		 (unsigned)cc->peer.uid, (int)cc->peer.pid);
	if (ctl->host.reload(ctl->host.ctx, err, sizeof(err)) != 0) {
		control_printf(&cc->out,
			       "error reload refused, keeping the "
			       "running config: %s\n",
			       err[0] ? err : "see the log");
		return;
	}
	buf_add(&cc->out, "ok\n", 3);
	if (cc->json)
		buf_add(&cc->out, "{\"reloaded\":true}\n", 18);
	else
		buf_add(&cc->out, "reloaded\n", 9);
}

static void ctl_subscribe(struct ctl_conn *cc, bool trace, const char *export,
			  uint64_t conn)
{
	if (control_sub_new(trace, cc->json, export, conn, &cc->sub) != 0) {
		control_printf(&cc->out, "error out of memory\n");
		return;
	}
	if (!trace)
		log_info("control: watch by uid %u pid %d",
			 (unsigned)cc->peer.uid, (int)cc->peer.pid);
	else if (conn)
		log_info("control: trace of connection %llu by uid %u pid %d",
			 (unsigned long long)conn, (unsigned)cc->peer.uid,
			 (int)cc->peer.pid);
	else
		log_info("control: trace of export %s by uid %u pid %d", export,
			 (unsigned)cc->peer.uid, (int)cc->peer.pid);
	buf_add(&cc->out, "ok\n", 3);
}

static void ctl_do_watch(struct ctl_conn *cc, const char *arg)
{
	(void)arg;
	ctl_subscribe(cc, false, NULL, 0);
}

/* arg: a connection's id (all digits), or an export's name. */
static void ctl_do_trace(struct ctl_conn *cc, const char *arg)
{
	struct control *ctl = cc->ctl;
	struct export *const *ex;
	unsigned long long id = 0;
	size_t n = 0;
	char *end;

	ex = ctl->host.exports(ctl->host.ctx, &n);
	if (arg[strspn(arg, "0123456789")] == '\0')
		id = strtoull(arg, &end, 10);
	for (size_t i = 0; id && i < n; i++)
		for (struct conn *c = ex[i]->conns; c; c = c->next)
			if (c->id == id) {
				ctl_subscribe(cc, true, "", id);
				return;
			}
	/* Else an export of that name (which may be all digits too). */
	for (size_t i = 0; i < n; i++)
		if (strcmp(ex[i]->conf->name, arg) == 0) {
			ctl_subscribe(cc, true, arg, 0);
			return;
		}
	control_printf(&cc->out, "error no export or connection '%s'\n", arg);
}

static const struct ctl_verb {
	const char *name;
	bool arg; /* takes one */
	void (*run)(struct ctl_conn *cc, const char *arg);
} ctl_verbs[] = {
	{ "status", false, ctl_do_status },
	{ "reload", false, ctl_do_reload },
	{ "watch", false, ctl_do_watch },
	{ "trace", true, ctl_do_trace },
	{ NULL, false, NULL },
};

/* line: the request without its "\n", printable ASCII: VERB [ARG]
 * [json]. */
static void ctl_dispatch(struct ctl_conn *cc, char *line)
{
	char *verb = strtok(line, " "), *arg = NULL, *w;
	bool extra = false;

	while ((w = strtok(NULL, " ")) != NULL) {
		if (strcmp(w, "json") == 0)
			cc->json = true;
		else if (arg == NULL)
			arg = w;
		else
			extra = true;
	}
	for (const struct ctl_verb *v = ctl_verbs; verb && v->name; v++) {
		if (strcmp(verb, v->name) != 0 || extra ||
		    v->arg != (arg != NULL))
			continue;
		loop_timer_cancel(cc->ctl->loop, &cc->timer);
		cc->answered = true;
		v->run(cc, arg);
		if (buf_failed(&cc->out)) {
			ctl_refuse(cc, "reply too large or out of memory");
			return;
		}
		ctl_flush(cc);
		return;
	}
	ctl_refuse(cc, "malformed request");
}

/* Reads the request line; anything after it is ignored until the reply is
 * out. */
static void ctl_read(struct ctl_conn *cc)
{
	char *nl;
	ssize_t r;

	if (cc->answered) {
		char sink[256];

		r = recv(cc->fd, sink, sizeof(sink), 0);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			ctl_conn_free(&cc);
		return;
	}
	r = recv(cc->fd, cc->in + cc->in_len, sizeof(cc->in) - cc->in_len, 0);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		ctl_conn_free(&cc);
		return;
	}
	cc->in_len += (size_t)r;
	if ((nl = memchr(cc->in, '\n', cc->in_len)) == NULL) {
		if (cc->in_len == sizeof(cc->in))
			ctl_refuse(cc, "request too long");
		return;
	}
	*nl = '\0';
	for (const char *p = cc->in; *p; p++)
		if (*p < 0x20 || *p > 0x7e) {
			ctl_refuse(cc, "malformed request");
			return;
		}
	ctl_dispatch(cc, cc->in);
}

/* A subscriber's queued lines into its output while it keeps up; false
 * when the connection was freed. */
static bool ctl_pump(struct ctl_conn *cc)
{
	if (cc->sub == NULL ||
	    !control_sub_take(cc->sub, &cc->out, cc->out_off))
		return true;
	return ctl_flush(cc);
}

static void ctl_on_hub(struct loop *loop, int fd, uint32_t events, void *ctx)
{
	struct control *ctl = ctx;
	struct ctl_conn *cc, *next;

	(void)loop;
	(void)events;
	control_hub_drain(fd);
	for (cc = ctl->conns; cc; cc = next) {
		next = cc->next; /* cc may go */
		ctl_pump(cc);
	}
}

static void ctl_on_conn(struct loop *loop, int fd, uint32_t events, void *ctx)
{
	struct ctl_conn *cc = ctx;

	(void)loop;
	(void)fd;
	if (events & EPOLLOUT) {
		if (!ctl_flush(cc) || !ctl_pump(cc))
			return;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		ctl_read(cc);
}

static void ctl_on_timeout(struct loop *loop, void *ctx)
{
	struct ctl_conn *cc = ctx;

	(void)loop;
	cc->timer = NULL;
	ctl_refuse(cc, "no request in time");
}

static bool ctl_peer_allowed(struct control *ctl, const struct peer *p)
{
	gid_t gid = ctl->host.admin_gid(ctl->host.ctx);

	if (p->uid == 0)
		return true;
	if (gid == (gid_t)-1)
		return false;
	if (p->gid == gid)
		return true;
	for (size_t i = 0; i < p->ngroups; i++)
		if (p->groups[i] == gid)
			return true;
	return false;
}

static void ctl_accept_one(struct control *ctl, int fd)
{
	struct ctl_conn *cc;

	if (ctl->nconns >= CONTROL_MAX_CONNS ||
	    !(cc = calloc(1, sizeof(*cc)))) {
		log_notice("control: too many connections; one refused");
		close(fd);
		return;
	}
	cc->ctl = ctl;
	cc->fd = fd;
	cc->id = ++ctl->next_id;
	buf_init(&cc->out, CONTROL_MAX_OUTPUT);
	cc->next = ctl->conns;
	ctl->conns = cc;
	ctl->nconns++;
	if (peer_from_socket(fd, &cc->peer) != 0 ||
	    loop_add(ctl->loop, fd, EPOLLIN, ctl_on_conn, cc, &cc->watch) !=
		0 ||
	    loop_timer_add(ctl->loop, CONTROL_REQUEST_MS, ctl_on_timeout, cc,
			   &cc->timer) != 0) {
		ctl_conn_free(&cc);
		return;
	}
	if (!ctl_peer_allowed(ctl, &cc->peer)) {
		log_notice("control: refused peer uid %u gid %u pid %d: "
			   "neither root nor in the control group",
			   (unsigned)cc->peer.uid, (unsigned)cc->peer.gid,
			   (int)cc->peer.pid);
		loop_timer_cancel(ctl->loop, &cc->timer);
		control_printf(&cc->out, "error permission denied\n");
		cc->answered = true;
		ctl_flush(cc);
	}
}

static void ctl_on_accept(struct loop *loop, int lfd, uint32_t events,
			  void *ctx)
{
	struct control *ctl = ctx;
	int fd;

	(void)loop;
	(void)events;
	for (int i = 0; i < 8; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_err("control: accept: %s", strerror(errno));
			return;
		}
		ctl_accept_one(ctl, fd);
	}
}

int control_open(struct loop *loop, const char *path, gid_t gid,
		 const struct control_host *host, struct control **out)
{
	struct control *ctl;
	int r = TK_ERR_NOMEM;

	*out = NULL;
	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		return TK_ERR_NOMEM;
	ctl->loop = loop;
	ctl->host = *host;
	ctl->fd = -1;
	ctl->hub_fd = -1;
	if ((ctl->path = strdup(path)) == NULL)
		goto out;
	/* Owned by the daemon's user (root, or tokend under systemd): it may
	 * give the file to the control group only when it is a member. */
	r = TK_ERR_IO;
	if (gid != (gid_t)-1)
		r = export_listen_path(path, geteuid(), gid, 0660, &ctl->fd,
				       &ctl->dev, &ctl->ino);
	if (r != 0 && gid != (gid_t)-1)
		log_warn("control: %s cannot go to group %u; root only", path,
			 (unsigned)gid);
	if (r != 0) {
		gid = (gid_t)-1;
		r = export_listen_path(path, geteuid(), getegid(), 0600,
				       &ctl->fd, &ctl->dev, &ctl->ino);
	}
	if (r != 0)
		goto out;
	if ((r = loop_add(loop, ctl->fd, EPOLLIN, ctl_on_accept, ctl,
			  &ctl->watch)) != 0)
		goto out;
	r = TK_ERR_IO;
	if ((ctl->hub_fd = control_hub_open()) < 0 ||
	    (r = loop_add(loop, ctl->hub_fd, EPOLLIN, ctl_on_hub, ctl,
			  &ctl->hub_watch)) != 0)
		goto out;
	log_info("control: listening on %s (%s)", path,
		 gid == (gid_t)-1 ? "root only" : "root and the control group");
	*out = ctl;
	ctl = NULL;
out:
	control_close(&ctl);
	return r;
}

void control_close(struct control **p)
{
	struct control *ctl = *p;
	struct stat st;

	if (ctl == NULL)
		return;
	while (ctl->conns) {
		struct ctl_conn *cc = ctl->conns;

		ctl_conn_free(&cc);
	}
	loop_remove(ctl->loop, &ctl->watch);
	loop_remove(ctl->loop, &ctl->hub_watch);
	if (ctl->hub_fd >= 0)
		control_hub_close(ctl->hub_fd);
	if (ctl->fd >= 0) {
		if (ctl->ino != 0 && lstat(ctl->path, &st) == 0 &&
		    st.st_dev == ctl->dev && st.st_ino == ctl->ino)
			unlink(ctl->path);
		close(ctl->fd);
	}
	free(ctl->path);
	free(ctl);
	*p = NULL;
}
