/* mustache.c: the Mustache compiler (source -> flat node array) and renderer
 * (node array + jansson context stack -> buf), plus named template sets.
 *
 * The compiled form is a flat array of nodes; a section node records the index
 * one past its last child, so rendering is a walk over index ranges and never
 * writes to the template. Standalone-line whitespace is resolved at compile
 * time. Partial indentation is resolved at render time: each node remembers
 * whether it begins a source line ("bol"), and a standalone partial renders its
 * template with the indentation of its tag put before every such line, which is
 * what the spec's "indent each line of the partial, then render" amounts to. */
#include "web/mustache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum node_type {
	N_TEXT,	    /* src[off, off+len) verbatim; may be empty (a bol marker) */
	N_VAR,	    /* {{name}}, escaped */
	N_RAW,	    /* {{{name}}} or {{& name}} */
	N_SECTION,  /* {{#name}} children {{/name}} */
	N_INVERTED, /* {{^name}} children {{/name}} */
	N_PARTIAL,  /* {{> name}} */
};

struct node {
	uint8_t type;
	uint8_t bol;	    /* starts a source line: gets the partial indentation */
	uint8_t standalone; /* N_PARTIAL: alone on its line, so it indents the partial */
	uint32_t off, len;  /* text, or the tag name, in the template's source */
	uint32_t end;	    /* N_SECTION, N_INVERTED: index one past the last child */
	uint32_t ind_off, ind_len; /* N_PARTIAL standalone: the whitespace before the tag */
	uint32_t line;	    /* source line of the tag, for messages */
};

struct mustache_tpl {
	const char *name;
	const char *src;
	const struct node *nodes;
	uint32_t n;
};

/* ---- compiler ---- */

struct parser {
	const char *src;
	size_t len;
	const char *label; /* for messages */
	struct err *e;
	char otag[MUSTACHE_MAX_DELIM + 1], ctag[MUSTACHE_MAX_DELIM + 1];
	size_t olen, clen;
	struct node *nodes; /* malloc'd while compiling, copied to the arena on success */
	size_t n, cap;
	uint32_t open[MUSTACHE_MAX_DEPTH]; /* indices of the open sections */
	int depth;
	size_t line_pos; /* line counting is incremental: positions only move forward */
	uint32_t line;
};

static uint32_t parser_line(struct parser *p, size_t pos)
{
	while (p->line_pos < pos) {
		const char *nl = memchr(p->src + p->line_pos, '\n', pos - p->line_pos);
		if (!nl) {
			p->line_pos = pos;
			break;
		}
		p->line++;
		p->line_pos = (size_t)(nl - p->src) + 1;
	}
	return p->line;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool at_bol(const char *src, size_t pos)
{
	return pos == 0 || src[pos - 1] == '\n';
}

static struct node *parser_push(struct parser *p, enum node_type type)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 32;
		struct node *v = realloc(p->nodes, cap * sizeof *v);
		if (!v)
			abort();
		p->nodes = v;
		p->cap = cap;
	}
	struct node *nd = &p->nodes[p->n++];
	memset(nd, 0, sizeof *nd);
	nd->type = (uint8_t)type;
	return nd;
}

static void parser_text(struct parser *p, size_t from, size_t to)
{
	if (to <= from)
		return;
	struct node *nd = parser_push(p, N_TEXT);
	nd->bol = at_bol(p->src, from);
	nd->off = (uint32_t)from;
	nd->len = (uint32_t)(to - from);
}

/* Finds needle[0..nlen) in src[from..len); returns its position or len. */
static size_t find(const char *src, size_t len, size_t from, const char *needle, size_t nlen)
{
	if (from > len)
		return len;
	const char *hit = memmem(src + from, len - from, needle, nlen);
	return hit ? (size_t)(hit - src) : len;
}

/* Trims whitespace from both ends of src[*from..*to). */
static void trim(const char *src, size_t *from, size_t *to)
{
	while (*from < *to && is_space(src[*from]))
		(*from)++;
	while (*to > *from && is_space(src[*to - 1]))
		(*to)--;
}

/* Checks a tag name. Dotted names need non-empty parts; "." alone is the
 * implicit iterator. Partial names are any run of non-space bytes. */
