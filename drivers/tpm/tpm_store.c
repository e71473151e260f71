/* See tpm_store.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "drv_log.h"
#include "reader.h"
#include "tpm_store.h"

#define MAGIC "TKTPM"
#define MAGIC_LEN 5
#define VERSION 1
#define TMP_SUFFIX ".tmp"

enum {
	F_ID = 1,
	F_LABEL,
	F_KEY_KIND,
	F_BITS,
	F_PUB,
	F_PRIV,
	F_VALUE,
	F_APPLICATION,
	F_OID,
	F_PRIVATE,
	F_SALT,
	F_ITERATIONS,
	F_COUNT,
};

struct tpm_store {
	char *dir;
	int dfd;
};

/* ---- the format ---- */

static int get_str(struct reader *v, char *out, size_t cap)
{
	if (v->len >= cap || memchr(v->p, 0, v->len))
		return TK_ERR_INVALID;
	memcpy(out, v->p, v->len);
	out[v->len] = '\0';
	return 0;
}

static int get_be(struct reader *v, size_t n, uint32_t *out)
{
	uint32_t x = 0;
	uint8_t b;

	if (v->len != n)
		return TK_ERR_INVALID;
	while (reader_get_u8(v, &b) == 0)
		x = x << 8 | b;
	*out = x;
	return 0;
}

static int get_blob(struct reader *v, uint8_t *out, size_t cap, size_t *len)
{
	if (v->len == 0 || v->len > cap)
		return TK_ERR_INVALID;
	*len = v->len;
	return reader_get_bytes(v, out, v->len) ? TK_ERR_INVALID : 0;
}

static int field(struct tpm_rec *rec, uint8_t tag, struct reader *v)
{
	uint32_t x;

	switch (tag) {
	case F_ID:
		if (v->len > TK_ID_MAX)
			return TK_ERR_INVALID;
		rec->id.len = v->len;
		return reader_get_bytes(v, rec->id.b, v->len) ? TK_ERR_INVALID
							      : 0;
	case F_LABEL:
		return get_str(v, rec->label, sizeof(rec->label));
	case F_APPLICATION:
		return get_str(v, rec->application, sizeof(rec->application));
	case F_KEY_KIND:
		if (get_be(v, 1, &x) || (x != TPM_KEY_RSA && x != TPM_KEY_EC))
			return TK_ERR_INVALID;
		rec->key_kind = (uint8_t)x;
		return 0;
	case F_BITS:
		if (get_be(v, 2, &x))
			return TK_ERR_INVALID;
		rec->bits = (uint16_t)x;
		return 0;
	case F_PUB:
		return get_blob(v, rec->blob.pub, sizeof(rec->blob.pub),
				&rec->blob.pub_len);
	case F_PRIV:
		return get_blob(v, rec->blob.priv, sizeof(rec->blob.priv),
				&rec->blob.priv_len);
	case F_VALUE:
		if (rec->value || v->len == 0 || !(rec->value = malloc(v->len)))
			return TK_ERR_INVALID;
		rec->len = v->len;
		return reader_get_bytes(v, rec->value, v->len) ? TK_ERR_INVALID
							       : 0;
	case F_OID:
		return get_blob(v, rec->oid, sizeof(rec->oid), &rec->oid_len);
	case F_PRIVATE:
		if (get_be(v, 1, &x) || x > 1)
			return TK_ERR_INVALID;
		rec->priv = x;
		return 0;
	case F_SALT:
		if (v->len != TPM_SALT_LEN)
			return TK_ERR_INVALID;
		return reader_get_bytes(v, rec->salt, v->len) ? TK_ERR_INVALID
							      : 0;
	case F_ITERATIONS:
		return get_be(v, 4, &rec->iterations);
	case F_COUNT:
		return get_be(v, 4, &rec->count);
	default:
		return 0; /* a later version's field */
	}
}

/* What each kind must have. */
static bool rec_complete(const struct tpm_rec *r)
{
	switch (r->kind) {
	case TPM_REC_KEY:
		return r->key_kind && r->bits && r->blob.pub_len &&
		       r->blob.priv_len && r->id.len;
	case TPM_REC_CERT:
		return r->value && r->id.len;
	case TPM_REC_DATA:
		return r->value != NULL;
	case TPM_REC_SEAL:
		return r->blob.pub_len && r->blob.priv_len;
	case TPM_REC_SALT:
		return r->iterations > 0;
	case TPM_REC_COUNTER:
		return true;
	}
	return false;
}

