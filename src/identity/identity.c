/* identity.c: the rules of identity.h: roles and scope, validation of
 * identifiers and passwords, users, login with throttling and TOTP, sessions
 * (random tokens of which only the SHA-256 is stored) with a small in-memory
 * cache, and the audit entry of every change.
 *
 * Password hashing and verification (Argon2id, tens of milliseconds and many
 * MiB) always happen outside store_write callbacks, so the single SQLite
 * writer never waits on them; what was read before hashing is re-checked
 * inside the write (password hash unchanged, TOTP step not yet used). */
#include "identity/identity.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>

#include "audit/audit.h"
#include "base/log.h"
#include "base/time.h"

#define MSG_WRONG "wrong user name or password"
#define MSG_SESSION "your session has ended or is not valid; log in again"

enum {
	USERNAME_MAX = 64,
	NAME_MAX_CHARS = 200,
	PASSWORD_MIN = 8,
	PASSWORD_MAX = 128,
	TOKEN_BYTES = 32,  /* session token: 32 random bytes, 43 base64url characters */
	CSRF_BYTES = 24,   /* 32 characters */
	LRU_KEY = 72,
	THROTTLE_ENTRIES = 16384, /* per table (accounts, IPs): LRU beyond */
	SESSION_CACHE_ENTRIES = 4096,
	MAX_SESSIONS_PER_USER = 50,
};

const struct principal principal_cli = {
	.user_id = 0,
	.username = "cli",
	.role = ROLE_ADMIN,
	.full_name = "command-line operator",
};

/* ---- roles and scope ---- */

static const char *const role_names[] = {"citizen", "official", "leader", "admin"};

const char *role_name(enum role r)
{
	return (unsigned)r < sizeof role_names / sizeof role_names[0] ? role_names[r] : "unknown";
}

int role_parse(const char *s, enum role *out)
{
	if (!s)
		return -1;
	for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
		if (strcmp(s, role_names[i]) == 0) {
			*out = (enum role)i;
			return 0;
		}
	return -1;
}

bool identity_in_scope(const struct principal *p, const char *agency_path)
{
	if (!p)
		return false;
	if (p->role == ROLE_ADMIN)
		return true;
	if (p->role == ROLE_CITIZEN || !p->agency_path || !agency_path)
		return false;
	size_t n = strlen(p->agency_path);
	if (n == 0 || strncmp(agency_path, p->agency_path, n) != 0)
		return false;
	/* paths end with '/', but never let '/a/b' cover '/a/bc/' */
	return p->agency_path[n - 1] == '/' || agency_path[n] == '/' || agency_path[n] == 0;
}

/* ---- validation ---- */

/* Next code point of valid UTF-8 (checked by utf8_valid before). */
static uint32_t u8_next(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	uint32_t c = *p++;
	int more = 0;
	if (c >= 0xF0) {
		c &= 0x07;
		more = 3;
	} else if (c >= 0xE0) {
		c &= 0x0F;
		more = 2;
	} else if (c >= 0xC0) {
		c &= 0x1F;
		more = 1;
	}
	for (int i = 0; i < more && (*p & 0xC0) == 0x80; i++)
		c = (c << 6) | (*p++ & 0x3F);
	*pp = p;
	return c;
}

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

bool identity_cccd_valid(const char *s)
{
	if (!s || strlen(s) != 12 || !digits(s, 12))
		return false;
	int province = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	return province >= 1 && province <= 96;
}

/* Writes the 0 + 9 digits form into out. */
static bool phone_normalize(const char *s, char out[11])
{
	if (!s)
		return false;
	size_t n = strlen(s);
	const char *nine;
	if (n == 10 && s[0] == '0')
		nine = s + 1;
	else if (n == 12 && strncmp(s, "+84", 3) == 0)
		nine = s + 3;
	else
		return false;
	if (!digits(nine, 9))
		return false;
	if (nine[0] != '3' && nine[0] != '5' && nine[0] != '7' && nine[0] != '8' && nine[0] != '9')
		return false;
	out[0] = '0';
	memcpy(out + 1, nine, 9);
	out[10] = 0;
	return true;
}

bool identity_phone_valid(const char *s)
{
	char tmp[11];
	return phone_normalize(s, tmp);
}

static bool ascii_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool identity_email_valid(const char *s)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	const char *at = strchr(s, '@');
	if (n > 254 || !at || strchr(at + 1, '@'))
		return false;
	size_t local = (size_t)(at - s);
	if (local < 1 || local > 64)
		return false;
	for (size_t i = 0; i < local; i++) {
		char c = s[i];
		if (c == '.') {
			if (i == 0 || i == local - 1 || s[i + 1] == '.')
				return false;
		} else if (!ascii_alnum(c) && !strchr("_%+-'", c)) {
			return false;
		}
	}
	/* domain: at least two labels of [A-Za-z0-9-] (1..63, no '-' at either end), an alphabetic TLD */
	const char *d = at + 1;
	int labels = 0;
	for (;;) {
		const char *dot = strchr(d, '.');
		size_t len = dot ? (size_t)(dot - d) : strlen(d);
		if (len < 1 || len > 63 || d[0] == '-' || d[len - 1] == '-')
			return false;
		for (size_t i = 0; i < len; i++)
			if (!ascii_alnum(d[i]) && d[i] != '-')
				return false;
		labels++;
		if (!dot) {
			if (len < 2)
				return false;
			for (size_t i = 0; i < len; i++)
				if (!((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= 'A' && d[i] <= 'Z')))
					return false;
			break;
		}
		d = dot + 1;
	}
	return labels >= 2;
}

bool identity_username_valid(const char *s)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	if (n < 3 || n > USERNAME_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Lowercases ASCII into out; false when longer than any user name can be. */
static bool username_norm(const char *in, char out[USERNAME_MAX + 1])
{
	size_t n = in ? strlen(in) : 0;
	size_t m = n > USERNAME_MAX ? USERNAME_MAX : n;
	for (size_t i = 0; i < m; i++)
		out[i] = in[i] >= 'A' && in[i] <= 'Z' ? (char)(in[i] - 'A' + 'a') : in[i];
	out[m] = 0;
	return n > 0 && n <= USERNAME_MAX;
}

static bool cp_letter(uint32_t c)
{
	/* ASCII, Latin-1 letters, Latin Extended-A/B (đ, ơ, ư), Latin Extended Additional (ạ ả ấ ... ỹ) */
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) ||
	       (c >= 0x1E00 && c <= 0x1EFF);
}

static bool cp_mark(uint32_t c) { return c >= 0x300 && c <= 0x36F; }

static bool cp_control_or_invisible(uint32_t c)
{
	return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0xAD || (c >= 0x200B && c <= 0x200F) ||
	       (c >= 0x2028 && c <= 0x202E) || (c >= 0x2060 && c <= 0x206F) || c == 0xFEFF ||
	       (c >= 0xFFF9 && c <= 0xFFFB);
}

/* NULL when s is a good name (a person's full name, a job title); else the problem.
 * strict (self-registration): letters with Vietnamese marks, single spaces,
 * apostrophes, hyphens and dots only. Otherwise any printable text. */
static const char *name_problem(const char *s, bool strict)
{
	if (!s || !*s)
		return "is required";
	size_t n = strlen(s);
	if (!utf8_valid(s, n))
		return "must be valid UTF-8";
	if (s[0] == ' ' || s[n - 1] == ' ')
		return "must not start or end with a space";
	const unsigned char *p = (const unsigned char *)s;
	size_t chars = 0;
	bool letter = false;
	uint32_t prev = 0;
	while (*p) {
		uint32_t c = u8_next(&p);
		chars++;
		if (cp_control_or_invisible(c))
			return "must not contain control or invisible characters";
		if (cp_letter(c)) {
			letter = true;
		} else if (strict) {
			if (cp_mark(c)) {
				if (!cp_letter(prev) && !cp_mark(prev))
					return "has a diacritic mark without a letter";
			} else if (c == ' ') {
				if (prev == ' ')
					return "must not contain two spaces in a row";
			} else if (c != '\'' && c != 0x2019 && c != '-' && c != '.') {
				return "may contain only letters, spaces, apostrophes, hyphens and dots";
			}
		}
		prev = c;
	}
	if (chars > NAME_MAX_CHARS)
		return "must be at most 200 characters";
	if (!letter)
		return "must contain letters";
	return NULL;
}

/* The most common passwords of public leaks, international and Vietnamese,
 * lowercase (the check ignores ASCII case). Shorter ones are listed too, so
 * the list stays right if the minimum length changes. */
