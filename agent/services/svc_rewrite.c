/*
 * svc_rewrite.c - the rewrite service: an address map applied to the envelope
 * recipients and to every header field that names a mapped address (To, Cc,
 * Delivered-To, Reply-To), together (RFC 4496 4.7; PROTOCOL.md 23).
 *
 * Keys: map = FROM=TO, ... (inline) and map_file = PATH (one "FROM TO" per
 * line, '#' comments). FROM and TO are both addresses, or both "@domain"
 * (the local part is kept). An exact address wins over its domain.
 * Mandatory and never bypassed: the map says where a mailbox is, like the
 * MTA's own aliases. A field covered by a DKIM signature is left alone
 * (PROTOCOL.md 28), and the trace says so.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/log.h"
#include "opes/mime.h"
#include "opes/service.h"
#include "opes/svc_rewrite.h"
#include "opes/vec.h"

#define RW_ADDR_MAX 256

struct rw_entry {
    char from[RW_ADDR_MAX + 1];
    char to[RW_ADDR_MAX + 1];
};

struct rw_map {
    struct rw_entry *e;
    size_t n, cap;
};

extern const struct svc_type svc_type_rewrite;

static const char *const rw_fields[] = {"To", "Cc", "Delivered-To", "Reply-To"};

/* rw_valid - an address (local@domain) or "@domain", without space or brackets. */
static int rw_valid(const char *a)
{
    const char *at = strchr(a, '@');

    if (at == NULL || at[1] == '\0' || strchr(at + 1, '@') != NULL || strlen(a) > RW_ADDR_MAX)
        return 0;
    for (; *a != '\0'; a++)
        if (isspace((unsigned char)*a) || strchr("<>,;:\"()[]\\", *a) != NULL)
            return 0;
    return 1;
}

static int rw_add(struct rw_map *map, const char *from, const char *to, const char **reason)
{
    if (!rw_valid(from) || !rw_valid(to) || (from[0] == '@') != (to[0] == '@')) {
        *reason = "expected FROM=TO with two addresses or two @domains";
        return -1;
    }
    map->e = vec_reserve(map->e, &map->cap, map->n + 1, sizeof(*map->e));
    snprintf(map->e[map->n].from, sizeof(map->e[0].from), "%s", from);
    snprintf(map->e[map->n].to, sizeof(map->e[0].to), "%s", to);
    map->n++;
    return 0;
}

/* rw_pair - "FROM=TO" or "FROM TO" (trimmed) into the map; empty is fine. */
static int rw_pair(struct rw_map *map, char *text, const char **reason)
{
    char *from = text, *to;

    while (isspace((unsigned char)*from))
        from++;
    if (*from == '\0' || *from == '#')
        return 0;
    to = from + strcspn(from, "= \t");
    if (*to == '\0') {
        *reason = "expected FROM=TO";
        return -1;
    }
    *to++ = '\0';
    while (*to == '=' || isspace((unsigned char)*to))
        to++;
    to[strcspn(to, " \t\r\n")] = '\0';
    return rw_add(map, from, to, reason);
}

static int rw_load_file(struct rw_map *map, const char *path, const char **reason)
{
    static _Thread_local char why[300];
    FILE *fp = fopen(path, "r");
    char line[1024];
    int n = 0;

    if (fp == NULL) {
        snprintf(why, sizeof(why), "%s: cannot open", path);
        *reason = why;
        return -1;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        n++;
        if (rw_pair(map, line, reason) < 0) {
            snprintf(why, sizeof(why), "%s:%d: %s", path, n, *reason);
            *reason = why;
            fclose(fp);
            return -1;
        }
    }
    fclose(fp);
    return 0;
}

