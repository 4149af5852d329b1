/*
 * svc_banner.c - the banner service: a warning on top of the text of mail
 * from outside, in the first text/plain and the first text/html body part.
 *
 * Keys: text = the warning (plain text; default below), internal = the
 * domains (and "@domain" or addresses) whose senders get no banner. The
 * banner goes in as the part's own transfer encoding wants it: as is for
 * 7bit/8bit, quoted-printable encoded for quoted-printable, and for base64
 * the part is decoded, the banner put in and the part encoded again (parts
 * up to 4 MB). In HTML it goes after the <body> tag. Signed or encrypted
 * mail (S/MIME, PGP, DKIM) is never touched: on_protected (default skip)
 * says whether it passes without the banner or is held or refused.
 * Bypassable (header, dialog, token, portal) and opt-out by default.
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
#include "opes/spool.h"

#define BANNER_TEXT_MAX 600
#define BANNER_B64_MAX (4u << 20)
#define BANNER_BODY_SCAN 65536

struct banner {
    char text[BANNER_TEXT_MAX + 1];
    char *internal; /* space-separated, lower case */
};

/* a growing byte buffer */
struct bbuf {
    char *p;
    size_t len, cap;
};

static void bb_put(struct bbuf *b, const char *s, size_t n)
{
    if (n >= SIZE_MAX / 2 - b->len) /* also shows GCC that len + n + 1 cannot wrap */
        fatal("banner buffer overflow");
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        if ((b->p = realloc(b->p, cap)) == NULL)
            fatal("realloc");
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void bb_puts(struct bbuf *b, const char *s)
{
    bb_put(b, s, strlen(s));
}

static int banner_configure(struct svc *svc, const char *key, const char *value,
                            const char **reason)
{
    struct banner *b = svc->priv;

    if (b == NULL && (b = svc->priv = calloc(1, sizeof(*b))) == NULL)
        fatal("calloc");
    if (strcmp(key, "text") == 0) {
        if (strlen(value) > BANNER_TEXT_MAX || value[0] == '\0') {
            *reason = "expected 1 to 600 characters";
            return -1;
        }
        for (const char *p = value; *p != '\0'; p++)
            if ((unsigned char)*p < ' ' || (unsigned char)*p > '~') {
                *reason = "printable US-ASCII only (it goes into parts of any charset)";
                return -1;
            }
        snprintf(b->text, sizeof(b->text), "%s", value);
    } else if (strcmp(key, "internal") == 0) {
        free(b->internal);
        if ((b->internal = strdup(value)) == NULL)
            fatal("strdup");
        for (char *p = b->internal; *p != '\0'; p++)
            *p = (char)tolower((unsigned char)*p);
    } else {
        *reason = "unknown key (banner takes text, internal)";
        return -1;
    }
    return 0;
}

static int banner_check(struct svc *svc, const char **reason)
{
    struct banner *b = svc->priv;

    (void)reason;
    if (b == NULL && (b = svc->priv = calloc(1, sizeof(*b))) == NULL)
        fatal("calloc");
    if (b->text[0] == '\0')
        snprintf(b->text, sizeof(b->text), "%s",
                 "CAUTION: This message comes from outside the organisation. Do not open links "
                 "or attachments unless you know the sender and expected them.");
    return 0;
}

/* banner_internal - is sender in the internal list (domain, @domain or address)? */
static bool banner_internal(const struct banner *b, const char *sender)
{
    const char *at = strrchr(sender, '@');
    char list[4096], *save = NULL;

    if (b->internal == NULL || at == NULL)
        return false;
    snprintf(list, sizeof(list), "%s", b->internal);
    for (char *t = strtok_r(list, " \t,", &save); t != NULL; t = strtok_r(NULL, " \t,", &save)) {
        if (strcasecmp(t, sender) == 0 || strcasecmp(t, at + 1) == 0 ||
            (t[0] == '@' && strcasecmp(t, at) == 0))
            return true;
    }
    return false;
}

/* banner_wrap - text in lines of at most 72 characters, each ending in CRLF. */
static void banner_wrap(struct bbuf *out, const char *text)
{
    size_t col = 0;

    while (*text != '\0') {
        size_t w = strcspn(text, " ");
        if (col > 0 && col + 1 + w > 72) {
            bb_puts(out, "\r\n");
            col = 0;
        } else if (col > 0) {
            bb_puts(out, " ");
            col++;
        }
        bb_put(out, text, w);
        col += w;
        text += w;
        while (*text == ' ')
            text++;
    }
    bb_puts(out, "\r\n");
}

/* banner_html - the warning as an HTML block (the text escaped). */
static void banner_html(struct bbuf *out, const char *text)
{
    bb_puts(out, "<div style=\"border:1px solid #b35900;background:#fff4e5;color:#222;"
                 "padding:6px 10px;margin:0 0 12px 0;font:13px sans-serif\">");
    for (; *text != '\0'; text++) {
        switch (*text) {
        case '<':
            bb_puts(out, "&lt;");
            break;
        case '>':
            bb_puts(out, "&gt;");
            break;
        case '&':
            bb_puts(out, "&amp;");
            break;
        case '"':
            bb_puts(out, "&quot;");
            break;
        default:
            bb_put(out, text, 1);
        }
    }
    bb_puts(out, "</div>\r\n");
}

/* banner_qp - in as quoted-printable: soft breaks around it, '=' and lines kept short. */
static void banner_qp(struct bbuf *out, const char *in, size_t len)
{
    size_t col = 0;
    char hex[4];

    bb_puts(out, "=\r\n");
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '\r' && i + 1 < len && in[i + 1] == '\n') {
            bb_puts(out, "\r\n");
            col = 0;
            i++;
            continue;
        }
        if (col >= 72) {
            bb_puts(out, "=\r\n");
            col = 0;
        }
        if (c == '=' || (unsigned char)c > '~' || (c < ' ' && c != '\t')) {
            snprintf(hex, sizeof(hex), "=%02X", (unsigned char)c);
            bb_puts(out, hex);
            col += 3;
        } else {
            bb_put(out, &c, 1);
            col++;
        }
    }
    bb_puts(out, "=\r\n");
}