static const char *const common_passwords[] = {
	/* digits */
	"123456", "1234567", "12345678", "123456789", "1234567890", "12345678910", "0123456789", "01234567",
	"0987654321", "987654321", "9876543210", "87654321", "98765432", "11111111", "111111111", "1111111111",
	"00000000", "000000000", "22222222", "33333333", "44444444", "55555555", "66666666", "77777777", "88888888",
	"99999999", "12341234", "12121212", "11223344", "112233445566", "123123123", "123321123", "1234512345",
	"147258369", "147852369", "123654789", "789456123", "741852963", "159357456", "159753159", "12344321",
	"68686868", "86868686", "68688686", "88886666", "66668888", "01010101", "10101010", "20202020", "19901990",
	"19951995", "20002000", "11112222", "12345679", "123456780", "1234567899", "123456789a", "999999999",
	"666666666", "888888888", "777777777", "555555555", "123789456", "456789123", "321321321",
	/* Vietnamese */
	"matkhau", "matkhau1", "matkhau12", "matkhau123", "matkhau1234", "matkhau@123", "matkhaumoi", "matkhaucuatoi",
	"anhyeuem", "anhyeuem1", "anhyeuem123", "anhyeuem12", "anhyeuemnhieu", "anhyeuemmaimai", "emyeuanh",
	"emyeuanh1", "emyeuanh123", "yeuem123", "yeuanh123", "yeuemnhieu", "yeuemmaimai", "toiyeuem", "toiyeuvietnam",
	"iloveyou", "iloveyou1", "iloveyou123", "vietnam", "vietnam1", "vietnam123", "vietnam@123", "vietnamvodich",
	"hanoi123", "hanoi1234", "saigon123", "hochiminh", "hochiminh123", "haiduong", "haiduong123", "danang123",
	"conmeo123", "concho123", "meyeucon", "giadinh123", "hanhphuc", "hanhphuc123", "tinhyeu", "tinhyeu123",
	"nguyen123", "nguyenvan", "tranvan123", "quantri", "quantri123", "quantrivien", "xinchao", "xinchao123",
	"chucmung", "dmcs1234", "123456aa", "123456abc", "123456a@", "123456aa@", "a123456789", "aa123456",
	"aa123456789", "abc@123", "abc@1234", "abc@123456", "123456@abc", "abc123456", "admin@123", "admin@1234",
	/* international */
	"password", "password1", "password12", "password123", "password!", "passw0rd", "p@ssw0rd", "p@ssword",
	"p@ssword1", "p@ssw0rd1", "pass1234", "pass@123", "qwerty", "qwerty12", "qwerty123", "qwerty1234",
	"qwertyui", "qwertyuiop", "qwer1234", "q1w2e3r4", "q1w2e3r4t5", "1q2w3e4r", "1q2w3e4r5t", "1qaz2wsx",
	"1qazxsw2", "zaq12wsx", "zaq1zaq1", "1234qwer", "123qwe123", "qweasdzxc", "asdfghjk", "asdfghjkl",
	"asdf1234", "zxcvbnm", "zxcvbnm1", "zxcvbnm123", "abcd1234", "abc12345", "abcdef123", "a1b2c3d4",
	"a1b2c3d4e5", "abcdefgh", "aaaaaaaa", "sunshine", "princess", "football", "baseball", "basketball",
	"welcome", "welcome1", "welcome123", "letmein", "letmein1", "monkey123", "dragon123", "master123",
	"trustno1", "superman", "batman123", "starwars", "whatever", "shadow123", "michael1", "jennifer",
	"jordan23", "computer", "internet", "samsung123", "changeme", "changeme123", "default", "secret123",
	"administrator", "admin123", "admin1234", "admin12345", "root1234", "toor1234", "test1234", "testtest",
	"guest123", "login123", "hello123", "hellohello", "lovelove", "loveyou1", "iloveu123", "fuckyou1",
	"azerty123", "pokemon1", "minecraft", "liverpool", "chelsea1", "arsenal1", "manchester", "google123",
	"facebook", "freedom1", "charlie1", "12qwaszx", "passpass", "11111111a", "1234abcd", "abc123abc",
};

/* Same character repeated, or a run like "abcdefgh" / "87654321". */
static bool password_trivial(const char *pw)
{
	size_t n = strlen(pw);
	bool same = true, up = true, down = true;
	for (size_t i = 1; i < n; i++) {
		int d = (unsigned char)pw[i] - (unsigned char)pw[i - 1];
		same = same && d == 0;
		up = up && d == 1;
		down = down && d == -1;
	}
	return same || up || down;
}

static bool password_common(const char *pw)
{
	size_t n = strlen(pw);
	if (n > 64)
		return false;
	char low[65];
	for (size_t i = 0; i <= n; i++)
		low[i] = pw[i] >= 'A' && pw[i] <= 'Z' ? (char)(pw[i] - 'A' + 'a') : pw[i];
	for (size_t i = 0; i < sizeof common_passwords / sizeof common_passwords[0]; i++)
		if (strcmp(low, common_passwords[i]) == 0)
			return true;
	return password_trivial(low);
}

int identity_validate_password_for(const char *pw, const char *username, const char *id_number, const char *field,
				   struct err *e)
{
	size_t n = pw ? strlen(pw) : 0;
	if (!pw || !*pw)
		err_field(e, field, "is required");
	else if (!utf8_valid(pw, n))
		err_field(e, field, "must be valid UTF-8");
	else if (n < PASSWORD_MIN)
		err_field(e, field, "must be at least %d characters long", PASSWORD_MIN);
	else if (n > PASSWORD_MAX)
		err_field(e, field, "must be at most %d bytes long", PASSWORD_MAX);
	else if (password_common(pw))
		err_field(e, field, "is one of the most common passwords; choose one that is harder to guess");
	else if ((username && strcasecmp(pw, username) == 0) || (id_number && strcasecmp(pw, id_number) == 0))
		err_field(e, field, "must not be your user name or CCCD number");
	return err_fields_done(e);
}

int identity_validate_password(const char *password, const char *field, struct err *e)
{
	return identity_validate_password_for(password, NULL, NULL, field, e);
}

/* ---- a small LRU map (throttle tables, session cache) ---- */

struct lru_slot {
	char key[LRU_KEY];
	uint64_t h;
	int hnext;	/* next slot in the bucket, -1 */
	int prev, next; /* recency list (head = most recent); next doubles as the free list */
	bool used;
	int count;	/* throttle: failures counted */
	int64_t first;	/* throttle: start of the IP window */
	int64_t last;	/* throttle: last failure (or admitted attempt) */
	void *val;	/* session cache: owned entry */
};

struct lru {
	struct lru_slot *slots;
	int *buckets;
	int cap, nbuckets, head, tail, free_head;
};

static uint64_t lru_hash(const char *k)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ULL;
	return h;
}

static void lru_init(struct lru *l, int cap)
{
	l->cap = cap;
	l->nbuckets = 1;
	while (l->nbuckets < cap * 2)
		l->nbuckets <<= 1;
	l->slots = calloc((size_t)cap, sizeof *l->slots);
	l->buckets = malloc((size_t)l->nbuckets * sizeof *l->buckets);
	if (!l->slots || !l->buckets)
		abort();
	for (int i = 0; i < l->nbuckets; i++)
		l->buckets[i] = -1;
	for (int i = 0; i < cap; i++)
		l->slots[i].next = i + 1 < cap ? i + 1 : -1;
	l->free_head = 0;
	l->head = l->tail = -1;
}

static void lru_unlink(struct lru *l, int i)
{
	struct lru_slot *s = &l->slots[i];
	if (s->prev >= 0)
		l->slots[s->prev].next = s->next;
	else
		l->head = s->next;
	if (s->next >= 0)
		l->slots[s->next].prev = s->prev;
	else
		l->tail = s->prev;
}

static void lru_push_front(struct lru *l, int i)
{
	struct lru_slot *s = &l->slots[i];
	s->prev = -1;
	s->next = l->head;
	if (l->head >= 0)
		l->slots[l->head].prev = i;
	l->head = i;
	if (l->tail < 0)
		l->tail = i;
}

static struct lru_slot *lru_find(struct lru *l, const char *key)
{
	uint64_t h = lru_hash(key);
	for (int i = l->buckets[h & (uint64_t)(l->nbuckets - 1)]; i >= 0; i = l->slots[i].hnext) {
		struct lru_slot *s = &l->slots[i];
		if (s->h == h && strcmp(s->key, key) == 0) {
			if (l->head != i) {
				lru_unlink(l, i);
				lru_push_front(l, i);
			}
			return s;
		}
	}
	return NULL;
}

static void lru_remove(struct lru *l, struct lru_slot *s)
{
	int i = (int)(s - l->slots);
	int *pp = &l->buckets[s->h & (uint64_t)(l->nbuckets - 1)];
	while (*pp != i)
		pp = &l->slots[*pp].hnext;
	*pp = s->hnext;
	lru_unlink(l, i);
	free(s->val);
	memset(s, 0, sizeof *s);
	s->next = l->free_head;
	l->free_head = i;
}

/* Adds key (not present): evicts the least recently used slot when full. */
static struct lru_slot *lru_add(struct lru *l, const char *key)
{
	if (l->free_head < 0)
		lru_remove(l, &l->slots[l->tail]);
	int i = l->free_head;
	struct lru_slot *s = &l->slots[i];
	l->free_head = s->next;
	memset(s, 0, sizeof *s);
	str_copy(s->key, sizeof s->key, key);
	s->used = true;
	s->h = lru_hash(s->key);
	int *b = &l->buckets[s->h & (uint64_t)(l->nbuckets - 1)];
	s->hnext = *b;
	*b = i;
	lru_push_front(l, i);
	return s;
}

static void lru_release(struct lru *l)
{
	if (!l->slots)
		return;
	for (int i = 0; i < l->cap; i++)
		free(l->slots[i].val);
	free(l->slots);
	free(l->buckets);
	memset(l, 0, sizeof *l);
}