static int check_name(struct parser *p, size_t from, size_t to, bool dotted, uint32_t line)
{
	if (from == to)
		return err_set(p->e, ERR_BAD_REQUEST, "%s, line %u: empty tag name", p->label, line);
	if (to - from > MUSTACHE_MAX_NAME)
		return err_set(p->e, ERR_BAD_REQUEST, "%s, line %u: tag name longer than %d bytes", p->label, line,
			       MUSTACHE_MAX_NAME);
	const char *s = p->src + from;
	size_t n = to - from;
	for (size_t i = 0; i < n; i++)
		if (is_space(s[i]) || s[i] == 0)
			return err_set(p->e, ERR_BAD_REQUEST, "%s, line %u: tag name '%.*s' contains whitespace",
				       p->label, line, (int)n, s);
	if (!dotted || (n == 1 && s[0] == '.'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '.' && (i == 0 || i == n - 1 || s[i + 1] == '.'))
			return err_set(p->e, ERR_BAD_REQUEST, "%s, line %u: malformed dotted name '%.*s'", p->label,
				       line, (int)n, s);
	return 0;
}

/* {{=open close=}}: content is what lies between the two '='. */
static int set_delims(struct parser *p, size_t from, size_t to, uint32_t line)
{
	const char *s = p->src;
	trim(s, &from, &to);
	size_t a0 = from, a1 = from;
	while (a1 < to && !is_space(s[a1]))
		a1++;
	size_t b0 = a1;
	while (b0 < to && is_space(s[b0]))
		b0++;
	size_t b1 = b0;
	while (b1 < to && !is_space(s[b1]))
		b1++;
	bool ok = a1 > a0 && b1 > b0 && b1 == to && a1 - a0 <= MUSTACHE_MAX_DELIM && b1 - b0 <= MUSTACHE_MAX_DELIM &&
		  !memchr(s + a0, '=', a1 - a0) && !memchr(s + b0, '=', b1 - b0);
	if (!ok)
		return err_set(p->e, ERR_BAD_REQUEST,
			       "%s, line %u: bad delimiters '%.*s': expected two tags of 1 to %d bytes without "
			       "whitespace or '=', as in {{=<%% %%>=}}",
			       p->label, line, (int)(to - from), s + from, MUSTACHE_MAX_DELIM);
	memcpy(p->otag, s + a0, a1 - a0);
	p->olen = a1 - a0;
	memcpy(p->ctag, s + b0, b1 - b0);
	p->clen = b1 - b0;
	return 0;
}

static int parse(struct parser *p)
{
	const char *s = p->src;
	size_t len = p->len;
	size_t pos = 0, text = 0; /* scan position; start of pending text */

	for (;;) {
		size_t start = find(s, len, pos, p->otag, p->olen);
		if (start == len) {
			parser_text(p, text, len);
			break;
		}
		uint32_t line = parser_line(p, start);
		size_t q = start + p->olen;
		while (q < len && is_blank(s[q]))
			q++;
		char sigil = q < len ? s[q] : 0;
		if (sigil && strchr("#^/>&!={", sigil))
			q++;
		else
			sigil = 0;

		/* the closing delimiter: "}" + ctag for {{{, "=" + ctag for {{= */
		char close[MUSTACHE_MAX_DELIM + 2];
		size_t clen = 0;
		if (sigil == '{' || sigil == '=')
			close[clen++] = sigil == '{' ? '}' : '=';
		memcpy(close + clen, p->ctag, p->clen);
		clen += p->clen;
		size_t cpos = find(s, len, q, close, clen);
		if (cpos == len)
			return err_set(p->e, ERR_BAD_REQUEST, "%s, line %u: unclosed tag: no '%.*s' after '%.*s'",
				       p->label, line, (int)clen, close, (int)p->olen, p->otag);
		size_t end = cpos + clen;
		size_t nfrom = q, nto = cpos;
		trim(s, &nfrom, &nto);

		/* Standalone: only blanks between the tag and the line's start and end. */
		bool standalone = false;
		size_t lstart = start, lend = end;
		if (sigil && sigil != '&' && sigil != '{') {
			while (lstart > text && is_blank(s[lstart - 1]))
				lstart--;
			while (lend < len && is_blank(s[lend]))
				lend++;
			if (at_bol(s, lstart)) {
				if (lend == len) {
					standalone = true;
				} else if (s[lend] == '\n') {
					standalone = true;
					lend++;
				} else if (s[lend] == '\r' && lend + 1 < len && s[lend + 1] == '\n') {
					standalone = true;
					lend += 2;
				}
			}
		}
		if (standalone) {
			parser_text(p, text, lstart);
			pos = text = lend;
		} else {
			parser_text(p, text, start);
			pos = text = end;
			lstart = start;
		}
		bool bol = !standalone && at_bol(s, start);

		int rc = 0;
		struct node *nd;
		switch (sigil) {
		case '!':
		case '=':
			if (sigil == '=' && (rc = set_delims(p, q, cpos, line)) < 0)
				return rc;
			if (bol) /* keeps the partial indentation of this line */
				parser_push(p, N_TEXT)->bol = 1;
			break;
		case '/': {
			if ((rc = check_name(p, nfrom, nto, true, line)) < 0)
				return rc;
			if (p->depth == 0)
				return err_set(p->e, ERR_BAD_REQUEST, "%s, line %u: closing tag '%.*s' without an open section",
					       p->label, line, (int)(nto - nfrom), s + nfrom);
			struct node *open = &p->nodes[p->open[p->depth - 1]];
			if (open->len != nto - nfrom || memcmp(s + open->off, s + nfrom, open->len) != 0)
				return err_set(p->e, ERR_BAD_REQUEST,
					       "%s, line %u: closing tag '%.*s' does not match section '%.*s' opened at "
					       "line %u",
					       p->label, line, (int)(nto - nfrom), s + nfrom, (int)open->len, s + open->off,
					       open->line);
			if (bol)
				parser_push(p, N_TEXT)->bol = 1;
			p->depth--;
			p->nodes[p->open[p->depth]].end = (uint32_t)p->n;
			break;
		}
		case '#':
		case '^':
			if ((rc = check_name(p, nfrom, nto, true, line)) < 0)
				return rc;
			if (p->depth == MUSTACHE_MAX_DEPTH)
				return err_set(p->e, ERR_BAD_REQUEST, "%s, line %u: sections nested deeper than %d",
					       p->label, line, MUSTACHE_MAX_DEPTH);
			p->open[p->depth++] = (uint32_t)p->n;
			nd = parser_push(p, sigil == '#' ? N_SECTION : N_INVERTED);
			goto named;
		case '>':
			if ((rc = check_name(p, nfrom, nto, false, line)) < 0)
				return rc;
			nd = parser_push(p, N_PARTIAL);
			nd->standalone = standalone;
			nd->ind_off = (uint32_t)lstart;
			nd->ind_len = standalone ? (uint32_t)(start - lstart) : 0;
			goto named;
		default: /* 0, '&', '{' */
			if ((rc = check_name(p, nfrom, nto, true, line)) < 0)
				return rc;
			nd = parser_push(p, sigil ? N_RAW : N_VAR);
		named:
			nd->bol = bol;
			nd->off = (uint32_t)nfrom;
			nd->len = (uint32_t)(nto - nfrom);
			nd->line = line;
			break;
		}
	}
	if (p->depth > 0) {
		const struct node *open = &p->nodes[p->open[p->depth - 1]];
		return err_set(p->e, ERR_BAD_REQUEST, "%s, line %u: section '%.*s' is not closed", p->label, open->line,
			       (int)open->len, p->src + open->off);
	}
	return 0;
}

static int compile(struct arena *a, const char *name, const char *label, const char *src, size_t len,
		   struct mustache_tpl **out, struct err *e)
{
	*out = NULL;
	if (len > MUSTACHE_MAX_SIZE)
		return err_set(e, ERR_TOO_LARGE, "%s: template of %zu bytes is larger than %d", label, len,
			       MUSTACHE_MAX_SIZE);
	struct parser p = {
		.src = src ? src : "",
		.len = src ? len : 0,
		.label = label,
		.e = e,
		.otag = "{{",
		.ctag = "}}",
		.olen = 2,
		.clen = 2,
		.line = 1,
	};
	int rc = parse(&p);
	if (rc < 0) {
		free(p.nodes);
		return rc;
	}
	struct mustache_tpl *t = arena_alloc(a, sizeof *t);
	t->name = arena_strdup(a, name ? name : "");
	t->src = arena_strndup(a, p.src, p.len);
	struct node *nodes = arena_alloc(a, (p.n ? p.n : 1) * sizeof *nodes);
	if (p.n)
		memcpy(nodes, p.nodes, p.n * sizeof *nodes);
	t->nodes = nodes;
	t->n = (uint32_t)p.n;
	free(p.nodes);
	*out = t;
	return 0;
}

int mustache_compile(struct arena *a, const char *name, const char *src, size_t len, struct mustache_tpl **out,
		     struct err *e)
{
	char label[MUSTACHE_MAX_NAME + 16];
	if (name)
		snprintf(label, sizeof label, "template '%s'", name);
	else
		snprintf(label, sizeof label, "template");
	return compile(a, name, label, src, len, out, e);
}

const char *mustache_tpl_name(const struct mustache_tpl *t)
{
	return t->name;
}

/* ---- renderer ---- */

struct ctx {
	const json_t *v;
	const struct ctx *up;
};

struct indent {
	const char *p;
	size_t n;
	const struct indent *up;
};

struct render {
	struct buf *out;
	size_t start; /* out->len on entry */
	const struct mustache_partials *partials;
	int partial_depth;
	int stack; /* sections + partials open */
	struct err *e;
};

static int render_check(struct render *r)
{
	if (r->out->len - r->start > MUSTACHE_MAX_OUTPUT)
		return err_set(r->e, ERR_INTERNAL, "template output larger than %d bytes", MUSTACHE_MAX_OUTPUT);
	return 0;
}

static void put_indent(struct render *r, const struct indent *ind)
{
	if (!ind)
		return;
	put_indent(r, ind->up);
	buf_append(r->out, ind->p, ind->n);
}

static void put_escaped(struct buf *b, const char *s, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		const char *rep;
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '"': rep = "&quot;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		default: continue;
		}
		buf_append(b, s + run, i - run);
		buf_puts(b, rep);
		run = i + 1;
	}
	buf_append(b, s + run, n - run);
}