int tpm_rec_parse(const uint8_t *p, size_t len, struct tpm_rec *out)
{
	struct reader r = reader_init(p, len), v;
	uint8_t magic[MAGIC_LEN], ver, kind, tag;
	uint32_t flen;
	int rc = TK_ERR_INVALID;

	memset(out, 0, sizeof(*out));
	if (reader_get_bytes(&r, magic, MAGIC_LEN) ||
	    memcmp(magic, MAGIC, MAGIC_LEN) != 0 || reader_get_u8(&r, &ver) ||
	    ver != VERSION || reader_get_u8(&r, &kind) || kind < TPM_REC_KEY ||
	    kind > TPM_REC_COUNTER)
		return TK_ERR_INVALID;
	out->kind = kind;
	while (reader_left(&r) > 0) {
		if (reader_get_u8(&r, &tag) || reader_get_u32be(&r, &flen) ||
		    reader_get_sub(&r, flen, &v) || field(out, tag, &v) < 0)
			goto out;
	}
	if (rec_complete(out))
		rc = 0;
out:
	if (rc < 0)
		tpm_rec_clear(out);
	return rc;
}

static void put(struct buf *b, uint8_t tag, const void *p, size_t n)
{
	buf_add_u8(b, tag);
	buf_add_u32be(b, (uint32_t)n);
	buf_add(b, p, n);
}

static void put_be(struct buf *b, uint8_t tag, uint32_t x, size_t n)
{
	uint8_t v[4];

	for (size_t i = 0; i < n; i++)
		v[i] = (uint8_t)(x >> (8 * (n - 1 - i)));
	put(b, tag, v, n);
}

int tpm_rec_encode(const struct tpm_rec *rec, uint8_t **out, size_t *len)
{
	struct buf b;

	buf_init(&b, TPM_STORE_FILE_MAX);
	b.secret = true;
	buf_add(&b, MAGIC, MAGIC_LEN);
	buf_add_u8(&b, VERSION);
	buf_add_u8(&b, (uint8_t)rec->kind);
	if (rec->id.len)
		put(&b, F_ID, rec->id.b, rec->id.len);
	if (rec->label[0])
		put(&b, F_LABEL, rec->label, strlen(rec->label));
	if (rec->kind == TPM_REC_KEY) {
		put_be(&b, F_KEY_KIND, rec->key_kind, 1);
		put_be(&b, F_BITS, rec->bits, 2);
	}
	if (rec->kind == TPM_REC_KEY || rec->kind == TPM_REC_SEAL) {
		put(&b, F_PUB, rec->blob.pub, rec->blob.pub_len);
		put(&b, F_PRIV, rec->blob.priv, rec->blob.priv_len);
	}
	if (rec->value)
		put(&b, F_VALUE, rec->value, rec->len);
	if (rec->application[0])
		put(&b, F_APPLICATION, rec->application,
		    strlen(rec->application));
	if (rec->oid_len)
		put(&b, F_OID, rec->oid, rec->oid_len);
	if (rec->kind == TPM_REC_DATA)
		put_be(&b, F_PRIVATE, rec->priv, 1);
	if (rec->kind == TPM_REC_SALT) {
		put(&b, F_SALT, rec->salt, TPM_SALT_LEN);
		put_be(&b, F_ITERATIONS, rec->iterations, 4);
	}
	if (rec->kind == TPM_REC_COUNTER)
		put_be(&b, F_COUNT, rec->count, 4);
	if (buf_failed(&b)) {
		buf_free(&b);
		return TK_ERR_TOO_LARGE;
	}
	*out = buf_steal(&b, len);
	return 0;
}

void tpm_rec_clear(struct tpm_rec *rec)
{
	if (rec->value) {
		explicit_bzero(rec->value, rec->len);
		free(rec->value);
	}
	explicit_bzero(rec, sizeof(*rec));
}

/* ---- the directory ---- */

int tpm_store_open(const char *dir, struct tpm_store **out)
{
	struct tpm_store *s;

	*out = NULL;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		DRV_NOTICE("TPM state directory %s: %s", dir, strerror(errno));
		return TK_ERR_IO;
	}
	if (!(s = calloc(1, sizeof(*s))) || !(s->dir = strdup(dir))) {
		free(s);
		return TK_ERR_NOMEM;
	}
	s->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0) {
		DRV_NOTICE("TPM state directory %s: %s", dir, strerror(errno));
		free(s->dir);
		free(s);
		return TK_ERR_IO;
	}
	(void)fchmod(s->dfd, 0700); /* keys' blobs are nobody else's */
	*out = s;
	return 0;
}

void tpm_store_free(struct tpm_store **ps)
{
	struct tpm_store *s = *ps;

	if (!s)
		return;
	*ps = NULL;
	close(s->dfd);
	free(s->dir);
	free(s);
}

const char *tpm_store_dir(const struct tpm_store *s)
{
	return s->dir;
}

static bool name_ok(const char *n)
{
	size_t len = strlen(n);

	return len > 0 && len < TPM_STORE_NAME_MAX && n[0] != '.' &&
	       strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789-.") == len;
}

