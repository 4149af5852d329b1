/*
 * svc_rules.c - the rules service: envelope, header, size, attachment name and
 * MIME type matches, each with its own action (tag, quarantine, reject).
 *
 * One "rule" key per rule, in the order given:
 *   rule = header NAME /regex/[i] ACTION     (a field of any message, raw or decoded)
 *   rule = sender /regex/[i] ACTION          (the envelope sender)
 *   rule = recipient /regex/[i] ACTION       (any envelope recipient)
 *   rule = filename /regex/[i] ACTION        (any part's file name)
 *   rule = mimetype /regex/[i] ACTION        (any part's type/subtype)
 *   rule = size > SIZE ACTION
 * Any rule may end in label="TEXT": what the recipient reads as the reason
 * ("Executable attachment"). Without one they read a sentence made from the
 * rule: the attachment's extension or type, "Sender address matched a filter
 * rule", "Larger than 10 MB" ... (reason.en, reason-rules.en).
 * Regular expressions are POSIX extended; "i" makes them case-insensitive.
 * The verdict is the most severe action among the rules that match.
 *
 * Every reading counts: a file name given twice (or as name and filename)
 * matches on each of its values, and a base64 or quoted-printable
 * message/rfc822 is decoded and its header and parts are matched too, as
 * those of any enclosed message are. What cannot be
 * read is never a pass by default: a message the MIME reader could not read
 * in full (a limit of struct mime_limits) gets on_unscannable, one whose
 * structure readers may split differently (MIME_F_AMBIGUOUS) gets
 * on_ambiguous, unless a matching rule asks for more.
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

/* encoded messages decoded per message, nested ones included */
#define RULES_MAX_INNER 16

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
    char text[200];  /* the rule as written, for the trace */
    char label[200]; /* label="..." for the recipient, "" = none */
};

struct rules {
    struct rule *r;
    size_t n, cap;
    enum svc_verdict on_unscannable;
    enum svc_verdict on_ambiguous;
};

