/* tokenctl status: the front end's tokens, the exports and their
 * connections, the drivers' helper processes and the recent errors, as
 * aligned text or JSON. Loop thread; never waits (the
 * front end's status calls skip what a card call holds). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "conn.h"
#include "control.h"
#include "export.h"
#include "frontend.h"
#include "log.h"
#include "rpc_server.h"

#define STATUS_MAX_SLOTS 64
#define STATUS_MAX_HELPERS 64
#define TBL_COLS 8
#define TBL_CELL 256

/* ---- text tables: columns padded to their widest cell ---- */

struct tbl {
	size_t ncols;
	size_t nrows;
	char (*rows)[TBL_COLS][TBL_CELL];
	size_t width[TBL_COLS];
	bool failed;
};

/* Adds a row of ncols cells; non-printable bytes become '?', empty
 * cells '-'. */
static void tbl_row(struct tbl *t, ...)
{
	char(*rows)[TBL_COLS][TBL_CELL];
	va_list ap;

	rows = realloc(t->rows, (t->nrows + 1) * sizeof(*t->rows));
	if (rows == NULL) {
		t->failed = true;
		return;
	}
	t->rows = rows;
	va_start(ap, t);
	for (size_t i = 0; i < t->ncols; i++) {
		char *cell = t->rows[t->nrows][i];
		const char *s = va_arg(ap, const char *);
		size_t len;

		snprintf(cell, TBL_CELL, "%s", s && s[0] ? s : "-");
		for (char *p = cell; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				*p = '?';
		if ((len = strlen(cell)) > t->width[i])
			t->width[i] = len;
	}
	va_end(ap);
	t->nrows++;
}

static void tbl_print(struct tbl *t, struct buf *out)
{
	if (t->failed)
		out->failed = true;
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t i = 0; i < t->ncols; i++) {
			const char *cell = t->rows[r][i];

			if (i + 1 == t->ncols)
				control_printf(out, "%s\n", cell);
			else
				control_printf(out, "%-*s  ", (int)t->width[i],
					       cell);
		}
	}
	free(t->rows);
	memset(t, 0, sizeof(*t));
}

/* ---- facts ---- */

static const char *status_access(enum export_access a)
{
	switch (a) {
	case EXPORT_ACCESS_READ_ONLY:
		return "read-only";
	case EXPORT_ACCESS_FULL:
		return "full";
	case EXPORT_ACCESS_ADMIN:
		return "admin";
	}
	return "?";
}

static const char *status_conn_state(const struct conn *c)
{
	if (c->held)
		return "held";
	if (!c->handshaken || !c->initialized)
		return "starting";
	return "active";
}

static const char *status_user(CK_USER_TYPE u)
{
	return u == CKU_SO ? "so" : u == CKU_USER ? "user" : "context";
}

/* The connection's sessions and logins; false when unknown now (no
 * application yet, or busy in a call). */
static bool status_app(struct conn *c, struct fe_app_status *st)
{
	memset(st, 0, sizeof(*st));
	return c->server != NULL && app_status(rpc_server_app(c->server), st);
}

/* A field of CK_TOKEN_INFO: blank-padded, no terminator. */
static void status_pad(unsigned char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len);

	memset(dst, ' ', len);
	memcpy(dst, src, n);
}

/* prefer=: the slot (index into sl) whose token the export shows now, as
 * export_pick_slot chooses it; -1 when none of them is present or the
 * export has no prefer=. */
static long status_prefer_pick(const struct export_conf *ec,
			       const struct fe_slot_status *sl, size_t ns)
{
	size_t best = ec->n_prefer, rank;
	long pick = -1;

	for (size_t i = 0; i < ns && i < STATUS_MAX_SLOTS; i++) {
		CK_TOKEN_INFO ti;

		if (!sl[i].token)
			continue;
		memset(&ti, 0, sizeof(ti));
		status_pad(ti.label, sizeof(ti.label), sl[i].info.label);
		status_pad(ti.manufacturerID, sizeof(ti.manufacturerID),
			   sl[i].info.manufacturer);
		status_pad(ti.model, sizeof(ti.model), sl[i].info.model);
		status_pad(ti.serialNumber, sizeof(ti.serialNumber),
			   sl[i].info.serial);
		rank = export_prefer_rank(ec, &ti);
		/* slots come in id order: the first of a rank is the lowest */
		if (rank < best) {
			best = rank;
			pick = (long)i;
		}
	}
	return pick;
}

