/* crypto.c: see crypto.h. */
#include "crypto/crypto.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

int crypto_init(struct err *e)
{
	if (sodium_init() < 0)
		return err_set(e, ERR_INTERNAL, "libsodium failed to initialise");
	return 0;
}

static void key_path(struct buf *b, const char *data_dir, const char *name)
{
	buf_reset(b);
	buf_printf(b, "%s/keys/%s", data_dir, name);
}

static int write_file_mode(const char *path, const void *p, size_t n, mode_t mode, struct err *e)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	if (fd < 0)
		return err_set(e, ERR_CONFIG, "cannot create '%s': %s", path, strerror(errno));
	ssize_t w = write(fd, p, n);
	int rc = (w == (ssize_t)n && fsync(fd) == 0) ? 0 : -1;
	close(fd);
	if (rc < 0)
		return err_set(e, ERR_CONFIG, "cannot write '%s': %s", path, strerror(errno));
	return 0;
}

int keys_create(const char *data_dir, struct err *e)
{
	struct buf p = BUF_INIT;
	int rc = 0;
	buf_printf(&p, "%s", data_dir);
	if (mkdir(p.ptr, 0750) != 0 && errno != EEXIST) {
		rc = err_set(e, ERR_CONFIG, "data: cannot create '%s': %s", p.ptr, strerror(errno));
		goto out;
	}
	buf_puts(&p, "/keys");
	if (mkdir(p.ptr, 0700) != 0 && errno != EEXIST) {
		rc = err_set(e, ERR_CONFIG, "data: cannot create '%s': %s", p.ptr, strerror(errno));
		goto out;
	}
	key_path(&p, data_dir, "server.key");
	if (access(p.ptr, F_OK) == 0)
		goto out;
	unsigned char pk[32], sk[64];
	crypto_sign_keypair(pk, sk);
	struct buf hex = BUF_INIT;
	buf_hex(&hex, sk, sizeof sk);
	buf_putc(&hex, '\n');
	rc = write_file_mode(p.ptr, hex.ptr, hex.len, 0600, e);
	sodium_memzero(sk, sizeof sk);
	sodium_memzero(hex.ptr, hex.len);
	buf_reset(&hex);
	if (rc == 0) {
		buf_hex(&hex, pk, sizeof pk);
		buf_putc(&hex, '\n');
		key_path(&p, data_dir, "server.pub");
		unlink(p.ptr);
		rc = write_file_mode(p.ptr, hex.ptr, hex.len, 0644, e);
	}
	buf_free(&hex);
	if (rc == 0)
		rc = 1;
out:
	buf_free(&p);
	return rc;
}

static int hex_decode(const char *s, size_t slen, unsigned char *out, size_t n)
{
	size_t bin_len = 0;
	if (sodium_hex2bin(out, n, s, slen, "\n\r ", &bin_len, NULL) != 0 || bin_len != n)
		return -1;
	return 0;
}

int keys_load(struct keys *k, const char *data_dir, struct err *e)
{
	struct buf p = BUF_INIT;
	key_path(&p, data_dir, "server.key");
	int rc = 0;
	struct stat st;
	int fd = open(p.ptr, O_RDONLY);
	if (fd < 0) {
		rc = err_set(e, ERR_CONFIG, "data: cannot open the server key '%s': %s (run `tinhso init`)", p.ptr,
			     strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || (st.st_mode & 077)) {
		close(fd);
		rc = err_set(e, ERR_CONFIG, "data: the server key '%s' must have mode 0600", p.ptr);
		goto out;
	}
	char hex[200];
	ssize_t n = read(fd, hex, sizeof hex - 1);
	close(fd);
	if (n < 128 || hex_decode(hex, (size_t)n, k->sk, sizeof k->sk) != 0) {
		sodium_memzero(hex, sizeof hex);
		rc = err_set(e, ERR_CONFIG, "data: the server key '%s' is damaged", p.ptr);
		goto out;
	}
	sodium_memzero(hex, sizeof hex);
	crypto_sign_ed25519_sk_to_pk(k->pk, k->sk);
	unsigned char h[32];
	crypto_sha256(k->pk, sizeof k->pk, h);
	struct buf id = BUF_INIT;
	buf_hex(&id, h, 8);
	str_copy(k->key_id, sizeof k->key_id, id.ptr);
	buf_free(&id);
out:
	buf_free(&p);
	return rc;
}

void keys_sign_hex(const struct keys *k, const void *msg, size_t n, struct buf *out)
{
	unsigned char sig[64];
	crypto_sign_detached(sig, NULL, msg, n, k->sk);
	buf_hex(out, sig, sizeof sig);
}

bool crypto_verify_hex(const unsigned char pk[32], const void *msg, size_t n, const char *sig_hex)
{
	unsigned char sig[64];
	if (strlen(sig_hex) != 128 || hex_decode(sig_hex, 128, sig, sizeof sig) != 0)
		return false;
	return crypto_sign_verify_detached(sig, msg, n, pk) == 0;
}

void keys_public_b64(const struct keys *k, char *out, size_t cap)
{
	if (cap < sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)) {
		if (cap)
			out[0] = 0;
		return;
	}
	sodium_bin2base64(out, cap, k->pk, sizeof k->pk, sodium_base64_VARIANT_ORIGINAL);
}