/* The shortest %g form that reads back as the same double: 1.21, not 1.2100000000000000. */
static void put_real(struct buf *b, double d)
{
	char tmp[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	buf_puts(b, tmp);
}

static void put_value(struct buf *b, const json_t *v, bool escape)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		if (escape)
			put_escaped(b, json_string_value(v), json_string_length(v));
		else
			buf_append(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		put_real(b, json_real_value(v));
		break;
	case JSON_TRUE:
		buf_puts(b, "true");
		break;
	case JSON_FALSE:
		buf_puts(b, "false");
		break;
	default: /* null, object, array */
		break;
	}
}

/* Resolves name[0..len) in the context stack (see mustache.h); NULL if missing. */
static const json_t *lookup(const struct ctx *c, const char *name, size_t len)
{
	if (len == 1 && name[0] == '.')
		return c->v;
	const char *dot = memchr(name, '.', len);
	size_t first = dot ? (size_t)(dot - name) : len;
	const json_t *v = NULL;
	for (; c && !v; c = c->up)
		if (json_is_object(c->v))
			v = json_object_getn(c->v, name, first);
	const char *end = name + len;
	while (v && dot) {
		const char *part = dot + 1;
		dot = memchr(part, '.', (size_t)(end - part));
		size_t plen = dot ? (size_t)(dot - part) : (size_t)(end - part);
		v = json_is_object(v) ? json_object_getn(v, part, plen) : NULL;
	}
	return v;
}