/* The front end's slots, or NULL (out->failed) when out of memory. */
static struct fe_slot_status *status_slots(struct buf *out, size_t *ns)
{
	struct fe_slot_status *sl = calloc(STATUS_MAX_SLOTS, sizeof(*sl));

	*ns = 0;
	if (sl == NULL)
		out->failed = true;
	else
		*ns = frontend_status(sl, STATUS_MAX_SLOTS);
	return sl;
}

static void status_helper_pid(const struct tk_helper_status *h, char *pid,
			      size_t len)
{
	if (h->up)
		snprintf(pid, len, "%d", h->pid);
	else
		snprintf(pid, len, "-");
}

static void status_time(time_t t, char *s, size_t len)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(s, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(s, len, "%lld", (long long)t);
}

static const char *status_level(int level)
{
	return level <= LOG_ERR ? "error" : "warning";
}

/* ---- text ---- */

/* "3 (user), 5 (so)": the connections logged in to slot. */
static void status_logged_in(struct export *const *ex, size_t n,
			     CK_SLOT_ID slot, char *s, size_t len)
{
	struct fe_app_status st;
	size_t used = 0;

	s[0] = '\0';
	for (size_t i = 0; i < n; i++)
		for (struct conn *c = ex[i]->conns; c; c = c->next) {
			if (!status_app(c, &st))
				continue;
			for (size_t l = 0; l < st.nlogins && used < len; l++) {
				if (st.logins[l].slot != slot)
					continue;
				used += (size_t)snprintf(
				    s + used, len - used, "%sconn %llu (%s)",
				    used ? ", " : "", (unsigned long long)c->id,
				    status_user(st.logins[l].user));
			}
		}
}

static void status_text_tokens(struct buf *out, struct export *const *ex,
			       size_t n)
{
	struct tbl t = { .ncols = 7 };
	struct fe_slot_status *sl;
	size_t ns;

	if ((sl = status_slots(out, &ns)) == NULL)
		return;
	control_printf(out, "TOKENS\n");
	tbl_row(&t, "SLOT", "READER", "DRIVER", "MODEL", "SERIAL", "KEYS",
		"LOGGED IN");
	for (size_t i = 0; i < ns && i < STATUS_MAX_SLOTS; i++) {
		char id[24], keys[24], who[TBL_CELL];

		snprintf(id, sizeof(id), "%lu", (unsigned long)sl[i].id);
		snprintf(keys, sizeof(keys), "%zu", sl[i].nkeys);
		status_logged_in(ex, n, sl[i].id, who, sizeof(who));
		if (!sl[i].token)
			tbl_row(&t, id, sl[i].reader, "", "", "", "",
				"(empty)");
		else
			tbl_row(&t, id, sl[i].reader,
				sl[i].busy ? "(busy)" : sl[i].driver,
				sl[i].info.model, sl[i].info.serial,
				sl[i].busy ? "" : keys, who);
	}
	tbl_print(&t, out);
	free(sl);
}

/* The export's TOKENS cell: all, filtered, or a prefer= export's token
 * now. */
static void status_export_tokens(const struct export_conf *ec,
				 const struct fe_slot_status *sl, size_t ns,
				 char *s, size_t len)
{
	long pick;

	if (ec->n_prefer == 0) {
		snprintf(s, len, "%s", ec->n_tokens ? "filtered" : "all");
		return;
	}
	pick = status_prefer_pick(ec, sl, ns);
	if (pick < 0)
		snprintf(s, len, "prefer: none present");
	else
		snprintf(s, len, "prefer: slot %lu (%.32s)",
			 (unsigned long)sl[pick].id,
			 sl[pick].info.serial[0] ? sl[pick].info.serial
						 : sl[pick].info.label);
}

