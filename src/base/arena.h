/* arena.h: a bump allocator. Each request (and each CLI command) owns one;
 * everything allocated from it is freed at once by arena_free. Functions that
 * hand memory to their caller take the caller's arena. Out of memory aborts. */
#ifndef TINHSO_ARENA_H
#define TINHSO_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	size_t total; /* bytes handed out, for limits and metrics */
};

#define ARENA_INIT {NULL, 0}

void *arena_alloc(struct arena *a, size_t n);	/* 16-byte aligned, zeroed */
char *arena_strndup(struct arena *a, const char *s, size_t n); /* NUL-terminated copy */
char *arena_strdup(struct arena *a, const char *s); /* NULL gives NULL */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A growable array in the arena: returns items with room for at least n + 1
 * elements of size bytes (doubling *cap, starting at 16; the old block is left
 * to the arena). Use: items = arena_grow(a, items, n, &cap, sizeof *items). */
void *arena_grow(struct arena *a, void *items, size_t n, size_t *cap, size_t size);
void arena_free(struct arena *a);

#endif
