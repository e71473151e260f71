/* The card's state file: text lines, binary fields in hex, private keys as
 * DER. Written atomically (tmp + fsync + rename) after every change.
 *
 *   tokend-vcard-state 1
 *   pin <8 bytes hex> <tries> <left>
 *   puk <8 bytes hex> <tries> <left>
 *   mgm <alg> <touch> <key hex>
 *   key <slot> <alg> <pin policy> <touch policy> <origin> <DER hex>
 *   obj <tag> <bytes hex>
 */
#include "hex.h"
#include "piv_app_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#define STATE_MAGIC "tokend-vcard-state 1"

static void put_hex(FILE *f, const uint8_t *p, size_t n)
{
	if (n == 0)
		fputc('-', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

static int put_key(FILE *f, uint8_t slot, const struct piv_key *k)
{
	unsigned char *der = NULL;
	int n = i2d_PrivateKey(k->pkey, &der);

	if (n <= 0)
		return -1;
	fprintf(f, "key %02x %02x %u %u %u ", slot, k->alg, k->pin_policy,
		k->touch_policy, k->origin);
	put_hex(f, der, (size_t)n);
	fputc('\n', f);
	OPENSSL_clear_free(der, (size_t)n);
	return 0;
}

static int write_state(FILE *f, const struct vcard_app *app)
{
	fprintf(f, STATE_MAGIC "\npin ");
	put_hex(f, app->pin.value, 8);
	fprintf(f, " %u %u\npuk ", app->pin.tries, app->pin.left);
	put_hex(f, app->puk.value, 8);
	fprintf(f, " %u %u\nmgm %02x %u ", app->puk.tries, app->puk.left,
		app->mgm_alg, app->mgm_touch);
	put_hex(f, app->mgm_key, app->mgm_len);
	fputc('\n', f);
	for (int i = 0; i < PIV_NSLOTS; i++)
		if (app->keys[i].alg &&
		    put_key(f, piv_slot_of_index(i), &app->keys[i]) != 0)
			return -1;
	for (size_t i = 0; i < app->nobjs; i++) {
		fprintf(f, "obj %x ", app->objs[i].tag);
		put_hex(f, app->objs[i].data, app->objs[i].len);
		fputc('\n', f);
	}
	return ferror(f) ? -1 : 0;
}

static void sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(copy);
}

int piv_state_save(const struct vcard_app *app)
{
	char *tmp = NULL;
	FILE *f = NULL;
	int fd = -1, ret = -1;

	if (!app->state_path)
		return 0;
	if (asprintf(&tmp, "%s.tmp", app->state_path) < 0) {
		tmp = NULL;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f)
		goto out;
	fd = -1;
	if (write_state(f, app) != 0 || fflush(f) != 0 || fsync(fileno(f)) != 0)
		goto out;
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	if (rename(tmp, app->state_path) != 0)
		goto out;
	sync_dir(app->state_path);
	ret = 0;
out:
	if (ret != 0)
		fprintf(stderr, "vcard: cannot save state %s: %s\n",
			app->state_path, strerror(errno));
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (ret != 0 && tmp)
		unlink(tmp);
	free(tmp);
	return ret;
}

/* ---- loading ---- */

/* Decodes hex ("-" is empty) into a new allocation of *n bytes. */
static uint8_t *unhex(const char *s, size_t *n)
{
	size_t len = strcmp(s, "-") == 0 ? 0 : strlen(s);
	uint8_t *p = malloc(len / 2 + 1);

	if (p && hex_decode(s, len, p, len / 2, n) != 0) {
		free(p);
		p = NULL;
	}
	return p;
}

static bool get_num(char **save, unsigned long max, unsigned long *v, int base)
{
	char *tok = strtok_r(NULL, " ", save), *end;

	if (!tok)
		return false;
	errno = 0;
	*v = strtoul(tok, &end, base);
	return errno == 0 && *end == '\0' && end != tok && *v <= max;
}

static const char *load_ref(struct piv_ref *ref, char **save)
{
	char *tok = strtok_r(NULL, " ", save);
	unsigned long tries, left;
	uint8_t *v;
	size_t n = 0;

	if (!tok || !(v = unhex(tok, &n)))
		return "bad PIN/PUK value";
	if (n != 8) {
		free(v);
		return "PIN/PUK value is not 8 bytes";
	}
	memcpy(ref->value, v, 8);
	OPENSSL_cleanse(v, 8);
	free(v);
	if (!get_num(save, 255, &tries, 10) || !get_num(save, 255, &left, 10) ||
	    tries == 0 || left > tries)
		return "bad retry counters";
	ref->tries = (uint8_t)tries;
	ref->left = (uint8_t)left;
	return NULL;
}

static const char *load_mgm(struct vcard_app *app, char **save)
{
	unsigned long alg, touch;
	char *tok;
	uint8_t *v;
	size_t n = 0;

	if (!get_num(save, 255, &alg, 16) || !get_num(save, 3, &touch, 10))
		return "bad management key algorithm or touch policy";
	tok = strtok_r(NULL, " ", save);
	if (!tok || !(v = unhex(tok, &n)))
		return "bad management key";
	if (n != piv_mgm_key_len((uint8_t)alg)) {
		free(v);
		return "management key length does not fit its algorithm";
	}
	app->mgm_alg = (uint8_t)alg;
	app->mgm_touch = (uint8_t)touch;
	app->mgm_len = n;
	memcpy(app->mgm_key, v, n);
	OPENSSL_cleanse(v, n);
	free(v);
	return NULL;
}

static const char *load_key(struct vcard_app *app, char **save)
{
	unsigned long slot, alg, pp, tp, origin;
	struct piv_key *key;
	const unsigned char *p;
	uint8_t *der, real;
	char *tok;
	size_t n = 0;
	EVP_PKEY *pkey;

	if (!get_num(save, 255, &slot, 16) || !get_num(save, 255, &alg, 16) ||
	    !get_num(save, PIN_ALWAYS, &pp, 10) ||
	    !get_num(save, TOUCH_CACHED, &tp, 10) ||
	    !get_num(save, ORIGIN_IMPORTED, &origin, 10) || pp == 0 ||
	    tp == 0 || origin == 0)
		return "bad key attributes";
	key = piv_key_of(app, (uint8_t)slot);
	if (!key || key->alg)
		return "bad or duplicate key slot";
	tok = strtok_r(NULL, " ", save);
	if (!tok || !(der = unhex(tok, &n)))
		return "bad key hex";
	p = der;
	pkey = d2i_AutoPrivateKey(NULL, &p, (long)n);
	OPENSSL_clear_free(der, n);
	if (!pkey)
		return "private key does not parse";
	if (piv_key_alg_of(pkey, &real) != 0 || real != alg) {
		EVP_PKEY_free(pkey);
		return "private key does not match its algorithm";
	}
	key->alg = (uint8_t)alg;
	key->pin_policy = (uint8_t)pp;
	key->touch_policy = (uint8_t)tp;
	key->origin = (uint8_t)origin;
	key->pkey = pkey;
	return NULL;
}

static const char *load_obj(struct vcard_app *app, char **save)
{
	unsigned long tag;
	char *tok;
	uint8_t *v;
	size_t n = 0;
	int rc;

	if (!get_num(save, 0xffffff, &tag, 16) || piv_obj_find(app, tag))
		return "bad or duplicate object tag";
	tok = strtok_r(NULL, " ", save);
	if (!tok || !(v = unhex(tok, &n)))
		return "bad object hex";
	if (n > OBJ_MAX) {
		free(v);
		return "object too large";
	}
	rc = piv_obj_set(app, (uint32_t)tag, v, n);
	free(v);
	return rc == 0 ? NULL : "out of memory";
}

static const char *load_line(struct vcard_app *app, char *line, int *seen)
{
	char *save = NULL, *kw = strtok_r(line, " ", &save);
	const char *err;

	if (!kw)
		return "empty line";
	if (strcmp(kw, "pin") == 0)
		err = load_ref(&app->pin, &save), *seen |= 1;
	else if (strcmp(kw, "puk") == 0)
		err = load_ref(&app->puk, &save), *seen |= 2;
	else if (strcmp(kw, "mgm") == 0)
		err = load_mgm(app, &save), *seen |= 4;
	else if (strcmp(kw, "key") == 0)
		err = load_key(app, &save);
	else if (strcmp(kw, "obj") == 0)
		err = load_obj(app, &save);
	else
		return "unknown keyword";
	if (!err && strtok_r(NULL, " ", &save))
		err = "trailing fields";
	return err;
}

int piv_state_load(struct vcard_app *app, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, seen = 0, ret = -1;
	const char *err = NULL;

	if (!f) {
		fprintf(stderr, "vcard: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (!err && (n = getline(&line, &cap, f)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (++lineno == 1)
			err = strcmp(line, STATE_MAGIC) ? "not a state file"
							: NULL;
		else
			err = load_line(app, line, &seen);
	}
	if (!err && seen != 7)
		err =
		    lineno == 0 ? "empty file" : "pin, puk or mgm line missing";
	if (err)
		fprintf(stderr, "vcard: state file %s line %d: %s\n", path,
			lineno, err);
	else
		ret = 0;
	if (line)
		OPENSSL_cleanse(line, cap);
	free(line);
	fclose(f);
	return ret;
}