static void status_text_exports(struct buf *out, struct export *const *ex,
				size_t n)
{
	struct tbl t = { .ncols = 6 };
	struct fe_slot_status *sl;
	size_t ns;

	if ((sl = status_slots(out, &ns)) == NULL)
		return;

	control_printf(out, "\nEXPORTS\n");
	tbl_row(&t, "NAME", "SOCKET", "ACCESS", "PEERS", "TOKENS",
		"CONNECTIONS");
	for (size_t i = 0; i < n; i++) {
		const struct export_conf *ec = ex[i]->conf;
		char conns[24], peers[64], toks[96];

		status_export_tokens(ec, sl, ns, toks, sizeof(toks));
		snprintf(conns, sizeof(conns), "%zu", ex[i]->nconns);
		if (ec->n_allow_uids == 0 && ec->n_allow_gids == 0)
			snprintf(peers, sizeof(peers), "anyone");
		else
			snprintf(peers, sizeof(peers),
				 "%zu user(s), %zu group(s)", ec->n_allow_uids,
				 ec->n_allow_gids);
		tbl_row(&t, ec->name, ec->socket, status_access(ec->access),
			peers, toks, conns);
	}
	tbl_print(&t, out);
	free(sl);
}

static void status_text_conns(struct buf *out, struct export *const *ex,
			      size_t n)
{
	struct tbl t = { .ncols = 8 };

	control_printf(out, "\nCONNECTIONS\n");
	tbl_row(&t, "ID", "EXPORT", "UID", "GID", "PID", "STATE", "SESSIONS",
		"LOGINS");
	for (size_t i = 0; i < n; i++)
		for (struct conn *c = ex[i]->conns; c; c = c->next) {
			char id[24], uid[16], gid[16], pid[16], ses[24];
			char logins[TBL_CELL] = "";
			struct fe_app_status st;
			size_t used = 0;
			bool known = status_app(c, &st);

			snprintf(id, sizeof(id), "%llu",
				 (unsigned long long)c->id);
			snprintf(uid, sizeof(uid), "%u", (unsigned)c->peer.uid);
			snprintf(gid, sizeof(gid), "%u", (unsigned)c->peer.gid);
			snprintf(pid, sizeof(pid), "%d", (int)c->peer.pid);
			snprintf(ses, sizeof(ses), "%zu", st.nsessions);
			for (size_t l = 0;
			     l < st.nlogins && used < sizeof(logins); l++)
				used += (size_t)snprintf(
				    logins + used, sizeof(logins) - used,
				    "%sslot %lu %s", used ? ", " : "",
				    (unsigned long)st.logins[l].slot,
				    status_user(st.logins[l].user));
			tbl_row(&t, id, ex[i]->conf->name, uid, gid, pid,
				status_conn_state(c), known ? ses : "(busy)",
				logins);
		}
	tbl_print(&t, out);
}

static void status_text_helpers(struct buf *out)
{
	struct fe_helper_status *hs = calloc(STATUS_MAX_HELPERS, sizeof(*hs));
	struct tbl t = { .ncols = 6 };
	size_t nh;

	if (hs == NULL) {
		out->failed = true;
		return;
	}
	nh = frontend_helpers(hs, STATUS_MAX_HELPERS);
	control_printf(out, "\nHELPERS\n");
	tbl_row(&t, "DRIVER", "NAME", "PID", "STATE", "RESTARTS", "LAST EXIT");
	for (size_t i = 0; i < nh && i < STATUS_MAX_HELPERS; i++) {
		const struct tk_helper_status *h = &hs[i].h;
		char pid[16], restarts[24];

		status_helper_pid(h, pid, sizeof(pid));
		snprintf(restarts, sizeof(restarts), "%lu", h->restarts);
		tbl_row(&t, hs[i].driver, h->name, pid, h->up ? "up" : "down",
			restarts, h->last_exit);
	}
	tbl_print(&t, out);
	free(hs);
}