/* ---- the clock and the throttle ---- */

struct login_throttle {
	pthread_mutex_t mu;
	struct lru accounts, ips;
	int64_t (*clock)(void);
	pthread_mutex_t dummy_mu;
	char dummy_hash[128]; /* verified for unknown user names: the same work as a real check */
	bool have_dummy;
};

static int64_t now_us(const struct app *app)
{
	if (app->throttle && app->throttle->clock)
		return app->throttle->clock();
	return time_now_us();
}

void identity_set_clock(struct app *app, int64_t (*clock)(void))
{
	if (app->throttle)
		app->throttle->clock = clock;
}

static const char *dummy_hash(struct app *app)
{
	struct login_throttle *t = app->throttle;
	pthread_mutex_lock(&t->dummy_mu);
	if (!t->have_dummy) {
		char pw[48];
		struct err e = {0};
		crypto_random_token(24, pw, sizeof pw);
		t->have_dummy = crypto_password_hash(&app->pw, pw, t->dummy_hash, &e) == 0;
	}
	pthread_mutex_unlock(&t->dummy_mu);
	return t->have_dummy ? t->dummy_hash : NULL;
}

/* An IPv6 client can use a whole /64: count it as one. */
static void ip_key(const char *ip, char out[LRU_KEY])
{
	struct in6_addr a6;
	if (strchr(ip, ':') && inet_pton(AF_INET6, ip, &a6) == 1 && !IN6_IS_ADDR_V4MAPPED(&a6)) {
		memset(&a6.s6_addr[8], 0, 8);
		char buf[INET6_ADDRSTRLEN];
		if (inet_ntop(AF_INET6, &a6, buf, sizeof buf)) {
			snprintf(out, LRU_KEY, "%s/64", buf);
			return;
		}
	}
	str_copy(out, LRU_KEY, ip);
}

/* What one admitted attempt charged, to undo it on success or when the
 * attempt turned out not to be a guess (the TOTP code was missing). */
struct ticket {
	char acct[LRU_KEY];
	char ip[LRU_KEY]; /* "" when no IP (the CLI) */
	int64_t at, prev_last;
};

static int64_t delay_us(int over)
{
	int64_t s = over >= 6 ? IDENTITY_MAX_DELAY_S : (int64_t)1 << over;
	return (s > IDENTITY_MAX_DELAY_S ? IDENTITY_MAX_DELAY_S : s) * 1000000;
}

static int retry_seconds(int64_t us)
{
	int64_t s = (us + 999999) / 1000000;
	return s < 1 ? 1 : (int)s;
}

/* Admits an attempt or refuses it (ERR_RATE_LIMITED, e->retry_after). An
 * admitted attempt is charged as a failure at once, so that concurrent
 * attempts cannot slip past the delay together; success undoes it. */
static int throttle_admit(struct app *app, const char *acct, const char *client_ip, struct ticket *t, struct err *e)
{
	struct login_throttle *th = app->throttle;
	const struct config *cfg = app->cfg;
	int64_t now = now_us(app), window = cfg->login_window * 1000000;
	memset(t, 0, sizeof *t);
	str_copy(t->acct, sizeof t->acct, acct);
	if (client_ip && *client_ip)
		ip_key(client_ip, t->ip);
	t->at = now;
	pthread_mutex_lock(&th->mu);
	struct lru_slot *ip = t->ip[0] ? lru_find(&th->ips, t->ip) : NULL;
	if (ip && now - ip->first >= window) {
		ip->count = 0;
		ip->first = now;
	}
	if (ip && ip->count >= cfg->login_ip_failures) {
		int64_t wait = ip->first + window - now;
		pthread_mutex_unlock(&th->mu);
		err_set(e, ERR_RATE_LIMITED, "too many failed logins from your network; try again in %d seconds",
			retry_seconds(wait));
		e->retry_after = retry_seconds(wait);
		return ERR_RATE_LIMITED;
	}
	struct lru_slot *a = lru_find(&th->accounts, t->acct);
	if (a && now - a->last >= window)
		a->count = 0;
	if (a && a->count >= cfg->login_free_failures) {
		int64_t until = a->last + delay_us(a->count - (int)cfg->login_free_failures);
		if (now < until) {
			pthread_mutex_unlock(&th->mu);
			err_set(e, ERR_RATE_LIMITED, "too many failed logins for this account; try again in %d seconds",
				retry_seconds(until - now));
			e->retry_after = retry_seconds(until - now);
			return ERR_RATE_LIMITED;
		}
	}
	if (!a)
		a = lru_add(&th->accounts, t->acct);
	t->prev_last = a->last;
	a->count++;
	a->last = now;
	if (t->ip[0]) {
		ip = lru_find(&th->ips, t->ip);
		if (!ip) {
			ip = lru_add(&th->ips, t->ip);
			ip->first = now;
		}
		ip->count++;
	}
	pthread_mutex_unlock(&th->mu);
	return 0;
}

/* The attempt failed: it is already counted; the delay runs from now. */
static void throttle_failed(struct app *app, const struct ticket *t)
{
	struct login_throttle *th = app->throttle;
	int64_t now = now_us(app);
	pthread_mutex_lock(&th->mu);
	struct lru_slot *a = lru_find(&th->accounts, t->acct);
	if (a && a->last < now)
		a->last = now;
	pthread_mutex_unlock(&th->mu);
}

/* Undoes the charge: success (reset_account) or an attempt that was no guess. */
static void throttle_undo(struct app *app, const struct ticket *t, bool reset_account)
{
	struct login_throttle *th = app->throttle;
	pthread_mutex_lock(&th->mu);
	struct lru_slot *a = lru_find(&th->accounts, t->acct);
	if (a) {
		if (reset_account) {
			lru_remove(&th->accounts, a);
		} else {
			if (a->count > 0)
				a->count--;
			if (a->last == t->at)
				a->last = t->prev_last;
			if (a->count == 0)
				lru_remove(&th->accounts, a);
		}
	}
	struct lru_slot *ip = t->ip[0] ? lru_find(&th->ips, t->ip) : NULL;
	if (ip && ip->count > 0)
		ip->count--;
	pthread_mutex_unlock(&th->mu);
}

/* ---- session cache ---- */

struct sess_entry {
	int64_t user_id, last_seen, expires_at, checked_at;
	enum role role;
	char *username, *agency_code, *agency_path, *full_name, *title, *id_number, *csrf;
	char data[]; /* the strings */
};

struct session_cache {
	pthread_mutex_t mu;
	struct lru map;
	uint64_t gen; /* bumped by every invalidation: a lookup that raced one is not cached */
};

static struct sess_entry *sess_entry_new(const char *const strs[7])
{
	size_t total = 0;
	for (int i = 0; i < 7; i++)
		total += strs[i] ? strlen(strs[i]) + 1 : 0;
	struct sess_entry *s = calloc(1, sizeof *s + total);
	if (!s)
		abort();
	char **dst[7] = {&s->username, &s->agency_code, &s->agency_path, &s->full_name, &s->title, &s->id_number,
			 &s->csrf};
	char *p = s->data;
	for (int i = 0; i < 7; i++) {
		if (!strs[i])
			continue;
		size_t n = strlen(strs[i]) + 1;
		memcpy(p, strs[i], n);
		*dst[i] = p;
		p += n;
	}
	return s;
}

static struct principal *principal_from(const struct sess_entry *s, const char *hash, struct arena *a)
{
	struct principal *p = arena_alloc(a, sizeof *p);
	p->user_id = s->user_id;
	p->username = arena_strdup(a, s->username);
	p->role = s->role;
	p->agency_code = arena_strdup(a, s->agency_code);
	p->agency_path = arena_strdup(a, s->agency_path);
	p->full_name = arena_strdup(a, s->full_name);
	p->title = arena_strdup(a, s->title);
	p->id_number = arena_strdup(a, s->id_number);
	p->session_hash = arena_strdup(a, hash);
	p->csrf = arena_strdup(a, s->csrf);
	p->via_cookie = false;
	return p;
}

static void cache_drop(struct app *app, const char *hash)
{
	struct session_cache *sc = app->session_cache;
	if (!sc)
		return;
	pthread_mutex_lock(&sc->mu);
	sc->gen++;
	struct lru_slot *s = lru_find(&sc->map, hash);
	if (s)
		lru_remove(&sc->map, s);
	pthread_mutex_unlock(&sc->mu);
}

static void cache_drop_user(struct app *app, int64_t user_id)
{
	struct session_cache *sc = app->session_cache;
	if (!sc)
		return;
	pthread_mutex_lock(&sc->mu);
	sc->gen++;
	for (int i = 0; i < sc->map.cap; i++) {
		struct lru_slot *s = &sc->map.slots[i];
		if (s->used && s->val && ((struct sess_entry *)s->val)->user_id == user_id)
			lru_remove(&sc->map, s);
	}
	pthread_mutex_unlock(&sc->mu);
}

/* Takes ownership of entry. */
static void cache_put(struct app *app, const char *hash, struct sess_entry *entry, uint64_t gen)
{
	struct session_cache *sc = app->session_cache;
	if (!sc) {
		free(entry);
		return;
	}
	pthread_mutex_lock(&sc->mu);
	if (sc->gen != gen) {
		pthread_mutex_unlock(&sc->mu);
		free(entry);
		return;
	}
	struct lru_slot *s = lru_find(&sc->map, hash);
	if (!s)
		s = lru_add(&sc->map, hash);
	free(s->val);
	s->val = entry;
	pthread_mutex_unlock(&sc->mu);
}