static bool falsey(const json_t *v)
{
	return !v || json_is_null(v) || json_is_false(v) || (json_is_array(v) && json_array_size(v) == 0);
}

static int render_range(struct render *r, const struct mustache_tpl *t, uint32_t from, uint32_t to,
			const struct ctx *c, const struct indent *ind);

static int render_partial(struct render *r, const struct mustache_tpl *t, const struct node *nd, const struct ctx *c,
			  const struct indent *ind)
{
	if (!r->partials || !r->partials->find)
		return 0;
	const char *name = t->src + nd->off;
	const struct mustache_tpl *pt = r->partials->find(r->partials->ctx, name, nd->len);
	if (!pt)
		return 0;
	if (r->partial_depth >= MUSTACHE_MAX_PARTIAL_DEPTH)
		return err_set(r->e, ERR_INTERNAL,
			       "partials nested deeper than %d (at '%.*s' in template '%s', line %u): runaway recursion?",
			       MUSTACHE_MAX_PARTIAL_DEPTH, (int)nd->len, name, t->name, nd->line);
	if (r->stack >= MUSTACHE_MAX_STACK)
		return err_set(r->e, ERR_INTERNAL, "more than %d sections and partials open (template '%s', line %u)",
			       MUSTACHE_MAX_STACK, t->name, nd->line);
	/* Only a standalone partial tag indents the partial's lines; an inline one
	 * is pasted where it stands, as in the spec's "Inline Indentation". */
	struct indent mine = {t->src + nd->ind_off, nd->ind_len, ind};
	const struct indent *pind = !nd->standalone ? NULL : nd->ind_len ? &mine : ind;
	r->partial_depth++;
	r->stack++;
	int rc = render_range(r, pt, 0, pt->n, c, pind);
	r->partial_depth--;
	r->stack--;
	return rc;
}