static void status_text_errors(struct buf *out)
{
	struct log_recent *r = calloc(LOG_RECENT_MAX, sizeof(*r));
	struct tbl t = { .ncols = 3 };
	size_t nr;

	if (r == NULL) {
		out->failed = true;
		return;
	}
	nr = log_recent(r, LOG_RECENT_MAX);
	control_printf(out, "\nRECENT ERRORS\n");
	tbl_row(&t, "TIME", "LEVEL", "MESSAGE");
	for (size_t i = 0; i < nr; i++) {
		char when[32];

		status_time(r[i].when, when, sizeof(when));
		tbl_row(&t, when, status_level(r[i].level), r[i].line);
	}
	tbl_print(&t, out);
	free(r);
}

/* ---- JSON ---- */

static void status_json_tokens(struct buf *out)
{
	struct fe_slot_status *sl;
	size_t ns;

	if ((sl = status_slots(out, &ns)) == NULL)
		return;
	control_printf(out, "\"tokens\":[");
	for (size_t i = 0; i < ns && i < STATUS_MAX_SLOTS; i++) {
		const struct fe_slot_status *s = &sl[i];

		control_printf(out, "%s{\"slot\":%lu,\"reader\":", i ? "," : "",
			       (unsigned long)s->id);
		control_json_str(out, s->reader);
		control_printf(out, ",\"present\":%s,\"busy\":%s",
			       s->token ? "true" : "false",
			       s->busy ? "true" : "false");
		if (s->token) {
			control_printf(out, ",\"driver\":");
			control_json_str(out, s->driver ? s->driver : "");
			control_printf(out, ",\"label\":");
			control_json_str(out, s->info.label);
			control_printf(out, ",\"manufacturer\":");
			control_json_str(out, s->info.manufacturer);
			control_printf(out, ",\"model\":");
			control_json_str(out, s->info.model);
			control_printf(out, ",\"serial\":");
			control_json_str(out, s->info.serial);
			control_printf(out,
				       ",\"keys\":%zu,\"logged_in_user\":%u,"
				       "\"logged_in_so\":%u",
				       s->nkeys, s->n_user, s->n_so);
		}
		control_printf(out, "}");
	}
	control_printf(out, "]");
	free(sl);
}

static void status_json_conn(struct buf *out, struct conn *c)
{
	struct fe_app_status st;
	bool known = status_app(c, &st);

	control_printf(
	    out,
	    "{\"id\":%llu,\"uid\":%u,\"gid\":%u,\"pid\":%d,"
	    "\"state\":\"%s\",\"busy\":%s,\"sessions\":%zu,"
	    "\"logins\":[",
	    (unsigned long long)c->id, (unsigned)c->peer.uid,
	    (unsigned)c->peer.gid, (int)c->peer.pid, status_conn_state(c),
	    known || c->server == NULL ? "false" : "true", st.nsessions);
	for (size_t l = 0; l < st.nlogins; l++)
		control_printf(out, "%s{\"slot\":%lu,\"user\":\"%s\"}",
			       l ? "," : "", (unsigned long)st.logins[l].slot,
			       status_user(st.logins[l].user));
	control_printf(out, "]}");
}

/* prefer=: the URIs, and the slot shown now (null: none present). */
static void status_json_prefer(struct buf *out, const struct export_conf *ec,
			       const struct fe_slot_status *sl, size_t ns)
{
	long pick = status_prefer_pick(ec, sl, ns);

	control_printf(out, ",\"prefer\":[");
	for (size_t k = 0; k < ec->n_prefer; k++) {
		control_printf(out, "%s", k ? "," : "");
		control_json_str(out, ec->prefer_strs[k]);
	}
	if (pick < 0)
		control_printf(out, "],\"shows_slot\":null");
	else
		control_printf(out, "],\"shows_slot\":%lu",
			       (unsigned long)sl[pick].id);
}