/* ---- app lifecycle ---- */

void identity_app_init(struct app *app)
{
	if (!app->throttle) {
		struct login_throttle *t = calloc(1, sizeof *t);
		if (!t)
			abort();
		pthread_mutex_init(&t->mu, NULL);
		pthread_mutex_init(&t->dummy_mu, NULL);
		lru_init(&t->accounts, THROTTLE_ENTRIES);
		lru_init(&t->ips, THROTTLE_ENTRIES);
		app->throttle = t;
	}
	if (!app->session_cache) {
		struct session_cache *sc = calloc(1, sizeof *sc);
		if (!sc)
			abort();
		pthread_mutex_init(&sc->mu, NULL);
		lru_init(&sc->map, SESSION_CACHE_ENTRIES);
		app->session_cache = sc;
	}
}

void identity_app_release(struct app *app)
{
	struct login_throttle *t = app->throttle;
	if (t) {
		lru_release(&t->accounts);
		lru_release(&t->ips);
		pthread_mutex_destroy(&t->mu);
		pthread_mutex_destroy(&t->dummy_mu);
		free(t);
		app->throttle = NULL;
	}
	struct session_cache *sc = app->session_cache;
	if (sc) {
		lru_release(&sc->map);
		pthread_mutex_destroy(&sc->mu);
		free(sc);
		app->session_cache = NULL;
	}
}

/* ---- users ---- */

#define USER_COLS                                                                                                      \
	"id, username, role, agency_code, full_name, title, id_number, phone, email, disabled, totp_enabled, "        \
	"created_at, updated_at"

static enum role role_of(const char *s)
{
	enum role r;
	if (role_parse(s, &r) == 0)
		return r;
	log_error("user with unknown role '%s' treated as citizen", s);
	return ROLE_CITIZEN; /* least privilege */
}

static void user_read(struct store_q *q, int col, struct arena *a, struct user *u)
{
	u->id = store_int(q, col);
	u->username = store_dup(q, col + 1, a);
	u->role = role_of(store_text(q, col + 2));
	u->agency_code = store_dup(q, col + 3, a);
	u->full_name = store_dup(q, col + 4, a);
	u->title = store_dup(q, col + 5, a);
	u->id_number = store_dup(q, col + 6, a);
	u->phone = store_dup(q, col + 7, a);
	u->email = store_dup(q, col + 8, a);
	u->disabled = store_int(q, col + 9) != 0;
	u->totp_enabled = store_int(q, col + 10) != 0;
	u->created_at = store_int(q, col + 11);
	u->updated_at = store_int(q, col + 12);
}

static int user_get_tx(struct store_tx *tx, const char *sql_where, const struct store_arg *arg, struct arena *a,
		       struct user *u, struct err *e)
{
	struct store_q *q;
	int rc = store_query(tx, sql_where, arg, 1, &q, e);
	if (rc == 0) {
		rc = store_step(q, e);
		if (rc == 1)
			user_read(q, 0, a, u);
	}
	store_done(q);
	return rc;
}

static int user_by_name_tx(struct store_tx *tx, const char *username, struct arena *a, struct user *u,
			   struct err *e)
{
	struct store_arg arg = SA_TEXT(username);
	return user_get_tx(tx, "SELECT " USER_COLS " FROM users WHERE username = $1", &arg, a, u, e);
}

static int user_by_id_tx(struct store_tx *tx, int64_t id, struct arena *a, struct user *u, struct err *e)
{
	struct store_arg arg = SA_INT(id);
	return user_get_tx(tx, "SELECT " USER_COLS " FROM users WHERE id = $1", &arg, a, u, e);
}

void identity_user_json(struct jw *w, const struct user *u)
{
	jw_obj(w);
	jw_kint(w, "id", u->id);
	jw_kstr(w, "username", u->username);
	jw_kstr(w, "role", role_name(u->role));
	jw_kstr(w, "agency_code", u->agency_code);
	jw_kstr(w, "full_name", u->full_name);
	jw_kstr(w, "title", u->title);
	jw_kstr(w, "id_number", u->id_number);
	jw_kstr(w, "phone", u->phone);
	jw_kstr(w, "email", u->email);
	jw_kbool(w, "disabled", u->disabled);
	jw_kbool(w, "totp_enabled", u->totp_enabled);
	jw_ktime(w, "created_at", u->created_at);
	jw_ktime(w, "updated_at", u->updated_at);
	jw_obj_end(w);
}

static int need_login(const struct ctx *c, struct err *e)
{
	return c->who ? 0 : err_set(e, ERR_UNAUTHENTICATED, "log in first");
}

static int require_admin(const struct ctx *c, const char *what, struct err *e)
{
	if (!c->who)
		return err_set(e, ERR_UNAUTHENTICATED, "log in as an administrator to %s", what);
	if (c->who->role != ROLE_ADMIN)
		return err_set(e, ERR_FORBIDDEN, "only administrators may %s", what);
	return 0;
}

static bool is_self(const struct ctx *c, const char *username)
{
	return c->who && c->who->user_id > 0 && c->who->username && strcmp(c->who->username, username) == 0;
}

static const char *empty_null(const char *s) { return s && *s ? s : NULL; }

/* A copy of a ctx whose audit actor falls back to a given one. */
static struct ctx ctx_with_actor(const struct ctx *c, const char *actor)
{
	struct ctx k = *c;
	if (actor)
		k.actor = actor;
	return k;
}

struct create_tx {
	const struct ctx *c;
	const struct user_new *u;
	const char *hash, *action;
	int64_t id;
	struct user *out; /* read back when not NULL */
};

static int create_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct create_tx *k = arg;
	const struct user_new *u = k->u;
	int64_t n = 0;
	int rc;
	if (u->agency_code) {
		rc = store_get_int(tx, "SELECT count(*) FROM agencies WHERE code = $1", ARGS(SA_TEXT(u->agency_code)), &n,
				   e);
		if (rc < 0)
			return rc;
		if (n == 0) {
			err_field(e, "agency_code", "no agency has this code");
			return err_fields_done(e);
		}
	}
	rc = store_get_int(tx, "SELECT count(*) FROM users WHERE username = $1", ARGS(SA_TEXT(u->username)), &n, e);
	if (rc < 0)
		return rc;
	if (n > 0)
		return u->role == ROLE_CITIZEN
			       ? err_set(e, ERR_CONFLICT, "an account with this CCCD number is already registered")
			       : err_set(e, ERR_CONFLICT, "the user name '%s' is already taken", u->username);
	if (u->id_number) {
		rc = store_get_int(tx, "SELECT count(*) FROM users WHERE id_number = $1", ARGS(SA_TEXT(u->id_number)),
				   &n, e);
		if (rc < 0)
			return rc;
		if (n > 0)
			return err_set(e, ERR_CONFLICT, "an account with this CCCD number is already registered");
	}
	int64_t now = time_now_us();
	rc = store_get_int(tx,
			   "INSERT INTO users (username, role, agency_code, full_name, title, id_number, phone, email, "
			   "password_hash, password_changed_at, created_at, updated_at) "
			   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10) RETURNING id",
			   ARGS(SA_TEXT(u->username), SA_TEXT(role_name(u->role)), SA_TEXT(u->agency_code),
				SA_TEXT(u->full_name), SA_TEXT(u->title), SA_TEXT(u->id_number), SA_TEXT(u->phone),
				SA_TEXT(u->email), SA_TEXT(k->hash), SA_INT(now)),
			   &k->id, e);
	if (rc == ERR_CONFLICT) /* raced another insert: do not leak the constraint's wording */
		return err_set(e, ERR_CONFLICT, "the user name or CCCD number is already registered");
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_INTERNAL, "inserting a user returned no id");
	struct buf doc = BUF_INIT;
	struct jw w;
	jw_init(&w, &doc);
	jw_obj(&w);
	jw_kint(&w, "id", k->id);
	jw_kstr(&w, "username", u->username);
	jw_kstr(&w, "role", role_name(u->role));
	jw_kstr(&w, "agency_code", u->agency_code);
	jw_kstr(&w, "full_name", u->full_name);
	jw_kstr(&w, "title", u->title);
	jw_kstr(&w, "id_number", u->id_number);
	jw_kstr(&w, "phone", u->phone);
	jw_kstr(&w, "email", u->email);
	if (k->c->client_ip)
		jw_kstr(&w, "ip", k->c->client_ip);
	jw_obj_end(&w);
	char object[USERNAME_MAX + 8];
	snprintf(object, sizeof object, "user:%s", u->username);
	rc = audit_append(tx, k->c, k->action, object, doc.ptr, e);
	buf_free(&doc);
	if (rc == 0 && k->out && (rc = user_by_id_tx(tx, k->id, k->c->a, k->out, e)) == 1)
		rc = 0;
	return rc;
}

