/* N concurrent PKCS#11 clients, each its own process with its own
 * connection through the stock p11-kit client module: log in, find the
 * key with CKA_ID 01, sign a digest with CKM_ECDSA, verify the signature
 * with the given public key (OpenSSL), finalize. All start together (a
 * pipe is the starting gun). Meanwhile tokend's thread count and RSS are
 * sampled from /proc. Prints the figures and one line per failed client.
 *
 *   load_clients MODULE PIN PUBKEY.pem N TOKEND_PID [UID_BASE NUIDS]
 *
 * With UID_BASE/NUIDS, client i runs as uid (and gid) UID_BASE + i % NUIDS
 * (needs root), so several peers share the export. Exits 1 unless every
 * client signed and verified. */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST_PTR p11;
static EVP_PKEY *pub;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* r||s as PKCS#11 returns it, checked against the public key. */
static bool verify(const unsigned char *dg, const CK_BYTE *sig, CK_ULONG n)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	unsigned char *der = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	bool ok = false;
	int len;

	if (es == NULL || n % 2 != 0 ||
	    !ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)n / 2, NULL),
			    BN_bin2bn(sig + n / 2, (int)n / 2, NULL)))
		goto out;
	if ((len = i2d_ECDSA_SIG(es, &der)) <= 0)
		goto out;
	ctx = EVP_PKEY_CTX_new(pub, NULL);
	ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
	     EVP_PKEY_verify(ctx, der, (size_t)len, dg, 32) == 1;
out:
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	return ok;
}

#define STEP(call, name)                                                       \
	do {                                                                   \
		if ((rv = (call)) != CKR_OK) {                                 \
			fprintf(stderr, "client %d: %s: 0x%lx\n", i, name,     \
				(unsigned long)rv);                            \
			return 1;                                              \
		}                                                              \
	} while (0)

static int client(int i, const char *pin)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_BYTE id = 0x01, sig[512];
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, &id, 1 },
	};
	CK_MECHANISM mech = { CKM_ECDSA, NULL, 0 };
	CK_SLOT_ID slots[8];
	CK_ULONG nslots = 8, nkeys = 0, siglen = sizeof(sig);
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	unsigned char dg[32];
	CK_RV rv;

	RAND_bytes(dg, sizeof(dg));
	STEP(p11->C_Initialize(NULL), "C_Initialize");
	STEP(p11->C_GetSlotList(CK_TRUE, slots, &nslots), "C_GetSlotList");
	if (nslots == 0) {
		fprintf(stderr, "client %d: no slot\n", i);
		return 1;
	}
	STEP(p11->C_OpenSession(slots[0], CKF_SERIAL_SESSION, NULL, NULL, &s),
	     "C_OpenSession");
	STEP(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)),
	     "C_Login");
	STEP(p11->C_FindObjectsInit(s, tmpl, 2), "C_FindObjectsInit");
	STEP(p11->C_FindObjects(s, &key, 1, &nkeys), "C_FindObjects");
	STEP(p11->C_FindObjectsFinal(s), "C_FindObjectsFinal");
	if (nkeys != 1) {
		fprintf(stderr, "client %d: no key with CKA_ID 01\n", i);
		return 1;
	}
	STEP(p11->C_SignInit(s, &mech, key), "C_SignInit");
	STEP(p11->C_Sign(s, dg, sizeof(dg), sig, &siglen), "C_Sign");
	if (!verify(dg, sig, siglen)) {
		fprintf(stderr, "client %d: badsig\n", i);
		return 1;
	}
	STEP(p11->C_Finalize(NULL), "C_Finalize");
	return 0;
}

/* Threads and VmRSS (KiB) of pid. */
static void sample(int pid, long *threads, long *rss_kib)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "Threads:", 8) == 0)
			*threads = atol(line + 8);
		else if (strncmp(line, "VmRSS:", 6) == 0)
			*rss_kib = atol(line + 6);
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR);
	long th = 0, rss = 0, peak_th = 0, peak_rss = 0, base_th = 0,
	     base_rss = 0;
	int n, pid, gun[2], ok = 0, uid_base = 0, nuids = 0, st, left;
	void *mod;
	FILE *f;
	double t0;

	if (argc != 6 && argc != 8) {
		fprintf(stderr, "usage: load_clients MODULE PIN PUBKEY.pem N "
				"TOKEND_PID [UID_BASE NUIDS]\n");
		return 2;
	}
	n = atoi(argv[4]);
	pid = atoi(argv[5]);
	if (argc == 8) {
		uid_base = atoi(argv[6]);
		nuids = atoi(argv[7]);
	}
	if ((f = fopen(argv[3], "r")) == NULL ||
	    (pub = PEM_read_PUBKEY(f, NULL, NULL, NULL)) == NULL) {
		fprintf(stderr, "cannot read the public key %s\n", argv[3]);
		return 2;
	}
	fclose(f);
	if ((mod = dlopen(argv[1], RTLD_NOW)) == NULL ||
	    (get_list = (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(
		 mod, "C_GetFunctionList")) == NULL ||
	    get_list(&p11) != CKR_OK) {
		fprintf(stderr, "cannot load %s\n", argv[1]);
		return 2;
	}
	sample(pid, &base_th, &base_rss);
	if (pipe(gun) < 0)
		return 2;
	for (int i = 0; i < n; i++) {
		pid_t c = fork();
		char b;

		if (c < 0) {
			fprintf(stderr, "fork: %s\n", strerror(errno));
			return 2;
		}
		if (c > 0)
			continue;
		close(gun[1]);
		if (nuids > 0 && (setgid((gid_t)(uid_base + i % nuids)) < 0 ||
				  setuid((uid_t)(uid_base + i % nuids)) < 0))
			_exit(3);
		(void)!read(gun[0], &b, 1); /* until the parent closes it */
		_exit(client(i, argv[2]));
	}
	close(gun[0]);
	t0 = now_s();
	close(gun[1]);
	for (left = n; left > 0;) {
		pid_t c = waitpid(-1, &st, WNOHANG);

		if (c > 0) {
			left--;
			ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
			continue;
		}
		sample(pid, &th, &rss);
		peak_th = th > peak_th ? th : peak_th;
		peak_rss = rss > peak_rss ? rss : peak_rss;
		usleep(20000);
	}
	printf("load: %d of %d clients signed and verified in %.1f s\n", ok, n,
	       now_s() - t0);
	printf("load: tokend threads %ld before, peak %ld; RSS %ld KiB "
	       "before, peak %ld KiB\n",
	       base_th, peak_th, base_rss, peak_rss);
	return ok == n ? 0 : 1;
}