static int render_section(struct render *r, const struct mustache_tpl *t, uint32_t i, const json_t *v,
			  const struct ctx *c, const struct indent *ind)
{
	const struct node *nd = &t->nodes[i];
	if (r->stack >= MUSTACHE_MAX_STACK)
		return err_set(r->e, ERR_INTERNAL, "more than %d sections and partials open (template '%s', line %u)",
			       MUSTACHE_MAX_STACK, t->name, nd->line);
	r->stack++;
	int rc = 0;
	if (json_is_array(v)) {
		for (size_t k = 0; k < json_array_size(v) && rc == 0; k++) {
			struct ctx inner = {json_array_get(v, k), c};
			rc = render_range(r, t, i + 1, nd->end, &inner, ind);
		}
	} else {
		struct ctx inner = {v, c};
		rc = render_range(r, t, i + 1, nd->end, &inner, ind);
	}
	r->stack--;
	return rc;
}

static int render_range(struct render *r, const struct mustache_tpl *t, uint32_t from, uint32_t to,
			const struct ctx *c, const struct indent *ind)
{
	for (uint32_t i = from; i < to; i++) {
		const struct node *nd = &t->nodes[i];
		if (nd->bol && ind)
			put_indent(r, ind);
		int rc = 0;
		switch ((enum node_type)nd->type) {
		case N_TEXT: {
			const char *s = t->src + nd->off;
			size_t n = nd->len;
			if (!ind) {
				buf_append(r->out, s, n);
				break;
			}
			/* indent every line that starts inside this text */
			const char *nl;
			while (n > 0 && (nl = memchr(s, '\n', n - 1)) != NULL) {
				buf_append(r->out, s, (size_t)(nl - s) + 1);
				put_indent(r, ind);
				n -= (size_t)(nl - s) + 1;
				s = nl + 1;
			}
			buf_append(r->out, s, n);
			break;
		}
		case N_VAR:
		case N_RAW: {
			const json_t *v = lookup(c, t->src + nd->off, nd->len);
			if (v)
				put_value(r->out, v, nd->type == N_VAR);
			break;
		}
		case N_SECTION: {
			const json_t *v = lookup(c, t->src + nd->off, nd->len);
			if (!falsey(v))
				rc = render_section(r, t, i, v, c, ind);
			i = nd->end - 1;
			break;
		}
		case N_INVERTED: {
			const json_t *v = lookup(c, t->src + nd->off, nd->len);
			if (falsey(v))
				rc = render_range(r, t, i + 1, nd->end, c, ind);
			i = nd->end - 1;
			break;
		}
		case N_PARTIAL:
			rc = render_partial(r, t, nd, c, ind);
			break;
		}
		if (rc == 0)
			rc = render_check(r);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int mustache_render(const struct mustache_tpl *t, const json_t *data, const struct mustache_partials *partials,
		    struct buf *out, struct err *e)
{
	struct render r = {.out = out, .start = out->len, .partials = partials, .e = e};
	struct ctx root = {data, NULL};
	int rc = render_range(&r, t, 0, t->n, &root, NULL);
	if (rc < 0) {
		out->len = r.start;
		if (out->cap)
			out->ptr[out->len] = 0;
	}
	return rc;
}

/* ---- sets ---- */

struct set_entry {
	const char *name;
	size_t len;
	const struct mustache_tpl *t;
};

struct mustache_set {
	struct arena *a;
	struct set_entry *v;
	size_t n, cap;
};

struct mustache_set *mustache_set_new(struct arena *a)
{
	struct mustache_set *s = arena_alloc(a, sizeof *s);
	s->a = a;
	return s;
}

const struct mustache_tpl *mustache_set_find(const struct mustache_set *s, const char *name, size_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].len == len && memcmp(s->v[i].name, name, len) == 0)
			return s->v[i].t;
	return NULL;
}

size_t mustache_set_count(const struct mustache_set *s)
{
	return s->n;
}

static const struct mustache_tpl *set_find_cb(void *ctx, const char *name, size_t len)
{
	return mustache_set_find(ctx, name, len);
}

struct mustache_partials mustache_set_partials(const struct mustache_set *s)
{
	/* find only reads the set; the cast drops const for the generic ctx pointer */
	return (struct mustache_partials){set_find_cb, (void *)(uintptr_t)s};
}

