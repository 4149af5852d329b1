/*
 * svc_rules.c - the rules service: envelope, header, size, attachment name and
 * MIME type matches, each with its own action (tag, quarantine, reject).
 *
 * One "rule" key per rule, in the order given:
 *   rule = header NAME /regex/[i] ACTION     (a top-level field, raw or decoded)
 *   rule = sender /regex/[i] ACTION          (the envelope sender)
 *   rule = recipient /regex/[i] ACTION       (any envelope recipient)
 *   rule = filename /regex/[i] ACTION        (any part's file name)
 *   rule = mimetype /regex/[i] ACTION        (any part's type/subtype)
 *   rule = size > SIZE ACTION
 * Regular expressions are POSIX extended; "i" makes them case-insensitive.
 * The verdict is the most severe action among the rules that match.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "opes/config.h"
#include "opes/mime.h"
#include "opes/policy.h"
#include "opes/service.h"
#include "opes/vec.h"

enum rule_kind {
    RULE_HEADER,
    RULE_SENDER,
    RULE_RECIPIENT,
    RULE_FILENAME,
    RULE_MIMETYPE,
    RULE_SIZE
};

struct rule {
    enum rule_kind kind;
    char header[80];
    regex_t re;
    bool have_re;
    uint64_t size;
    enum svc_verdict action;
    char text[200]; /* the rule as written, for the trace */
};

struct rules {
    struct rule *r;
    size_t n, cap;
};

static const char *const rule_kinds[] = {"header",   "sender",   "recipient",
                                         "filename", "mimetype", "size"};

/* rule_regex - compile "/re/flags" (the text between the first and last slash). */
static int rule_regex(struct rule *ru, const char *text, const char **reason)
{
    static _Thread_local char err[160];
    const char *last = strrchr(text, '/');
    char re[1024];
    int flags = REG_EXTENDED | REG_NOSUB, rc;

    if (text[0] != '/' || last == text || (last[1] != '\0' && strcmp(last + 1, "i") != 0) ||
        (size_t)(last - text - 1) >= sizeof(re)) {
        *reason = "expected /regular expression/ or /regular expression/i";
        return -1;
    }
    if (last[1] == 'i')
        flags |= REG_ICASE;
    memcpy(re, text + 1, (size_t)(last - text - 1));
    re[last - text - 1] = '\0';
    rc = regcomp(&ru->re, re, flags);
    if (rc != 0) {
        char msg[120];
        regerror(rc, &ru->re, msg, sizeof(msg));
        snprintf(err, sizeof(err), "bad regular expression: %s", msg);
        *reason = err;
        return -1;
    }
    ru->have_re = true;
    return 0;
}

/* rule_parse - "KIND [NAME] MATCH ACTION" into ru. */
static int rule_parse(struct rule *ru, const char *value, const char **reason)
{
    char buf[1400], *kind, *rest, *action, *name = NULL;
    int a, k;

    snprintf(ru->text, sizeof(ru->text), "%s", value);
    if (strlen(value) >= sizeof(buf)) {
        *reason = "rule too long";
        return -1;
    }
    strcpy(buf, value);
    kind = strtok_r(buf, " \t", &rest);
    action = strrchr(rest, ' ');
    if (kind == NULL || action == NULL || (a = svcdesc_parse_action(action + 1)) < 0) {
        *reason = "expected: KIND [NAME] MATCH ACTION, with ACTION tag, quarantine or reject";
        return -1;
    }
    *action = '\0';
    ru->action = (enum svc_verdict)a;
    for (k = 0; k < 6 && strcmp(kind, rule_kinds[k]) != 0; k++)
        ;
    if (k == 6) {
        *reason = "unknown rule kind (header, sender, recipient, filename, mimetype, size)";
        return -1;
    }
    ru->kind = (enum rule_kind)k;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (ru->kind == RULE_SIZE) {
        if (rest[0] != '>' || config_parse_size(rest + 1 + strspn(rest + 1, " "), &ru->size) < 0) {
            *reason = "expected: size > SIZE ACTION";
            return -1;
        }
        return 0;
    }
    if (ru->kind == RULE_HEADER) {
        name = strtok_r(NULL, " \t", &rest);
        if (name == NULL || strlen(name) >= sizeof(ru->header)) {
            *reason = "expected: header NAME /regex/ ACTION";
            return -1;
        }
        strcpy(ru->header, name);
        while (*rest == ' ' || *rest == '\t')
            rest++;
    }
    return rule_regex(ru, rest, reason);
}

