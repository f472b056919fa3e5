/* sqlite_insert.c: the write-path baseline of bench/run: a plain SQLite loop
 * with the durability of tinhso's writes (WAL, synchronous=FULL) committing
 * one small row per transaction, for a given number of seconds, one thread.
 * Prints rows/s and commit latency percentiles, then one machine-readable line:
 *   RESULT rows=N seconds=S rows_per_s=R p50_ms=A p90_ms=B p99_ms=C max_ms=D cpu_us_per_row=U
 * (U: user + system CPU time of the process per row, kernel fsync work included).
 *
 *   sqlite_insert DBPATH [SECONDS [START]]
 * DBPATH is created or reused; default 5 s. Row n gets the unique code of index
 * START + n (START default 0: give each run on the same file its own range).
 * Not part of the CMake build (bench/run builds it with cc). */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

static void die(sqlite3 *db, const char *what)
{
	fprintf(stderr, "sqlite_insert: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
	exit(1);
}

static void exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "sqlite_insert: %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static double pct_ms(const int64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return (double)v[i] / 1000.0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: sqlite_insert DBPATH [SECONDS]\n");
		return 64;
	}
	double seconds = argc > 2 ? atof(argv[2]) : 5.0;
	if (seconds <= 0 || seconds > 600)
		seconds = 5.0;
	size_t start = argc > 3 ? (size_t)strtoull(argv[3], NULL, 10) : 0;

	sqlite3 *db;
	if (sqlite3_open(argv[1], &db) != SQLITE_OK)
		die(db, "open");
	exec(db, "PRAGMA journal_mode=WAL");
	exec(db, "PRAGMA synchronous=FULL");
	exec(db, "PRAGMA busy_timeout=5000");
	exec(db, "CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, code TEXT NOT NULL UNIQUE, "
		 "name TEXT NOT NULL, level TEXT NOT NULL, parent TEXT, created_at INTEGER NOT NULL)");

	sqlite3_stmt *begin, *ins, *commit;
	if (sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "INSERT INTO item (code, name, level, parent, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
			       -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL) != SQLITE_OK)
		die(db, "prepare");

	size_t cap = 1 << 16, n = 0;
	int64_t *lat = malloc(cap * sizeof *lat);
	if (!lat)
		abort();
	int64_t cpu0 = cpu_us();
	int64_t t0 = mono_us(), end = t0 + (int64_t)(seconds * 1e6), now = t0;
	char code[32];
	while (now < end) {
		int64_t s = now;
		size_t g = start + n;
		snprintf(code, sizeof code, "%03zu.%02zu.%02zu.H23", 100 + (g / 10000) % 900, (g / 100) % 100, g % 100);
		if (sqlite3_step(begin) != SQLITE_DONE)
			die(db, "begin");
		sqlite3_reset(begin);
		sqlite3_bind_text(ins, 1, code, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(ins, 2,
				  "\xe1\xbb\xa6y ban nh\xc3\xa2n d\xc3\xa2n x\xc3\xa3 th\xe1\xbb\xad nghi\xe1\xbb\x87m",
				  -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 3, "commune", -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 4, "000.00.31.H23", -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 5, (sqlite3_int64)time(NULL) * 1000000);
		if (sqlite3_step(ins) != SQLITE_DONE)
			die(db, "insert");
		sqlite3_reset(ins);
		if (sqlite3_step(commit) != SQLITE_DONE)
			die(db, "commit");
		sqlite3_reset(commit);
		now = mono_us();
		if (n == cap) {
			cap *= 2;
			lat = realloc(lat, cap * sizeof *lat);
			if (!lat)
				abort();
		}
		lat[n++] = now - s;
	}
	double elapsed = (double)(now - t0) / 1e6;
	double cpu_per_row = n ? (double)(cpu_us() - cpu0) / (double)n : 0.0;
	qsort(lat, n, sizeof *lat, cmp_i64);
	double rps = (double)n / elapsed;
	printf("sqlite_insert: %zu rows in %.2f s (one per transaction, WAL, synchronous=FULL): %.0f rows/s\n", n,
	       elapsed, rps);
	printf("  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", pct_ms(lat, n, 50), pct_ms(lat, n, 90),
	       pct_ms(lat, n, 99), n ? (double)lat[n - 1] / 1000.0 : 0.0);
	printf("  CPU per row: %.1f us (user + system)\n", cpu_per_row);
	printf("RESULT rows=%zu seconds=%.2f rows_per_s=%.0f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f "
	       "cpu_us_per_row=%.1f\n",
	       n, elapsed, rps, pct_ms(lat, n, 50), pct_ms(lat, n, 90), pct_ms(lat, n, 99),
	       n ? (double)lat[n - 1] / 1000.0 : 0.0, cpu_per_row);
	free(lat);
	sqlite3_finalize(begin);
	sqlite3_finalize(ins);
	sqlite3_finalize(commit);
	sqlite3_close(db);
	return 0;
}