/* Checks name, compiles, and adds; label names the source in messages. */
static int set_add(struct mustache_set *s, const char *name, const char *label, const char *src, size_t len,
		   struct err *e)
{
	size_t nlen = name ? strlen(name) : 0;
	if (nlen == 0 || nlen > MUSTACHE_MAX_NAME)
		return err_set(e, ERR_BAD_REQUEST, "template name must be 1 to %d bytes", MUSTACHE_MAX_NAME);
	for (size_t i = 0; i < nlen; i++)
		if (is_space(name[i]))
			return err_set(e, ERR_BAD_REQUEST, "template name '%s' contains whitespace", name);
	if (mustache_set_find(s, name, nlen))
		return err_set(e, ERR_CONFLICT, "template '%s' is already in the set", name);
	if (s->n == MUSTACHE_SET_MAX)
		return err_set(e, ERR_TOO_LARGE, "more than %d templates in one set", MUSTACHE_SET_MAX);
	struct mustache_tpl *t;
	int rc = compile(s->a, name, label, src, len, &t, e);
	if (rc < 0)
		return rc;
	if (s->n == s->cap) {
		/* the old array stays in the arena: at most as much again as the final one */
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct set_entry *v = arena_alloc(s->a, cap * sizeof *v);
		if (s->n)
			memcpy(v, s->v, s->n * sizeof *v);
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = (struct set_entry){t->name, nlen, t};
	return 0;
}

int mustache_set_add(struct mustache_set *s, const char *name, const char *src, size_t len, struct err *e)
{
	char label[MUSTACHE_MAX_NAME + 16];
	snprintf(label, sizeof label, "template '%s'", name ? name : "");
	return set_add(s, name, label, src, len, e);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads path (at most MUSTACHE_MAX_SIZE bytes) into b. */
static int read_file(const char *path, struct buf *b, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, ERR_CONFIG, "%s: cannot open: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, ERR_CONFIG, "%s: not a regular file", path);
	}
	int rc = 0;
	for (;;) {
		buf_grow(b, 64 * 1024);
		ssize_t got = read(fd, b->ptr + b->len, b->cap - b->len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = err_set(e, ERR_CONFIG, "%s: cannot read: %s", path, strerror(errno));
			break;
		}
		if (got == 0)
			break;
		b->len += (size_t)got;
		b->ptr[b->len] = 0;
		if (b->len > MUSTACHE_MAX_SIZE) {
			rc = err_set(e, ERR_CONFIG, "%s: larger than %d bytes", path, MUSTACHE_MAX_SIZE);
			break;
		}
	}
	close(fd);
	return rc;
}

int mustache_set_load_dir(struct mustache_set *s, const char *dir, struct err *e)
{
	static const char ext[] = ".mustache";
	const size_t elen = sizeof ext - 1;
	DIR *d = opendir(dir);
	if (!d)
		return err_set(e, ERR_CONFIG, "template directory %s: %s", dir, strerror(errno));
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= elen || memcmp(de->d_name + len - elen, ext, elen) != 0)
			continue;
		if (n == MUSTACHE_SET_MAX) {
			rc = err_set(e, ERR_TOO_LARGE, "template directory %s: more than %d templates", dir,
				     MUSTACHE_SET_MAX);
			break;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **v = realloc(names, cap * sizeof *v);
			if (!v)
				abort();
			names = v;
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			abort();
		n++;
	}
	closedir(d);
	if (rc == 0 && n > 1)
		qsort(names, n, sizeof *names, cmp_names);

	struct buf path = BUF_INIT, src = BUF_INIT;
	for (size_t i = 0; i < n && rc == 0; i++) {
		buf_reset(&path);
		buf_printf(&path, "%s/%s", dir, names[i]);
		buf_reset(&src);
		if ((rc = read_file(path.ptr, &src, e)) < 0)
			break;
		names[i][strlen(names[i]) - elen] = 0; /* the stem is the template's name */
		rc = set_add(s, names[i], path.ptr, src.ptr, src.len, e);
		if (rc == ERR_BAD_REQUEST) { /* a broken template file is a deployment error */
			rc = ERR_CONFIG;
			if (e)
				e->code = rc;
		}
	}
	buf_free(&path);
	buf_free(&src);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int mustache_set_render(const struct mustache_set *s, const char *name, const json_t *data, struct buf *out,
			struct err *e)
{
	const struct mustache_tpl *t = mustache_set_find(s, name, strlen(name));
	if (!t)
		return err_set(e, ERR_NOT_FOUND, "template '%s' not found", name);
	struct mustache_partials p = mustache_set_partials(s);
	return mustache_render(t, data, &p, out, e);
}