/* The file's bytes, at most TPM_STORE_FILE_MAX. */
static int read_file(int dfd, const char *name, uint8_t **out, size_t *len)
{
	struct stat st;
	uint8_t *p = NULL;
	size_t got = 0;
	ssize_t k;
	int fd, rc = TK_ERR_IO;

	if ((fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? TK_ERR_NOT_FOUND : TK_ERR_IO;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		goto out;
	if (st.st_size > TPM_STORE_FILE_MAX) {
		rc = TK_ERR_TOO_LARGE;
		goto out;
	}
	if (!(p = malloc((size_t)st.st_size + 1))) {
		rc = TK_ERR_NOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size &&
	       (k = read(fd, p + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)k;
	if (got != (size_t)st.st_size)
		goto out;
	*out = p;
	*len = got;
	p = NULL;
	rc = 0;
out:
	free(p);
	close(fd);
	return rc;
}

int tpm_store_read(struct tpm_store *s, const char *name, struct tpm_rec *out)
{
	uint8_t *p = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = read_file(s->dfd, name, &p, &len)) < 0)
		return rc;
	rc = tpm_rec_parse(p, len, out);
	explicit_bzero(p, len);
	free(p);
	if (rc == 0)
		snprintf(out->name, sizeof(out->name), "%s", name);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tpm_rec *)a)->name,
		      ((const struct tpm_rec *)b)->name);
}

int tpm_store_load(struct tpm_store *s, struct tpm_rec **out, size_t *n)
{
	struct tpm_rec *v = NULL, *nv;
	size_t k = 0;
	struct dirent *de;
	DIR *d;
	int fd, rc;

	*out = NULL;
	*n = 0;
	if ((fd = dup(s->dfd)) < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return TK_ERR_IO;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);

		if (de->d_name[0] == '.')
			continue;
		if (nl > strlen(TMP_SUFFIX) &&
		    strcmp(de->d_name + nl - strlen(TMP_SUFFIX), TMP_SUFFIX) ==
			0) {
			/* a write a power cut interrupted: the old file is
			 * intact */
			(void)unlinkat(s->dfd, de->d_name, 0);
			continue;
		}
		if (!(nv = reallocarray(v, k + 1, sizeof(*v)))) {
			rc = TK_ERR_NOMEM;
			goto fail;
		}
		v = nv;
		rc = name_ok(de->d_name) ? tpm_store_read(s, de->d_name, &v[k])
					 : TK_ERR_INVALID;
		if (rc == TK_ERR_NOMEM)
			goto fail;
		if (rc < 0) {
			DRV_NOTICE("TPM state %s/%s: skipped (%s: not a tokend "
				   "TPM record of this version)",
				   s->dir, de->d_name, tk_strerror(rc));
			continue;
		}
		k++;
	}
	closedir(d);
	if (k)
		qsort(v, k, sizeof(*v), name_cmp);
	*out = v;
	*n = k;
	return 0;
fail:
	closedir(d);
	tpm_recs_free(&v, k);
	return rc;
}

void tpm_recs_free(struct tpm_rec **recs, size_t n)
{
	if (!*recs)
		return;
	for (size_t i = 0; i < n; i++)
		tpm_rec_clear(&(*recs)[i]);
	free(*recs);
	*recs = NULL;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t k = write(fd, p, len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return TK_ERR_IO;
		p += k;
		len -= (size_t)k;
	}
	return 0;
}

int tpm_store_write(struct tpm_store *s, const struct tpm_rec *rec)
{
	char tmp[TPM_STORE_NAME_MAX + 8];
	uint8_t *p = NULL;
	size_t len = 0;
	int fd = -1, rc;

	if (!name_ok(rec->name))
		return TK_ERR_ARG;
	if ((rc = tpm_rec_encode(rec, &p, &len)) < 0)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s%s", rec->name, TMP_SUFFIX);
	fd =
	    openat(s->dfd, tmp,
		   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	rc = TK_ERR_IO;
	if (fd < 0 || write_all(fd, p, len) < 0 || fsync(fd) < 0) {
		DRV_NOTICE("TPM state %s/%s: %s", s->dir, tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		(void)unlinkat(s->dfd, tmp, 0);
		goto out;
	}
	if (close(fd) < 0) {
		(void)unlinkat(s->dfd, tmp, 0);
		goto out;
	}
	if (renameat(s->dfd, tmp, s->dfd, rec->name) < 0 || fsync(s->dfd) < 0) {
		DRV_NOTICE("TPM state %s/%s: %s", s->dir, rec->name,
			   strerror(errno));
		(void)unlinkat(s->dfd, tmp, 0);
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(p, len);
	free(p);
	return rc;
}

int tpm_store_remove(struct tpm_store *s, const char *name)
{
	if (!name_ok(name))
		return TK_ERR_ARG;
	if (unlinkat(s->dfd, name, 0) < 0 && errno != ENOENT) {
		DRV_NOTICE("TPM state %s/%s: %s", s->dir, name,
			   strerror(errno));
		return TK_ERR_IO;
	}
	return fsync(s->dfd) < 0 ? TK_ERR_IO : 0;
}

void tpm_store_name(char *out, const char *prefix, const uint8_t rnd[8])
{
	int k = snprintf(out, TPM_STORE_NAME_MAX, "%s", prefix);

	for (int i = 0; i < 8 && k + 2 < TPM_STORE_NAME_MAX; i++, k += 2)
		snprintf(out + k, 3, "%02x", rnd[i]);
}