/* Hashes outside the transaction (the writer must not wait on Argon2), then inserts. */
static int user_insert(const struct ctx *c, const struct user_new *u, const char *action, int64_t *id,
		       struct user *out, struct err *e)
{
	char hash[128];
	int rc = crypto_password_hash(&c->app->pw, u->password, hash, e);
	if (rc < 0)
		return rc;
	struct create_tx k = {c, u, hash, action, 0, out};
	rc = store_write(c->app->db, create_fn, &k, e);
	if (rc < 0)
		return rc;
	if (id)
		*id = k.id;
	return 0;
}

static void check_contact(struct user_new *u, char phone[11], bool phone_required, struct err *e)
{
	u->phone = empty_null(u->phone);
	u->email = empty_null(u->email);
	if (!u->phone) {
		if (phone_required)
			err_field(e, "phone", "is required");
	} else if (!phone_normalize(u->phone, phone)) {
		err_field(e, "phone", "must be a Vietnamese mobile number: 0 or +84 followed by 9 digits (03, 05, 07, "
				      "08 or 09 numbers)");
	} else {
		u->phone = phone;
	}
	if (u->email && !identity_email_valid(u->email))
		err_field(e, "email", "must be an e-mail address like name@example.vn");
}

static void check_cccd(const char *id_number, struct err *e)
{
	if (!identity_cccd_valid(id_number))
		err_field(e, "id_number",
			  "must be the 12-digit CCCD number, its first 3 digits a province code from 001 to 096");
}

static int user_create(const struct ctx *c, const struct user_new *in, int64_t *id, struct user *out,
		       struct err *e)
{
	int rc = require_admin(c, "create users", e);
	if (rc < 0)
		return rc;
	struct user_new u = *in;
	char phone[11];
	const char *p;
	u.id_number = empty_null(u.id_number);
	u.agency_code = empty_null(u.agency_code);
	u.title = empty_null(u.title);
	if (u.role == ROLE_CITIZEN && !empty_null(u.username))
		u.username = u.id_number;
	if ((unsigned)u.role > ROLE_ADMIN)
		err_field(e, "role", "must be citizen, official, leader or admin");
	if (u.role == ROLE_CITIZEN) {
		if (!u.id_number)
			err_field(e, "id_number", "is required for citizens");
		else
			check_cccd(u.id_number, e);
		if (u.id_number && (!u.username || strcmp(u.username, u.id_number) != 0))
			err_field(e, "username", "must be the citizen's CCCD number (id_number)");
		if (u.agency_code)
			err_field(e, "agency_code", "citizens belong to no agency");
	} else {
		if (!identity_username_valid(u.username))
			err_field(e, "username", "must be 3 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with "
						 "a letter");
		if (u.id_number)
			check_cccd(u.id_number, e);
		if ((u.role == ROLE_OFFICIAL || u.role == ROLE_LEADER) && !u.agency_code)
			err_field(e, "agency_code", "is required for officials and leaders");
		if (u.agency_code && strlen(u.agency_code) > 32)
			err_field(e, "agency_code", "no agency has this code");
	}
	if ((p = name_problem(u.full_name, false)))
		err_field(e, "full_name", "%s", p);
	if (u.title && (p = name_problem(u.title, false)))
		err_field(e, "title", "%s", p);
	check_contact(&u, phone, false, e);
	identity_validate_password_for(u.password, u.username, u.id_number, "password", e);
	if ((rc = err_fields_done(e)) < 0)
		return rc;
	return user_insert(c, &u, "user.create", id, out, e);
}

int identity_user_create(const struct ctx *c, const struct user_new *u, int64_t *id, struct err *e)
{
	return user_create(c, u, id, NULL, e);
}

int identity_user_create_read(const struct ctx *c, const struct user_new *u, struct user *out, struct err *e)
{
	return user_create(c, u, NULL, out, e);
}

static int citizen_register(const struct ctx *c, const struct user_new *in, int64_t *id, struct user *out,
			    struct err *e)
{
	struct user_new u = {0};
	char phone[11];
	const char *p;
	u.role = ROLE_CITIZEN;
	u.id_number = empty_null(in->id_number);
	u.username = u.id_number;
	u.full_name = in->full_name;
	u.phone = in->phone;
	u.email = in->email;
	u.password = in->password;
	if (!u.id_number)
		err_field(e, "id_number", "is required");
	else
		check_cccd(u.id_number, e);
	if ((p = name_problem(u.full_name, true)))
		err_field(e, "full_name", "%s", p);
	check_contact(&u, phone, true, e);
	identity_validate_password_for(u.password, u.username, u.id_number, "password", e);
	int rc = err_fields_done(e);
	if (rc < 0)
		return rc;
	return user_insert(c, &u, "citizen.register", id, out, e);
}

int identity_citizen_register(const struct ctx *c, const struct user_new *u, int64_t *id, struct err *e)
{
	return citizen_register(c, u, id, NULL, e);
}

int identity_citizen_register_read(const struct ctx *c, const struct user_new *u, struct user *out, struct err *e)
{
	return citizen_register(c, u, NULL, out, e);
}

struct get_tx {
	const struct ctx *c;
	const char *username;
	struct user *out;
};

static int get_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct get_tx *g = arg;
	int rc = user_by_name_tx(tx, g->username, g->c->a, g->out, e);
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "user '%s' not found", g->username);
	return rc < 0 ? rc : 0;
}

int identity_user_get(const struct ctx *c, const char *username, struct user *out, struct err *e)
{
	int rc = need_login(c, e);
	if (rc < 0)
		return rc;
	char name[USERNAME_MAX + 1];
	bool ok = username_norm(username, name);
	/* not admin and not self: the same answer whether the user exists or not */
	if (!ok || (c->who->role != ROLE_ADMIN && !is_self(c, name)))
		return err_set(e, ERR_NOT_FOUND, "user '%s' not found", name);
	struct get_tx g = {c, name, out};
	return store_read(c->app->db, get_fn, &g, e);
}

struct list_tx {
	const struct ctx *c;
	const char *role, *agency;
	int page, per_page;
	struct user *items;
	int n;
	int64_t total;
};

/* optional conditions (store.h): only the filters given reach the planner */
#define LIST_WHERE " WHERE 1 = 1 [[AND role = $1]] [[AND agency_code = $2]]"

static int list_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct list_tx *l = arg;
	int rc = store_get_int(tx, "SELECT count(*) FROM users" LIST_WHERE, ARGS(SA_TEXT(l->role), SA_TEXT(l->agency)),
			       &l->total, e);
	if (rc < 0)
		return rc;
	struct store_q *q;
	rc = store_query(tx, "SELECT " USER_COLS " FROM users" LIST_WHERE " ORDER BY id LIMIT $3 OFFSET $4",
			 ARGS(SA_TEXT(l->role), SA_TEXT(l->agency), SA_INT(l->per_page),
			      SA_INT((int64_t)(l->page - 1) * l->per_page)),
			 &q, e);
	if (rc == 0) {
		l->items = arena_alloc(l->c->a, sizeof *l->items * (size_t)l->per_page);
		while (l->n < l->per_page && (rc = store_step(q, e)) == 1)
			user_read(q, 0, l->c->a, &l->items[l->n++]);
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

int identity_user_list(const struct ctx *c, const char *role, const char *agency, int page, int per_page,
		       struct user **out, int *n, int64_t *total, struct err *e)
{
	*out = NULL;
	*n = 0;
	*total = 0;
	int rc = require_admin(c, "list users", e);
	if (rc < 0)
		return rc;
	enum role r;
	role = empty_null(role);
	agency = empty_null(agency);
	if (role && role_parse(role, &r) < 0)
		err_field(e, "role", "must be citizen, official, leader or admin");
	if (page < 1)
		err_field(e, "page", "must be 1 or more");
	if (per_page < 1 || per_page > 200)
		err_field(e, "per_page", "must be from 1 to 200");
	if ((rc = err_fields_done(e)) < 0)
		return rc;
	struct list_tx l = {c, role, agency, page, per_page, NULL, 0, 0};
	rc = store_read(c->app->db, list_fn, &l, e);
	if (rc < 0)
		return rc;
	*out = l.items;
	*n = l.n;
	*total = l.total;
	return 0;
}

/* ---- password change, disable ---- */

struct cred_row {
	int64_t id;
	char *hash, *id_number, *totp_secret;
	enum role role;
	bool disabled, totp_enabled;
	int64_t totp_last_step;
};

struct cred_tx {
	const char *username;
	struct arena *a;
	struct cred_row *row;
};

static int cred_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct cred_tx *k = arg;
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT id, password_hash, id_number, role, disabled, totp_enabled, totp_secret, totp_last_step "
			     "FROM users WHERE username = $1",
			     ARGS(SA_TEXT(k->username)), &q, e);
	if (rc == 0) {
		rc = store_step(q, e);
		if (rc == 1) {
			struct cred_row *r = k->row;
			r->id = store_int(q, 0);
			r->hash = store_dup(q, 1, k->a);
			r->id_number = store_dup(q, 2, k->a);
			r->role = role_of(store_text(q, 3));
			r->disabled = store_int(q, 4) != 0;
			r->totp_enabled = store_int(q, 5) != 0;
			r->totp_secret = store_dup(q, 6, k->a);
			r->totp_last_step = store_int(q, 7);
		}
	}
	store_done(q);
	return rc;
}