/* rw_map_key - map = FROM=TO, ... (field: the map) */
static int rw_map_key(void *field, const char *value, const char **reason)
{
    char buf[4096], *save = NULL;

    snprintf(buf, sizeof(buf), "%s", value);
    for (char *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
        if (rw_pair(field, t, reason) < 0)
            return -1;
    return 0;
}

/* rw_map_file_key - map_file = PATH (field: the map) */
static int rw_map_file_key(void *field, const char *value, const char **reason)
{
    return rw_load_file(field, value, reason);
}

static const struct config_key rw_keys[] = {
    {"rewrite", "map", CONFIG_PARSE, NULL, 0, 0, .offset = 0, .parse = rw_map_key},
    {"rewrite", "map_file", CONFIG_PARSE, NULL, 0, 0, .offset = 0, .parse = rw_map_file_key},
};

static int rw_check(struct svc *svc, const char **reason)
{
    const struct rw_map *map = svc->priv;

    if (map->n == 0) {
        *reason = "rewrite needs map = FROM=TO, ... or map_file = PATH";
        return -1;
    }
    return 0;
}

/* rw_lookup - the mapped form of addr into out: 1 if mapped, else 0. */
static int rw_lookup(const struct rw_map *map, const char *addr, char *out, size_t size)
{
    const char *at = strrchr(addr, '@');

    for (size_t i = 0; i < map->n; i++)
        if (strcasecmp(map->e[i].from, addr) == 0)
            return snprintf(out, size, "%s", map->e[i].to) < (int)size;
    for (size_t i = 0; at != NULL && i < map->n; i++)
        if (map->e[i].from[0] == '@' && strcasecmp(map->e[i].from, at) == 0)
            return snprintf(out, size, "%.*s%s", (int)(at - addr), addr, map->e[i].to) < (int)size;
    return 0;
}

int svc_rewrite_address(const struct svc_set *set, const char *addr, char *out, size_t size)
{
    char cur[RW_ADDR_MAX * 2 + 2], next[sizeof(cur)];
    int changed = 0;

    snprintf(cur, sizeof(cur), "%s", addr);
    for (size_t i = 0; set != NULL && i < set->n; i++) {
        if (set->svc[i].type != &svc_type_rewrite ||
            !rw_lookup(set->svc[i].priv, cur, next, sizeof(next)))
            continue;
        memcpy(cur, next, sizeof(cur));
        changed = 1;
    }
    if (snprintf(out, size, "%s", cur) >= (int)size)
        return -1;
    return changed;
}

/* rw_addr_char - a byte that can be part of an address written in a header. */
static int rw_addr_char(char c)
{
    return c > ' ' && c != 0x7f && strchr("<>,;:\"()[]\\", c) == NULL;
}

/*
 * rw_field - the raw field with every mapped address replaced, or NULL when
 * nothing in it is mapped. The field name (up to the colon) is kept.
 */
static char *rw_field(const struct rw_map *map, const char *raw, size_t len)
{
    size_t cap = len * 2 + 512, o = 0, i = 0, start;
    char *out = malloc(cap), addr[RW_ADDR_MAX + 1], to[RW_ADDR_MAX + 1];
    int changed = 0;

    if (out == NULL)
        fatal("malloc");
    for (; i < len && raw[i] != ':'; i++)
        out[o++] = raw[i];
    while (i < len) {
        if (!rw_addr_char(raw[i])) {
            out[o++] = raw[i++];
            continue;
        }
        for (start = i; i < len && rw_addr_char(raw[i]); i++)
            ;
        size_t n = i - start;
        const char *piece = raw + start;
        if (n <= RW_ADDR_MAX && memchr(piece, '@', n) != NULL) {
            memcpy(addr, piece, n);
            addr[n] = '\0';
            if (rw_lookup(map, addr, to, sizeof(to)) && o + strlen(to) + (len - i) < cap) {
                piece = to;
                n = strlen(to);
                changed = 1;
            }
        }
        memcpy(out + o, piece, n);
        o += n;
    }
    out[o] = '\0';
    if (!changed) {
        free(out);
        return NULL;
    }
    return out;
}

/* rw_note - append to the reason, keeping it a C string. */
static void rw_note(struct svc_result *r, const char *fmt, const char *a, const char *b)
{
    size_t used = strlen(r->reason);

    snprintf(r->reason + used, sizeof(r->reason) - used, fmt, used ? "; " : "", a, b);
}

/* rw_headers - replace mapped addresses in the address fields of the top-level header. */
static void rw_headers(const struct svc *svc, const struct svc_msg *m, struct svc_result *r)
{
    const struct mime_part *top = &m->mime->parts[0];

    for (size_t i = 0; i < top->nfields; i++) {
        const struct mime_field *f = &top->fields[i];
        size_t k = 0;
        while (k < 4 && strcasecmp(f->name, rw_fields[k]) != 0)
            k++;
        if (k == 4 || f->raw_len > 64 * 1024)
            continue;
        char *raw = svc_spool_range(m->spool, f->offset, (size_t)f->raw_len), *mapped;
        if (raw == NULL || (mapped = rw_field(svc->priv, raw, (size_t)f->raw_len)) == NULL) {
            free(raw);
            continue;
        }
        if (mime_dkim_signs(m->mime, f->name))
            rw_note(r, "%s%s left as it is: a DKIM signature covers it%s", f->name, "");
        else if (variant_edits_add(&r->edits, f->offset, f->raw_len, mapped, strlen(mapped)) == 0)
            rw_note(r, "%s%s rewritten%s", f->name, "");
        free(mapped);
        free(raw);
    }
}

static void rw_run(const struct svc *svc, const struct svc_msg *m, struct svc_result *r)
{
    bool envelope = false;

    r->reason[0] = '\0';
    for (size_t i = 0; m->orig_rcpts != NULL && i < m->nrcpts; i++) {
        if (m->orig_rcpts[i] == NULL)
            continue;
        rw_note(r, "%senvelope <%s> -> <%s>", m->orig_rcpts[i], m->rcpts[i]);
        envelope = true;
    }
    if (m->mime != NULL)
        rw_headers(svc, m, r);
    r->verdict = envelope || r->edits.n > 0 ? SVC_MODIFY : SVC_PASS;
    if (r->reason[0] == '\0')
        snprintf(r->reason, sizeof(r->reason), "no mapped address");
}

static void rw_free(struct svc *svc)
{
    struct rw_map *map = svc->priv;

    free(map->e);
}

const struct svc_type svc_type_rewrite = {
    .name = "rewrite",
    .never_bypass = "an address map is mandatory and never bypassed",
    .keys = rw_keys,
    .n_keys = sizeof(rw_keys) / sizeof(rw_keys[0]),
    .priv_size = sizeof(struct rw_map),
    .check = rw_check,
    .run = rw_run,
    .free = rw_free,
};