/* rules_rule - one rule key: the rule appended to the list (field: the rules) */
static int rules_rule(void *field, const char *value, const char **reason)
{
    struct rules *rs = field;
    struct rule *ru;

    rs->r = vec_reserve(rs->r, &rs->cap, rs->n + 1, sizeof(*rs->r));
    ru = &rs->r[rs->n];
    memset(ru, 0, sizeof(*ru));
    if (rule_parse(ru, value, reason) < 0) {
        if (ru->have_re)
            regfree(&ru->re);
        return -1;
    }
    rs->n++;
    return 0;
}

static const struct config_key rules_keys[] = {
    {"rules", "rule", CONFIG_PARSE, NULL, 0, 0, .offset = 0, .parse = rules_rule},
};

static int rules_check(struct svc *svc, const char **reason)
{
    if (((struct rules *)svc->priv)->n == 0) {
        *reason = "a rules service needs at least one rule";
        return -1;
    }
    return 0;
}

static bool rule_re(const struct rule *ru, const char *s)
{
    return s != NULL && regexec(&ru->re, s, 0, NULL, 0) == 0;
}

/* rule_header - any top-level field of that name matches, raw or decoded. */
static bool rule_header(const struct rule *ru, const struct mime_message *mime)
{
    char decoded[2048];

    for (size_t i = 0; mime != NULL && i < mime->nfields; i++) {
        if (strcasecmp(mime->fields[i].name, ru->header) != 0)
            continue;
        if (rule_re(ru, mime->fields[i].value))
            return true;
        mime_decode_2047(mime->fields[i].value, decoded, sizeof(decoded));
        if (rule_re(ru, decoded))
            return true;
    }
    return false;
}

static bool rule_parts(const struct rule *ru, const struct mime_message *mime)
{
    char type[200];

    for (size_t i = 0; mime != NULL && i < mime->nparts; i++) {
        const struct mime_part *p = &mime->parts[i];
        if (ru->kind == RULE_FILENAME && rule_re(ru, p->filename))
            return true;
        snprintf(type, sizeof(type), "%s/%s", p->type, p->subtype);
        if (ru->kind == RULE_MIMETYPE && rule_re(ru, type))
            return true;
    }
    return false;
}

static bool rule_matches(const struct rule *ru, const struct svc_msg *m)
{
    switch (ru->kind) {
    case RULE_HEADER:
        return rule_header(ru, m->mime);
    case RULE_SENDER:
        return rule_re(ru, m->sender);
    case RULE_RECIPIENT:
        for (size_t i = 0; i < m->nrcpts; i++)
            if (rule_re(ru, m->rcpts[i]))
                return true;
        return false;
    case RULE_FILENAME:
    case RULE_MIMETYPE:
        return rule_parts(ru, m->mime);
    case RULE_SIZE:
        return m->size > ru->size;
    }
    return false;
}

static void rules_run(const struct svc *svc, const struct svc_msg *m, struct svc_result *r)
{
    const struct rules *rs = svc->priv;
    size_t hit = 0;

    r->verdict = SVC_PASS;
    snprintf(r->reason, sizeof(r->reason), "no rule matched");
    for (size_t i = 0; i < rs->n; i++) {
        const struct rule *ru = &rs->r[i];
        if (!rule_matches(ru, m) || policy_rank(ru->action) <= policy_rank(r->verdict))
            continue;
        r->verdict = ru->action;
        hit = i + 1;
        snprintf(r->reason, sizeof(r->reason), "rule %zu matched: %s", hit, ru->text);
    }
    if (r->verdict == SVC_TAG)
        snprintf(r->headers, sizeof(r->headers), "X-OPES-Rule: %s; rule=%zu\r\n", svc->name, hit);
}

static void rules_free(struct svc *svc)
{
    struct rules *rs = svc->priv;

    if (rs == NULL)
        return;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->r[i].have_re)
            regfree(&rs->r[i].re);
    free(rs->r);
}

const struct svc_type svc_type_rules = {
    .name = "rules",
    .keys = rules_keys,
    .n_keys = sizeof(rules_keys) / sizeof(rules_keys[0]),
    .priv_size = sizeof(struct rules),
    .check = rules_check,
    .run = rules_run,
    .free = rules_free,
};
