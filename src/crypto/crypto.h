/* crypto.h: the server's cryptography in one place: the Ed25519 signing key
 * (made by `tinhso init`, kept in DATA/keys with mode 0600), signatures,
 * SHA-256, Argon2id password hashes, random tokens, TOTP (RFC 6238) and
 * constant-time comparison. libsodium for keys, signatures, Argon2id and
 * randomness; OpenSSL for SHA-256 and HMAC (measured faster, DESIGN.md §5). */
#ifndef TINHSO_CRYPTO_H
#define TINHSO_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

/* Must be called once before anything else here; ERR_INTERNAL if libsodium fails. */
int crypto_init(struct err *e);

struct keys {
	unsigned char pk[32];
	unsigned char sk[64];
	char key_id[17]; /* first 8 bytes of SHA-256(pk), hex: names the key in signatures */
};

/* Creates DIR/keys/server.key (0600) and server.pub unless they exist.
 * Returns 1 when created, 0 when already there. */
int keys_create(const char *data_dir, struct err *e);
/* Loads the key; ERR_CONFIG naming the file when missing, unreadable or too open. */
int keys_load(struct keys *k, const char *data_dir, struct err *e);
/* Signs msg; appends 128 hex characters to out. */
void keys_sign_hex(const struct keys *k, const void *msg, size_t n, struct buf *out);
/* Verifies a hex signature with a 32-byte public key. */
bool crypto_verify_hex(const unsigned char pk[32], const void *msg, size_t n, const char *sig_hex);
/* Base64 (standard, padded) of the public key, for publishing. out >= 48 bytes. */
void keys_public_b64(const struct keys *k, char *out, size_t cap);

/* SHA-256 of p[0..n) as 64 hex characters plus NUL into out[65]. */
void crypto_sha256_hex(const void *p, size_t n, char out[65]);
void crypto_sha256(const void *p, size_t n, unsigned char out[32]);

/* Streaming SHA-256 (files): begin, update any number of times, end (frees). */
struct crypto_sha256_stream;
struct crypto_sha256_stream *crypto_sha256_begin(void);
void crypto_sha256_update(struct crypto_sha256_stream *h, const void *p, size_t n);
void crypto_sha256_end(struct crypto_sha256_stream *h, char out[65]);

/* Password hashing with Argon2id (libsodium's encoded string form). */
struct pwhash_params {
	uint64_t ops;
	size_t mem_bytes;
};
int crypto_password_hash(const struct pwhash_params *p, const char *password, char out[128], struct err *e);
bool crypto_password_verify(const char *hash, const char *password);
/* True when the stored hash used weaker parameters than p (rehash on next login). */
bool crypto_password_needs_rehash(const struct pwhash_params *p, const char *hash);

/* n random bytes as URL-safe base64 without padding into out (cap >= 4n/3+2). */
void crypto_random_token(size_t n, char *out, size_t cap);
void crypto_random(void *p, size_t n);
bool crypto_ct_equal(const void *a, const void *b, size_t n);

/* TOTP, RFC 6238 (SHA-1, 6 digits, 30 s steps). secret is base32 (RFC 4648). */
void totp_new_secret(char out[33]); /* 20 random bytes, base32 */
/* The code for a time step (unix seconds / 30). -1 when the secret is not base32. */
int totp_code(const char *secret_b32, int64_t step);
/* Accepts codes of steps now-1..now+1; returns the matched step or -1. */
int64_t totp_check(const char *secret_b32, const char *code, int64_t now_s);

/* Base32 (RFC 4648, no padding); decode returns the byte count or -1. */
void base32_encode(const unsigned char *p, size_t n, char *out, size_t cap);
int base32_decode(const char *s, unsigned char *out, size_t cap);

#endif