/* The message as the rules read it: itself and its decoded encoded messages. */
struct rules_view {
    const struct mime_message *msg[1 + RULES_MAX_INNER]; /* [0]: the message */
    size_t n;
    char *data[1 + RULES_MAX_INNER]; /* the decoded bytes of msg[i] (NULL for [0]) */
    size_t len[1 + RULES_MAX_INNER];
    bool too_many; /* more encoded messages than RULES_MAX_INNER */
    bool not_read; /* an encoded message could not be decoded */
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

/*
 * rule_label - take a trailing label="TEXT" off buf into ru->label (TEXT
 * without quotes, no '"' inside); 0, or -1 with *reason.
 */
static int rule_label(struct rule *ru, char *buf, const char **reason)
{
    char *p = NULL, *q, *end = buf + strlen(buf);

    for (q = strstr(buf, " label=\""); q != NULL; q = strstr(q + 1, " label=\""))
        p = q;
    if (p == NULL)
        return 0;
    q = p + 8;
    if (end == q || end[-1] != '"' || memchr(q, '"', (size_t)(end - 1 - q)) != NULL ||
        end - 1 == q || (size_t)(end - 1 - q) >= sizeof(ru->label)) {
        *reason = "expected label=\"TEXT\" at the end (no quote inside, at most 199 bytes)";
        return -1;
    }
    memcpy(ru->label, q, (size_t)(end - 1 - q));
    ru->label[end - 1 - q] = '\0';
    *p = '\0';
    return 0;
}

/* rule_parse - "KIND [NAME] MATCH ACTION [label="TEXT"]" into ru. */
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
    if (rule_label(ru, buf, reason) < 0)
        return -1;
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
    {"rules", "on_unscannable", CONFIG_ENUM, "quarantine", 0, 0,
     .offset = offsetof(struct rules, on_unscannable), .words = svc_unscannable_words},
    {"rules", "on_ambiguous", CONFIG_ENUM, "quarantine", 0, 0,
     .offset = offsetof(struct rules, on_ambiguous), .words = svc_unscannable_words},
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

/* rule_fields - any field of that name in one header matches, raw or decoded. */
static bool rule_fields(const struct rule *ru, const struct mime_part *p)
{
    char decoded[2048];

    for (size_t i = 0; i < p->nfields; i++) {
        if (strcasecmp(p->fields[i].name, ru->header) != 0)
            continue;
        if (rule_re(ru, p->fields[i].value))
            return true;
        mime_decode_2047(p->fields[i].value, decoded, sizeof(decoded));
        if (rule_re(ru, decoded))
            return true;
    }
    return false;
}

/*
 * rule_parts - any part of any message of the view: every file name reading,
 * or its type; what matched into hit.
 */
static bool rule_parts(const struct rule *ru, const struct rules_view *v, char *hit, size_t size)
{
    char type[200];
    const char *names[2 * MIME_MAX_PARAMS]; /* room for every parameter of both fields */

    for (size_t k = 0; k < v->n; k++) {
        const struct mime_message *mime = v->msg[k];
        for (size_t i = 0; mime != NULL && i < mime->nparts; i++) {
            const struct mime_part *p = &mime->parts[i];
            if (ru->kind == RULE_FILENAME) {
                size_t n = mime_part_names(p, names, sizeof(names) / sizeof(names[0]));
                if (rule_re(ru, p->filename))
                    return snprintf(hit, size, "%s", p->filename), true;
                for (size_t j = 0; j < n; j++)
                    if (rule_re(ru, names[j]))
                        return snprintf(hit, size, "%s", names[j]), true;
            }
            snprintf(type, sizeof(type), "%s/%s", p->type, p->subtype);
            if (ru->kind == RULE_MIMETYPE && rule_re(ru, type))
                return snprintf(hit, size, "%s", type), true;
        }
    }
    return false;
}

/*
 * rule_header - the header of every message in the view: the top-level one,
 * each enclosed message/rfc822, and each decoded encoded one.
 */
static bool rule_header(const struct rule *ru, const struct rules_view *v)
{
    for (size_t k = 0; k < v->n; k++)
        for (size_t i = 0; i < v->msg[k]->nparts; i++)
            if (v->msg[k]->parts[i].is_message && rule_fields(ru, &v->msg[k]->parts[i]))
                return true;
    return false;
}

/*
 * rules_decode - decode part i of v->msg[k] (an encoded message/rfc822) and
 * parse it as a message of its own, added to the view.
 */
static void rules_decode(struct rules_view *v, const struct svc_msg *m, size_t k, size_t i)
{
    const char *error;
    bool cut;
    char *data;
    size_t len;

    if (v->n == 1 + RULES_MAX_INNER) {
        v->too_many = true;
        return;
    }
    cut = false; /* decoding never grows the text more than twice (LF to CRLF) */
    data = k == 0 ? svc_part_decode(m, i, &len, &error)
                  : mime_part_body(v->msg[k], i, v->data[k], v->len[k], 2 * v->len[k] + 16, &len,
                                   &cut);
    if (data == NULL || cut) {
        free(data);
        v->not_read = true;
        return;
    }
    v->data[v->n] = data;
    v->len[v->n] = len;
    v->msg[v->n] = mime_parse(data, len, &v->msg[k]->lim);
    v->n++;
}

/* rules_view_open - the message and, breadth first, every encoded message inside it. */
static void rules_view_open(struct rules_view *v, const struct svc_msg *m)
{
    memset(v, 0, sizeof(*v));
    if (m->mime == NULL)
        return;
    v->msg[v->n++] = m->mime;
    for (size_t k = 0; k < v->n; k++)
        for (size_t i = 0; i < v->msg[k]->nparts; i++)
            if ((v->msg[k]->parts[i].flags & MIME_F_ENCODED_CONTAINER) &&
                v->msg[k]->parts[i].kind == MIME_KIND_LEAF)
                rules_decode(v, m, k, i);
}

static void rules_view_close(struct rules_view *v)
{
    for (size_t k = 1; k < v->n; k++) {
        struct mime_message *inner = (struct mime_message *)v->msg[k];
        mime_message_free(&inner);
        free(v->data[k]);
    }
    v->n = 0;
}

/* rule_matches - whether ru matches; a part's file name or type that did into hit. */
static bool rule_matches(const struct rule *ru, const struct svc_msg *m, const struct rules_view *v,
                         char *hit, size_t size)
{
    switch (ru->kind) {
    case RULE_HEADER:
        return rule_header(ru, v);
    case RULE_SENDER:
        return rule_re(ru, m->sender);
    case RULE_RECIPIENT:
        for (size_t i = 0; i < m->nrcpts; i++)
            if (rule_re(ru, m->rcpts[i]))
                return true;
        return false;
    case RULE_FILENAME:
    case RULE_MIMETYPE:
        return rule_parts(ru, v, hit, size);
    case RULE_SIZE:
        return m->size > ru->size;
    }
    return false;
}

/* rules_unread - on_unscannable / on_ambiguous for what the view could not read in one way. */
static void rules_unread(const struct svc *svc, const struct rules_view *v, struct svc_result *r)
{
    const struct rules *rs = svc->priv;
    char why[200], text[160];
    size_t o = 0;

    why[0] = '\0';
    for (size_t k = 0; k < v->n && o < sizeof(why); k++)
        if (v->msg[k]->limits != 0)
            o += (size_t)snprintf(why + o, sizeof(why) - o, "%s%s%s", o ? ", " : "",
                                  k > 0 ? "in an encoded message: " : "",
                                  mime_limit_text(v->msg[k], text, sizeof(text)));
    if (v->too_many && o < sizeof(why))
        o += (size_t)snprintf(why + o, sizeof(why) - o, "%sencoded messages (max %d)",
                              o ? ", " : "", RULES_MAX_INNER);
    if (v->not_read && o < sizeof(why))
        o += (size_t)snprintf(why + o, sizeof(why) - o, "%san encoded message not decoded",
                              o ? ", " : "");
    if (o > 0)
        svc_unscannable(svc, r, rs->on_unscannable, "unscannable", "on_unscannable", why);
    o = 0;
    for (size_t k = 0; k < v->n && o < sizeof(why); k++)
        if (v->msg[k]->flags & MIME_F_AMBIGUOUS)
            o += (size_t)snprintf(why + o, sizeof(why) - o, "%s%s%s", o ? ", " : "",
                                  k > 0 ? "in an encoded message: " : "",
                                  mime_ambiguity_text(v->msg[k]->flags, text, sizeof(text)));
    if (o > 0)
        svc_unscannable(svc, r, rs->on_ambiguous, "ambiguous", "on_ambiguous", why);
}

/*
 * rule_words - what the recipient reads for a rule that matched: its label,
 * else a sentence from its kind (matched: the file name or type it matched).
 */
static void rule_words(const struct rule *ru, const char *matched, char *words, size_t size)
{
    static const char *const keys[] = {[RULE_HEADER] = "reason.rule.header",
                                       [RULE_SENDER] = "reason.rule.sender",
                                       [RULE_RECIPIENT] = "reason.rule.recipient",
                                       [RULE_SIZE] = "reason.rule.size"};
    char num[32], ext[64];
    const char *dot = strrchr(matched, '.');

    if (ru->label[0] != '\0') {
        reason_encode(words, size, "reason.rule", (const char *const[]){"label", ru->label, NULL});
    } else if (ru->kind == RULE_FILENAME || ru->kind == RULE_MIMETYPE) {
        /* a file name by its extension ("invoice.pdf.exe": ".exe"), a type as it is */
        snprintf(ext, sizeof(ext), "%s",
                 ru->kind == RULE_FILENAME && dot != NULL && dot[1] != '\0' ? dot : matched);
        reason_encode(words, size, "reason.attachment", (const char *const[]){"ext", ext, NULL});
    } else {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)ru->size);
        reason_encode(words, size, keys[ru->kind],
                      (const char *const[]){"name", ru->header, "size", num, NULL});
    }
}

static void rules_run(const struct svc *svc, const struct svc_msg *m, struct svc_result *r)
{
    const struct rules *rs = svc->priv;
    struct rules_view v;
    size_t hit = 0;
    char matched[256];

    rules_view_open(&v, m);
    r->verdict = SVC_PASS;
    snprintf(r->reason, sizeof(r->reason), "no rule matched");
    for (size_t i = 0; i < rs->n; i++) {
        const struct rule *ru = &rs->r[i];
        matched[0] = '\0';
        if (!rule_matches(ru, m, &v, matched, sizeof(matched)) ||
            policy_rank(ru->action) <= policy_rank(r->verdict))
            continue;
        r->verdict = ru->action;
        hit = i + 1;
        snprintf(r->reason, sizeof(r->reason), "rule %zu matched: %s", hit, ru->text);
        rule_words(ru, matched, r->words, sizeof(r->words));
    }
    if (r->verdict == SVC_TAG)
        snprintf(r->headers, sizeof(r->headers), "X-OPES-Rule: %s; rule=%zu\r\n", svc->name, hit);
    rules_unread(svc, &v, r);
    rules_view_close(&v);
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