/* SHA-256 fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up
 * (under a lock) on every digest, which costs more than hashing a short text. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!sha256_md)
		abort();
}

static const EVP_MD *sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md;
}

void crypto_sha256(const void *p, size_t n, unsigned char out[32])
{
	unsigned int len = 32;
	EVP_Digest(p, n, out, &len, sha256(), NULL);
}

void crypto_sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char h[32];
	crypto_sha256(p, n, h);
	sodium_bin2hex(out, 65, h, sizeof h);
}

struct crypto_sha256_stream *crypto_sha256_begin(void)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	if (!c || EVP_DigestInit_ex(c, sha256(), NULL) != 1)
		abort();
	return (struct crypto_sha256_stream *)c;
}

void crypto_sha256_update(struct crypto_sha256_stream *h, const void *p, size_t n)
{
	EVP_DigestUpdate((EVP_MD_CTX *)h, p, n);
}

void crypto_sha256_end(struct crypto_sha256_stream *h, char out[65])
{
	unsigned char d[32];
	unsigned int len = 32;
	EVP_DigestFinal_ex((EVP_MD_CTX *)h, d, &len);
	EVP_MD_CTX_free((EVP_MD_CTX *)h);
	sodium_bin2hex(out, 65, d, sizeof d);
}

int crypto_password_hash(const struct pwhash_params *p, const char *password, char out[128], struct err *e)
{
	if (crypto_pwhash_str_alg(out, password, strlen(password), p->ops, p->mem_bytes,
				  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return err_set(e, ERR_UNAVAILABLE, "not enough memory to hash the password");
	return 0;
}

bool crypto_password_verify(const char *hash, const char *password)
{
	return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

bool crypto_password_needs_rehash(const struct pwhash_params *p, const char *hash)
{
	return crypto_pwhash_str_needs_rehash(hash, p->ops, p->mem_bytes) != 0;
}

void crypto_random(void *p, size_t n) { randombytes_buf(p, n); }

void crypto_random_token(size_t n, char *out, size_t cap)
{
	unsigned char raw[64];
	if (n > sizeof raw)
		n = sizeof raw;
	randombytes_buf(raw, n);
	if (cap < sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING)) {
		if (cap)
			out[0] = 0;
		return;
	}
	sodium_bin2base64(out, cap, raw, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof raw);
}

bool crypto_ct_equal(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

/* ---- base32 and TOTP ---- */

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

void base32_encode(const unsigned char *p, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	unsigned buffer = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		buffer = (buffer << 8) | p[i];
		bits += 8;
		while (bits >= 5 && o + 1 < cap) {
			out[o++] = b32[(buffer >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0 && o + 1 < cap)
		out[o++] = b32[(buffer << (5 - bits)) & 31];
	if (cap)
		out[o] = 0;
}

int base32_decode(const char *s, unsigned char *out, size_t cap)
{
	unsigned buffer = 0;
	int bits = 0;
	size_t o = 0;
	for (; *s; s++) {
		char c = (char)toupper((unsigned char)*s);
		if (c == '=' || c == ' ' || c == '-')
			continue;
		const char *pos = strchr(b32, c);
		if (!pos || !c)
			return -1;
		buffer = (buffer << 5) | (unsigned)(pos - b32);
		bits += 5;
		if (bits >= 8) {
			if (o >= cap)
				return -1;
			out[o++] = (unsigned char)(buffer >> (bits - 8));
			bits -= 8;
		}
	}
	return (int)o;
}

void totp_new_secret(char out[33])
{
	unsigned char raw[20];
	randombytes_buf(raw, sizeof raw);
	base32_encode(raw, sizeof raw, out, 33);
}

int totp_code(const char *secret_b32, int64_t step)
{
	unsigned char key[64];
	int klen = base32_decode(secret_b32, key, sizeof key);
	if (klen <= 0)
		return -1;
	unsigned char msg[8];
	for (int i = 7; i >= 0; i--) {
		msg[i] = (unsigned char)(step & 0xff);
		step >>= 8;
	}
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mlen = 0;
	HMAC(EVP_sha1(), key, klen, msg, sizeof msg, mac, &mlen);
	sodium_memzero(key, sizeof key);
	int off = mac[mlen - 1] & 0x0f;
	uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
		       ((uint32_t)mac[off + 2] << 8) | mac[off + 3];
	return (int)(bin % 1000000);
}

int64_t totp_check(const char *secret_b32, const char *code, int64_t now_s)
{
	if (strlen(code) != 6)
		return -1;
	int want = 0;
	for (int i = 0; i < 6; i++) {
		if (code[i] < '0' || code[i] > '9')
			return -1;
		want = want * 10 + (code[i] - '0');
	}
	int64_t step = now_s / 30;
	for (int64_t s = step - 1; s <= step + 1; s++)
		if (totp_code(secret_b32, s) == want)
			return s;
	return -1;
}