static void status_json_exports(struct buf *out, struct export *const *ex,
				size_t n)
{
	struct fe_slot_status *sl;
	size_t ns;

	if ((sl = status_slots(out, &ns)) == NULL)
		return;
	control_printf(out, "\"exports\":[");
	for (size_t i = 0; i < n; i++) {
		const struct export_conf *ec = ex[i]->conf;
		bool first = true;

		control_printf(out, "%s{\"name\":", i ? "," : "");
		control_json_str(out, ec->name);
		control_printf(out, ",\"socket\":");
		control_json_str(out, ec->socket);
		control_printf(out, ",\"access\":\"%s\",\"allow_users\":[",
			       status_access(ec->access));
		for (size_t u = 0; u < ec->n_allow_uids; u++)
			control_printf(out, "%s%u", u ? "," : "",
				       (unsigned)ec->allow_uids[u]);
		control_printf(out, "],\"allow_groups\":[");
		for (size_t g = 0; g < ec->n_allow_gids; g++)
			control_printf(out, "%s%u", g ? "," : "",
				       (unsigned)ec->allow_gids[g]);
		control_printf(out, "],\"tokens\":[");
		for (size_t k = 0; k < ec->n_tokens; k++) {
			control_printf(out, "%s", k ? "," : "");
			control_json_str(out, ec->token_strs[k]);
		}
		control_printf(out, "]");
		if (ec->n_prefer)
			status_json_prefer(out, ec, sl, ns);
		control_printf(out, ",\"pin_file\":%s,\"connections\":[",
			       ec->pin_file ? "true" : "false");
		for (struct conn *c = ex[i]->conns; c; c = c->next) {
			control_printf(out, "%s", first ? "" : ",");
			status_json_conn(out, c);
			first = false;
		}
		control_printf(out, "]}");
	}
	control_printf(out, "]");
	free(sl);
}

static void status_json_helpers(struct buf *out)
{
	struct fe_helper_status *hs = calloc(STATUS_MAX_HELPERS, sizeof(*hs));
	size_t nh;

	if (hs == NULL) {
		out->failed = true;
		return;
	}
	nh = frontend_helpers(hs, STATUS_MAX_HELPERS);
	control_printf(out, "\"helpers\":[");
	for (size_t i = 0; i < nh && i < STATUS_MAX_HELPERS; i++) {
		const struct tk_helper_status *h = &hs[i].h;

		control_printf(out, "%s{\"driver\":", i ? "," : "");
		control_json_str(out, hs[i].driver);
		control_printf(out, ",\"name\":");
		control_json_str(out, h->name);
		control_printf(out,
			       ",\"pid\":%d,\"up\":%s,\"restarts\":%lu,"
			       "\"last_exit\":",
			       h->up ? h->pid : 0, h->up ? "true" : "false",
			       h->restarts);
		control_json_str(out, h->last_exit);
		control_printf(out, "}");
	}
	control_printf(out, "]");
	free(hs);
}

static void status_json_errors(struct buf *out)
{
	struct log_recent *r = calloc(LOG_RECENT_MAX, sizeof(*r));
	size_t nr;

	if (r == NULL) {
		out->failed = true;
		return;
	}
	nr = log_recent(r, LOG_RECENT_MAX);
	control_printf(out, "\"recent_errors\":[");
	for (size_t i = 0; i < nr; i++) {
		control_printf(out,
			       "%s{\"time\":%lld,\"level\":\"%s\","
			       "\"message\":",
			       i ? "," : "", (long long)r[i].when,
			       status_level(r[i].level));
		control_json_str(out, r[i].line);
		control_printf(out, "}");
	}
	control_printf(out, "]");
	free(r);
}

void control_status(struct buf *out, bool json, struct export *const *ex,
		    size_t n)
{
	if (json) {
		control_printf(out, "{");
		status_json_tokens(out);
		control_printf(out, ",");
		status_json_exports(out, ex, n);
		control_printf(out, ",");
		status_json_helpers(out);
		control_printf(out, ",");
		status_json_errors(out);
		control_printf(out, "}\n");
		return;
	}
	status_text_tokens(out, ex, n);
	status_text_exports(out, ex, n);
	status_text_conns(out, ex, n);
	status_text_helpers(out);
	status_text_errors(out);
}