/* banner_after_body - the offset in s just after "<body ...>", or 0 when there is none. */
static size_t banner_after_body(const char *s, size_t len)
{
    for (size_t i = 0; i + 5 <= len; i++) {
        if (s[i] != '<' || strncasecmp(s + i + 1, "body", 4) != 0 ||
            (i + 5 < len && s[i + 5] != '>' && !isspace((unsigned char)s[i + 5])))
            continue;
        const char *gt = memchr(s + i, '>', len - i);
        return gt != NULL ? (size_t)(gt - s) + 1 : 0;
    }
    return 0;
}

struct banner_part {
    const struct mime_part *p;
    size_t index;
    bool html;
};

static ssize_t banner_spool_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    return spool_pread(ctx, offset, buf, len);
}

static int banner_collect(void *ctx, const void *data, size_t len)
{
    bb_put(ctx, data, len);
    return 0;
}

static void banner_b64(struct bbuf *out, const char *in, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];

    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)in[i + 2];
        q[0] = abc[(v >> 18) & 63];
        q[1] = abc[(v >> 12) & 63];
        q[2] = i + 1 < len ? abc[(v >> 6) & 63] : '=';
        q[3] = i + 2 < len ? abc[v & 63] : '=';
        bb_put(out, q, 4);
        if ((i / 3 + 1) % 19 == 0 && i + 3 < len)
            bb_puts(out, "\r\n"); /* 76 characters a line */
    }
}

/* banner_block - the banner for this part, in its own language (text or HTML). */
static void banner_block(const struct banner *b, bool html, struct bbuf *out)
{
    if (html) {
        banner_html(out, b->text);
    } else {
        banner_wrap(out, b->text);
        bb_puts(out, "\r\n");
    }
}

/* banner_part_b64 - decode, put the banner in, encode again: one edit for the whole body. */
static int banner_part_b64(const struct banner *b, const struct svc_msg *m,
                           const struct banner_part *bp, struct svc_result *r)
{
    struct bbuf plain = {0}, mixed = {0}, enc = {0}, blk = {0};
    const char *error;
    size_t at = 0;
    char last = '\n';
    int rc = -1;

    if (bp->p->body_end - bp->p->body_start > BANNER_B64_MAX ||
        mime_part_decode(m->mime, bp->index, banner_spool_read, m->spool, banner_collect, &plain,
                         &error) < 0)
        goto out;
    if (plain.len > 0 && bp->html)
        at = banner_after_body(plain.p, plain.len);
    banner_block(b, bp->html, &blk);
    bb_put(&mixed, plain.p != NULL ? plain.p : "", at);
    bb_put(&mixed, blk.p, blk.len);
    bb_put(&mixed, plain.p != NULL ? plain.p + at : "", plain.len - at);
    banner_b64(&enc, mixed.p, mixed.len);
    if (bp->p->body_end > bp->p->body_start &&
        spool_pread(m->spool, bp->p->body_end - 1, &last, 1) == 1 && last == '\n')
        bb_puts(&enc, "\r\n");
    rc = variant_edits_add(&r->edits, bp->p->body_start, bp->p->body_end - bp->p->body_start, enc.p,
                           enc.len);
out:
    free(plain.p);
    free(mixed.p);
    free(enc.p);
    free(blk.p);
    return rc;
}