/* 1 found, 0 not, < 0 error. */
static int cred_read(struct app *app, const char *username, struct arena *a, struct cred_row *row, struct err *e)
{
	memset(row, 0, sizeof *row);
	struct cred_tx k = {username, a, row};
	return store_read(app->db, cred_fn, &k, e);
}

struct passwd_tx {
	const struct ctx *c;
	const char *username;
	int64_t id;
	const char *old_hash, *new_hash;
	bool self;
};

static int passwd_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct passwd_tx *k = arg;
	int64_t now = time_now_us();
	int rc = store_exec(tx,
			    "UPDATE users SET password_hash = $1, password_changed_at = $2, updated_at = $2 "
			    "WHERE id = $3 AND password_hash = $4",
			    ARGS(SA_TEXT(k->new_hash), SA_INT(now), SA_INT(k->id), SA_TEXT(k->old_hash)), e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_CONFLICT, "the password of '%s' was changed at the same moment; try again",
			       k->username);
	int ended = store_exec(tx, "DELETE FROM sessions WHERE user_id = $1", ARGS(SA_INT(k->id)), e);
	if (ended < 0)
		return ended;
	char doc[96], object[USERNAME_MAX + 8];
	snprintf(doc, sizeof doc, "{\"by\":\"%s\",\"sessions_ended\":%d}", k->self ? "self" : "admin", ended);
	snprintf(object, sizeof object, "user:%s", k->username);
	return audit_append(tx, k->c, "user.password", object, doc, e);
}

int identity_password_set(const struct ctx *c, const char *username, const char *old_password,
			  const char *new_password, struct err *e)
{
	int rc = need_login(c, e);
	if (rc < 0)
		return rc;
	char name[USERNAME_MAX + 1];
	bool ok = username_norm(username, name);
	bool self = ok && is_self(c, name);
	if (!self && c->who->role != ROLE_ADMIN)
		return err_set(e, ERR_FORBIDDEN, "only administrators may set another user's password");
	struct cred_row row;
	rc = ok ? cred_read(c->app, name, c->a, &row, e) : 0;
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "user '%s' not found", name);
	if (self && !empty_null(old_password))
		err_field(e, "old_password", "is required to change your own password");
	identity_validate_password_for(new_password, name, row.id_number, "new_password", e);
	if (self && old_password && new_password && strcmp(old_password, new_password) == 0)
		err_field(e, "new_password", "must differ from the current password");
	if ((rc = err_fields_done(e)) < 0)
		return rc;
	if (self) {
		/* checking the old password is a guess like a login: throttled the same way */
		struct ticket t;
		if ((rc = throttle_admit(c->app, name, c->client_ip, &t, e)) < 0)
			return rc;
		if (!crypto_password_verify(row.hash, old_password)) {
			throttle_failed(c->app, &t);
			err_field(e, "old_password", "is not your current password");
			return err_fields_done(e);
		}
		throttle_undo(c->app, &t, true);
	}
	char hash[128];
	if ((rc = crypto_password_hash(&c->app->pw, new_password, hash, e)) < 0)
		return rc;
	struct passwd_tx k = {c, name, row.id, row.hash, hash, self};
	rc = store_write(c->app->db, passwd_fn, &k, e);
	if (rc < 0)
		return rc;
	cache_drop_user(c->app, row.id);
	return 0;
}

struct disable_tx {
	const struct ctx *c;
	const char *username;
	bool disabled;
	int64_t id;
};

static int disable_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct disable_tx *k = arg;
	struct store_q *q;
	int rc = store_query(tx, "SELECT id, disabled FROM users WHERE username = $1", ARGS(SA_TEXT(k->username)), &q,
			     e);
	int64_t was = 0;
	if (rc == 0) {
		rc = store_step(q, e);
		if (rc == 1) {
			k->id = store_int(q, 0);
			was = store_int(q, 1);
		}
	}
	store_done(q);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_NOT_FOUND, "user '%s' not found", k->username);
	if ((was != 0) == k->disabled)
		return 0; /* already so: nothing changes, nothing to audit */
	rc = store_exec(tx, "UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3",
			ARGS(SA_BOOL(k->disabled), SA_INT(time_now_us()), SA_INT(k->id)), e);
	if (rc < 0)
		return rc;
	int ended = 0;
	if (k->disabled && (ended = store_exec(tx, "DELETE FROM sessions WHERE user_id = $1", ARGS(SA_INT(k->id)), e)) < 0)
		return ended;
	char doc[64], object[USERNAME_MAX + 8];
	snprintf(doc, sizeof doc, "{\"sessions_ended\":%d}", ended);
	snprintf(object, sizeof object, "user:%s", k->username);
	return audit_append(tx, k->c, k->disabled ? "user.disable" : "user.enable", object, doc, e);
}

int identity_user_disable(const struct ctx *c, const char *username, bool disabled, struct err *e)
{
	int rc = require_admin(c, disabled ? "disable users" : "enable users", e);
	if (rc < 0)
		return rc;
	char name[USERNAME_MAX + 1];
	if (!username_norm(username, name))
		return err_set(e, ERR_NOT_FOUND, "user '%s' not found", name);
	if (disabled && is_self(c, name))
		return err_set(e, ERR_CONFLICT, "you cannot disable your own account");
	struct disable_tx k = {c, name, disabled, 0};
	rc = store_write(c->app->db, disable_fn, &k, e);
	if (rc < 0)
		return rc;
	if (disabled)
		cache_drop_user(c->app, k.id);
	return 0;
}

/* ---- login ---- */

struct login_tx {
	const struct ctx *c; /* actor: the user logging in */
	struct cred_row *row;
	const char *username;
	const char *rehash; /* new hash with the current parameters, or NULL */
	int64_t step;	    /* TOTP step used, -1 when none */
	char id_hash[65];
	const char *csrf;
	int64_t now, expires_at;
	struct user *user;
	bool replay, changed; /* out: why it failed */
};

static int login_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct login_tx *k = arg;
	const struct config *cfg = k->c->app->cfg;
	int64_t n = 0;
	/* what was checked outside the transaction must still hold */
	int rc = store_get_int(tx, "SELECT count(*) FROM users WHERE id = $1 AND password_hash = $2 AND disabled = 0",
			       ARGS(SA_INT(k->row->id), SA_TEXT(k->row->hash)), &n, e);
	if (rc < 0)
		return rc;
	if (n == 0) {
		k->changed = true;
		return err_set(e, ERR_UNAUTHENTICATED, MSG_WRONG);
	}
	if (k->step >= 0) {
		rc = store_exec(tx, "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
				ARGS(SA_INT(k->step), SA_INT(k->row->id)), e);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			k->replay = true;
			return err_set(e, ERR_UNAUTHENTICATED, "wrong TOTP code");
		}
	}
	if (k->rehash) {
		rc = store_exec(tx, "UPDATE users SET password_hash = $1 WHERE id = $2 AND password_hash = $3",
				ARGS(SA_TEXT(k->rehash), SA_INT(k->row->id), SA_TEXT(k->row->hash)), e);
		if (rc < 0)
			return rc;
	}
	/* the user's own dead sessions go; beyond MAX_SESSIONS_PER_USER the oldest too */
	rc = store_exec(tx, "DELETE FROM sessions WHERE user_id = $1 AND (expires_at <= $2 OR last_seen <= $3)",
			ARGS(SA_INT(k->row->id), SA_INT(k->now), SA_INT(k->now - cfg->session_idle * 1000000)), e);
	if (rc < 0)
		return rc;
	rc = store_exec(tx,
			"DELETE FROM sessions WHERE user_id = $1 AND created_at < (SELECT created_at FROM sessions "
			"WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1 OFFSET $2)",
			ARGS(SA_INT(k->row->id), SA_INT(MAX_SESSIONS_PER_USER - 2)), e);
	if (rc < 0)
		return rc;
	rc = store_exec(tx,
			"INSERT INTO sessions (id_hash, user_id, csrf, created_at, last_seen, expires_at, ip) "
			"VALUES ($1, $2, $3, $4, $4, $5, $6)",
			ARGS(SA_TEXT(k->id_hash), SA_INT(k->row->id), SA_TEXT(k->csrf), SA_INT(k->now),
			     SA_INT(k->expires_at), SA_TEXT(k->c->client_ip)),
			e);
	if (rc < 0)
		return rc;
	rc = user_by_id_tx(tx, k->row->id, k->c->a, k->user, e);
	if (rc < 0)
		return rc;
	struct buf doc = BUF_INIT;
	struct jw w;
	jw_init(&w, &doc);
	jw_obj(&w);
	jw_kstr(&w, "ip", k->c->client_ip);
	jw_key(&w, "session");
	jw_strn(&w, k->id_hash, 12);
	jw_kbool(&w, "totp", k->step >= 0);
	jw_kbool(&w, "rehashed", k->rehash != NULL);
	jw_obj_end(&w);
	char object[USERNAME_MAX + 8];
	snprintf(object, sizeof object, "user:%s", k->username);
	rc = audit_append(tx, k->c, "auth.login", object, doc.ptr, e);
	buf_free(&doc);
	return rc;
}

struct fail_tx {
	const struct ctx *c;
	const char *username, *reason;
};