/* banner_part - one edit that puts the banner into one body part; -1 when it cannot. */
static int banner_part(const struct banner *b, const struct svc_msg *m,
                       const struct banner_part *bp, struct svc_result *r)
{
    enum mime_encoding enc = mime_encoding_of(bp->p->cte);
    const char *charset = mime_part_param(bp->p, "charset");
    struct bbuf blk = {0}, ins = {0};
    uint64_t at = bp->p->body_start;
    int rc;

    if (charset != NULL &&
        (strncasecmp(charset, "utf-16", 6) == 0 || strncasecmp(charset, "utf-32", 6) == 0))
        return -1;
    if (enc == MIME_ENC_BASE64)
        return banner_part_b64(b, m, bp, r);
    if (bp->html) {
        size_t n = (size_t)(bp->p->body_end - bp->p->body_start);
        char *head = svc_spool_range(m->spool, at, n < BANNER_BODY_SCAN ? n : BANNER_BODY_SCAN);
        if (head != NULL)
            at += banner_after_body(head, strlen(head));
        free(head);
    }
    banner_block(b, bp->html, &blk);
    if (enc == MIME_ENC_QP)
        banner_qp(&ins, blk.p, blk.len);
    else
        bb_put(&ins, blk.p, blk.len);
    rc = variant_edits_add(&r->edits, at, 0, ins.p, ins.len);
    free(blk.p);
    free(ins.p);
    return rc;
}

/* banner_body_part - a text part of the message's own body (not inside an attached message). */
static bool banner_body_part(const struct mime_message *mm, size_t i, bool html)
{
    const struct mime_part *p = &mm->parts[i];

    if (p->kind != MIME_KIND_LEAF || p->attachment || strcmp(p->type, "text") != 0 ||
        strcmp(p->subtype, html ? "html" : "plain") != 0)
        return false;
    for (int q = p->parent; q >= 0; q = mm->parts[q].parent)
        if (mm->parts[q].kind == MIME_KIND_MESSAGE)
            return false;
    return true;
}

static void banner_run(const struct svc *svc, const struct svc_msg *m, struct svc_result *r)
{
    const struct banner *b = svc->priv;
    const char *why = svc_protected_why(m->mime);
    int added = 0, failed = 0;

    if (banner_internal(b, m->sender)) {
        r->verdict = SVC_PASS;
        snprintf(r->reason, sizeof(r->reason), "internal sender: no banner");
        return;
    }
    if (why != NULL) {
        svc_protected_verdict(svc, why, r);
        return;
    }
    for (int html = 0; html < 2; html++) {
        for (size_t i = 0; i < m->mime->nparts; i++) {
            if (!banner_body_part(m->mime, i, html))
                continue;
            struct banner_part bp = {.p = &m->mime->parts[i], .index = i, .html = html};
            if (banner_part(b, m, &bp, r) == 0)
                added++;
            else
                failed++;
            break;
        }
    }
    r->verdict = added > 0 ? SVC_MODIFY : SVC_PASS;
    snprintf(r->reason, sizeof(r->reason), "%s%s",
             added > 0 ? "external-sender banner added" : "no text part for a banner",
             failed > 0 ? " (a part whose encoding or charset cannot take it left alone)" : "");
}

static void banner_free(struct svc *svc)
{
    struct banner *b = svc->priv;

    if (b != NULL)
        free(b->internal);
    free(b);
    svc->priv = NULL;
}

const struct svc_type svc_type_banner = {
    .name = "banner",
    .consent = SVC_OPT_OUT,
    .bypass = SVC_BYPASS_HEADER | SVC_BYPASS_DIALOG | SVC_BYPASS_TOKEN | SVC_BYPASS_PORTAL,
    .action = SVC_MODIFY,
    .configure = banner_configure,
    .check = banner_check,
    .run = banner_run,
    .free = banner_free,
};