static int fail_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct fail_tx *k = arg;
	struct buf doc = BUF_INIT, object = BUF_INIT;
	struct jw w;
	jw_init(&w, &doc);
	jw_obj(&w);
	jw_kstr(&w, "username", k->username);
	jw_kstr(&w, "ip", k->c->client_ip);
	jw_kstr(&w, "reason", k->reason);
	jw_obj_end(&w);
	buf_printf(&object, "user:%s", k->username);
	int rc = audit_append(tx, k->c, "auth.login_failed", object.ptr, doc.ptr, e);
	buf_free(&doc);
	buf_free(&object);
	return rc;
}

/* Records a failed attempt (throttle and audit: the attempted name and the
 * IP, never the password) and answers as for any wrong credentials. */
static int login_failed(const struct ctx *c, const char *attempted, const char *reason, const struct ticket *t,
			struct err *e)
{
	if (t)
		throttle_failed(c->app, t);
	char name[USERNAME_MAX + 1];
	size_t n = strlen(attempted);
	if (n > USERNAME_MAX)
		n = USERNAME_MAX;
	while (n > 0 && !utf8_valid(attempted, n)) /* do not cut a character in two */
		n--;
	memcpy(name, attempted, n);
	name[n] = 0;
	struct fail_tx k = {c, name, reason};
	struct err ae = {0};
	if (store_write(c->app->db, fail_fn, &k, &ae) < 0)
		log_error("could not audit a failed login: %s", ae.msg);
	if (strcmp(reason, "disabled") == 0)
		return err_set(e, ERR_UNAUTHENTICATED, "this account is disabled; contact the administrator");
	if (strcmp(reason, "wrong_totp") == 0 || strcmp(reason, "totp_replay") == 0) {
		err_field(e, "totp", "is wrong, expired or already used");
		return err_set(e, ERR_UNAUTHENTICATED, "wrong TOTP code");
	}
	return err_set(e, ERR_UNAUTHENTICATED, MSG_WRONG);
}

/* Rehash only to make a hash stronger, never weaker (if the settings go down,
 * existing hashes keep their cost). */
static bool wants_rehash(const struct pwhash_params *p, const char *hash)
{
	if (!crypto_password_needs_rehash(p, hash))
		return false;
	if (strncmp(hash, "$argon2id$", 10) != 0)
		return true;
	const char *m = strstr(hash, "$m="), *t = strstr(hash, ",t=");
	if (!m || !t)
		return true;
	unsigned long long mem_kib = strtoull(m + 3, NULL, 10), ops = strtoull(t + 3, NULL, 10);
	return mem_kib < p->mem_bytes / 1024 || ops < p->ops;
}

static void code_digits(const char *in, char out[16])
{
	size_t o = 0;
	for (; in && *in && o < 15; in++)
		if (*in != ' ')
			out[o++] = *in;
	out[o] = 0;
}

int identity_login(const struct ctx *c, const char *username, const char *password, const char *totp,
		   struct login_result *out, struct err *e)
{
	struct app *app = c->app;
	memset(out, 0, sizeof *out);
	if (!username)
		username = "";
	if (!password)
		password = "";
	char name[USERNAME_MAX + 1];
	bool name_ok = username_norm(username, name);
	/* names that cannot exist share one throttle entry: an over-long name must
	 * not slow down the real account its first 64 bytes happen to spell */
	struct ticket t;
	int rc = throttle_admit(app, name_ok ? name : "*invalid*", c->client_ip, &t, e);
	if (rc < 0)
		return rc;
	/* made before the first lookup, so that no first attempt takes longer than another */
	const char *dummy = dummy_hash(app);
	struct cred_row row = {0};
	int found = 0;
	if (name_ok && (found = cred_read(app, name, c->a, &row, e)) < 0) {
		throttle_undo(app, &t, false);
		return found;
	}
	bool ok;
	if (found) {
		ok = crypto_password_verify(row.hash, password);
	} else {
		/* the same work as for a real account: the answer's timing says nothing */
		if (dummy)
			crypto_password_verify(dummy, password);
		ok = false;
	}
	if (!ok)
		return login_failed(c, name, found ? "wrong_password" : "unknown_user", &t, e);
	if (row.disabled)
		return login_failed(c, name, "disabled", &t, e);
	int64_t now = now_us(app);
	int64_t step = -1;
	bool need_totp = row.totp_enabled || (row.role == ROLE_ADMIN && app->cfg->totp_required_admin);
	if (need_totp && (!row.totp_enabled || !row.totp_secret)) {
		/* right password: no guess to count, but an administrator should see it */
		throttle_undo(app, &t, false);
		login_failed(c, name, "totp_not_enrolled", NULL, e);
		err_clear(e);
		return err_set(e, ERR_UNAUTHENTICATED,
			       "administrators log in with a TOTP code and this account has none yet: TOTP enrolment "
			       "is needed first, by an operator on the server: `tinhso user totp %s`",
			       name);
	}
	if (need_totp) {
		char code[16];
		code_digits(totp, code);
		if (!code[0]) {
			throttle_undo(app, &t, false);
			err_field(e, "totp", "is required for this account: the 6-digit code of your authenticator app");
			return err_set(e, ERR_UNAUTHENTICATED, "TOTP code required");
		}
		step = totp_check(row.totp_secret, code, now / 1000000);
		if (step < 0)
			return login_failed(c, name, "wrong_totp", &t, e);
		if (step <= row.totp_last_step)
			return login_failed(c, name, "totp_replay", &t, e);
	}
	char rehash[128];
	bool do_rehash = wants_rehash(&app->pw, row.hash);
	if (do_rehash) {
		struct err he = {0};
		if (crypto_password_hash(&app->pw, password, rehash, &he) < 0)
			do_rehash = false; /* keep the old hash: the login itself is fine */
	}
	char token[64], csrf[48];
	crypto_random_token(TOKEN_BYTES, token, sizeof token);
	crypto_random_token(CSRF_BYTES, csrf, sizeof csrf);
	struct ctx uc = ctx_with_actor(c, arena_printf(c->a, "user:%lld:%s", (long long)row.id, name));
	struct login_tx k = {
		.c = &uc,
		.row = &row,
		.username = name,
		.rehash = do_rehash ? rehash : NULL,
		.step = step,
		.csrf = csrf,
		.now = now,
		.expires_at = now + app->cfg->session_absolute * 1000000,
		.user = &out->user,
	};
	crypto_sha256_hex(token, strlen(token), k.id_hash);
	rc = store_write(app->db, login_fn, &k, e);
	if (rc < 0) {
		memset(token, 0, sizeof token);
		if (k.replay || k.changed) {
			err_clear(e);
			return login_failed(c, name, k.replay ? "totp_replay" : "changed_meanwhile", &t, e);
		}
		throttle_undo(app, &t, false);
		return rc;
	}
	throttle_undo(app, &t, true);
	str_copy(out->token, sizeof out->token, token);
	str_copy(out->csrf, sizeof out->csrf, csrf);
	out->expires_at = k.expires_at;
	memset(token, 0, sizeof token);
	return 0;
}

/* ---- sessions ---- */

struct logout_tx {
	const struct ctx *c;
};

static int logout_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct logout_tx *k = arg;
	const struct principal *p = k->c->who;
	int rc = store_exec(tx, "DELETE FROM sessions WHERE id_hash = $1", ARGS(SA_TEXT(p->session_hash)), e);
	if (rc <= 0)
		return rc; /* already gone (a concurrent logout): nothing changed */
	struct buf doc = BUF_INIT, object = BUF_INIT;
	struct jw w;
	jw_init(&w, &doc);
	jw_obj(&w);
	jw_key(&w, "session");
	jw_strn(&w, p->session_hash, strlen(p->session_hash) < 12 ? strlen(p->session_hash) : 12);
	jw_obj_end(&w);
	buf_printf(&object, "user:%s", p->username);
	rc = audit_append(tx, k->c, "auth.logout", object.ptr, doc.ptr, e);
	buf_free(&doc);
	buf_free(&object);
	return rc;
}

int identity_logout(const struct ctx *c, struct err *e)
{
	int rc = need_login(c, e);
	if (rc < 0)
		return rc;
	if (!c->who->session_hash)
		return err_set(e, ERR_BAD_REQUEST, "there is no session to end");
	struct logout_tx k = {c};
	rc = store_write(c->app->db, logout_fn, &k, e);
	cache_drop(c->app, c->who->session_hash);
	return rc < 0 ? rc : 0;
}

static bool token_shape_ok(const char *t)
{
	size_t n = 0;
	for (; t[n]; n++) {
		char ch = t[n];
		if (n >= 64 || !(ascii_alnum(ch) || ch == '-' || ch == '_'))
			return false;
	}
	return n == 43; /* 32 bytes in base64url without padding */
}

struct auth_tx {
	const char *hash;
	struct sess_entry *entry; /* out: malloc'd */
	bool disabled;
};

static int auth_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct auth_tx *k = arg;
	struct store_q *q;
	int rc = store_query(tx,
			     "SELECT s.user_id, s.last_seen, s.expires_at, u.role, u.disabled, u.username, u.agency_code, "
			     "a.path, u.full_name, u.title, u.id_number, s.csrf FROM sessions s "
			     "JOIN users u ON u.id = s.user_id LEFT JOIN agencies a ON a.code = u.agency_code "
			     "WHERE s.id_hash = $1",
			     ARGS(SA_TEXT(k->hash)), &q, e);
	if (rc == 0) {
		rc = store_step(q, e);
		if (rc == 1) {
			const char *strs[7];
			for (int i = 0; i < 7; i++)
				strs[i] = store_isnull(q, 5 + i) ? NULL : store_text(q, 5 + i);
			k->entry = sess_entry_new(strs);
			k->entry->user_id = store_int(q, 0);
			k->entry->last_seen = store_int(q, 1);
			k->entry->expires_at = store_int(q, 2);
			k->entry->role = role_of(store_text(q, 3));
			k->disabled = store_int(q, 4) != 0;
		}
	}
	store_done(q);
	return rc < 0 ? rc : 0;
}

struct seen_tx {
	const char *hash;
	int64_t now;
};

static int seen_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct seen_tx *k = arg;
	int rc = store_exec(tx, "UPDATE sessions SET last_seen = $1 WHERE id_hash = $2 AND last_seen < $1",
			    ARGS(SA_INT(k->now), SA_TEXT(k->hash)), e);
	return rc < 0 ? rc : 0;
}

int identity_authenticate(struct app *app, const char *token, struct arena *a, struct principal **out,
			  struct err *e)
{
	*out = NULL;
	if (!token || !token_shape_ok(token))
		return err_set(e, ERR_UNAUTHENTICATED, MSG_SESSION);
	char hash[65];
	crypto_sha256_hex(token, strlen(token), hash);
	int64_t now = now_us(app);
	int64_t idle = app->cfg->session_idle * 1000000;
	struct session_cache *sc = app->session_cache;
	uint64_t gen = 0;
	if (sc) {
		pthread_mutex_lock(&sc->mu);
		gen = sc->gen;
		struct lru_slot *s = lru_find(&sc->map, hash);
		if (s && s->val) {
			const struct sess_entry *se = s->val;
			if (now - se->checked_at < IDENTITY_CACHE_TTL_S * 1000000LL &&
			    now - se->last_seen < IDENTITY_LAST_SEEN_EVERY_S * 1000000LL && now - se->last_seen < idle &&
			    now < se->expires_at) {
				*out = principal_from(se, hash, a);
				pthread_mutex_unlock(&sc->mu);
				return 0;
			}
		}
		pthread_mutex_unlock(&sc->mu);
	}
	struct auth_tx k = {hash, NULL, false};
	int rc = store_read(app->db, auth_fn, &k, e);
	if (rc < 0) {
		free(k.entry);
		return rc;
	}
	if (!k.entry || k.disabled || now >= k.entry->expires_at || now - k.entry->last_seen >= idle) {
		free(k.entry);
		cache_drop(app, hash);
		return err_set(e, ERR_UNAUTHENTICATED, MSG_SESSION);
	}
	if (now - k.entry->last_seen >= IDENTITY_LAST_SEEN_EVERY_S * 1000000LL) {
		struct seen_tx st = {hash, now};
		struct err we = {0};
		if (store_write(app->db, seen_fn, &st, &we) < 0)
			log_warn("could not record a session's last use: %s", we.msg); /* the request may still go on */
		else
			k.entry->last_seen = now;
	}
	k.entry->checked_at = now;
	*out = principal_from(k.entry, hash, a);
	cache_put(app, hash, k.entry, gen);
	return 0;
}

struct purge_tx {
	int64_t now, idle_us, deleted;
};

static int purge_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct purge_tx *k = arg;
	int rc = store_exec(tx, "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen <= $2",
			    ARGS(SA_INT(k->now), SA_INT(k->now - k->idle_us)), e);
	if (rc < 0)
		return rc;
	k->deleted = rc;
	return 0;
}

int identity_sessions_purge(struct app *app, int64_t *deleted, struct err *e)
{
	struct purge_tx k = {now_us(app), app->cfg->session_idle * 1000000, 0};
	int rc = store_write(app->db, purge_fn, &k, e);
	if (deleted)
		*deleted = k.deleted;
	return rc < 0 ? rc : 0;
}

/* ---- TOTP enrolment ---- */

struct totp_tx {
	const struct ctx *c;
	const char *username;
	int64_t id;
	const char *secret; /* NULL: remove */
	int stage;	    /* 0 begin, 1 confirm, 2 set by an administrator */
	int64_t step;
};

static int totp_fn(struct store_tx *tx, void *arg, struct err *e)
{
	struct totp_tx *k = arg;
	int64_t now = time_now_us();
	int rc;
	const char *what;
	switch (k->stage) {
	case 0:
		rc = store_exec(tx, "UPDATE users SET totp_secret = $1, updated_at = $2 WHERE id = $3 AND totp_enabled = 0",
				ARGS(SA_TEXT(k->secret), SA_INT(now), SA_INT(k->id)), e);
		what = "enrolment started";
		break;
	case 1:
		rc = store_exec(tx,
				"UPDATE users SET totp_enabled = 1, totp_last_step = $1, updated_at = $2 "
				"WHERE id = $3 AND totp_enabled = 0 AND totp_secret = $4",
				ARGS(SA_INT(k->step), SA_INT(now), SA_INT(k->id), SA_TEXT(k->secret)), e);
		what = "enabled";
		break;
	default:
		rc = store_exec(tx,
				"UPDATE users SET totp_secret = $1, totp_enabled = $2, totp_last_step = 0, updated_at = $3 "
				"WHERE username = $4",
				ARGS(SA_TEXT(k->secret), SA_BOOL(k->secret != NULL), SA_INT(now), SA_TEXT(k->username)), e);
		what = k->secret ? "set by an administrator" : "removed by an administrator";
	}
	if (rc < 0)
		return rc;
	if (rc == 0)
		return k->stage == 2 ? err_set(e, ERR_NOT_FOUND, "user '%s' not found", k->username)
				     : err_set(e, ERR_CONFLICT, "TOTP enrolment changed meanwhile; start again");
	char doc[64], object[USERNAME_MAX + 8];
	snprintf(doc, sizeof doc, "{\"totp\":\"%s\"}", what);
	snprintf(object, sizeof object, "user:%s", k->username);
	return audit_append(tx, k->c, "user.totp", object, doc, e);
}

/* The caller's own account (a session user, not the CLI). */
static int totp_self(const struct ctx *c, struct cred_row *row, struct err *e)
{
	int rc = need_login(c, e);
	if (rc < 0)
		return rc;
	if (c->who->user_id <= 0)
		return err_set(e, ERR_BAD_REQUEST, "TOTP enrolment is for a logged-in user; operators use `tinhso user totp`");
	rc = cred_read(c->app, c->who->username, c->a, row, e);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return err_set(e, ERR_UNAUTHENTICATED, MSG_SESSION);
	if (row->totp_enabled)
		return err_set(e, ERR_CONFLICT,
			       "TOTP is already enabled for this account; an operator can reset it with `tinhso user totp`");
	return 0;
}

int identity_totp_begin(const struct ctx *c, char secret_out[33], struct err *e)
{
	struct cred_row row;
	secret_out[0] = 0;
	int rc = totp_self(c, &row, e);
	if (rc < 0)
		return rc;
	char secret[33];
	totp_new_secret(secret);
	struct totp_tx k = {c, c->who->username, row.id, secret, 0, 0};
	rc = store_write(c->app->db, totp_fn, &k, e);
	if (rc < 0)
		return rc;
	str_copy(secret_out, 33, secret);
	return 0;
}

int identity_totp_confirm(const struct ctx *c, const char *code, struct err *e)
{
	struct cred_row row;
	int rc = totp_self(c, &row, e);
	if (rc < 0)
		return rc;
	if (!row.totp_secret)
		return err_set(e, ERR_CONFLICT, "no TOTP enrolment was started: call /api/v1/auth/totp/begin first");
	char digits6[16];
	code_digits(code, digits6);
	int64_t step = totp_check(row.totp_secret, digits6, now_us(c->app) / 1000000);
	if (step < 0) {
		err_field(e, "code", "is not the current code of the new secret");
		return err_fields_done(e);
	}
	struct totp_tx k = {c, c->who->username, row.id, row.totp_secret, 1, step};
	return store_write(c->app->db, totp_fn, &k, e);
}

int identity_totp_set(const struct ctx *c, const char *username, const char *secret, struct err *e)
{
	int rc = require_admin(c, "set TOTP secrets", e);
	if (rc < 0)
		return rc;
	char name[USERNAME_MAX + 1];
	if (!username_norm(username, name))
		return err_set(e, ERR_NOT_FOUND, "user '%s' not found", name);
	secret = empty_null(secret);
	char norm[112];
	if (secret) {
		/* store it in canonical form: upper case, no padding or separators */
		unsigned char raw[64];
		int n = strlen(secret) <= 104 ? base32_decode(secret, raw, sizeof raw) : -1;
		if (n < 10) {
			err_field(e, "secret", "must be base32 (RFC 4648) of 10 to 64 bytes (16 to 103 characters)");
			return err_fields_done(e);
		}
		base32_encode(raw, (size_t)n, norm, sizeof norm);
		memset(raw, 0, sizeof raw);
		secret = norm;
	}
	struct totp_tx k = {c, name, 0, secret, 2, 0};
	rc = store_write(c->app->db, totp_fn, &k, e);
	memset(norm, 0, sizeof norm);
	return rc;
}
