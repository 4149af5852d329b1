/*
 * mailgen.h - building the mail opesd writes itself: notices, digests,
 * login links and DSNs.
 *
 * A growing buffer, {{name}} templates (values HTML-escaped in HTML parts),
 * header fields that never carry CR or LF from their input and are RFC 2047
 * encoded when not ASCII, quoted-printable bodies and the common
 * multipart/alternative message. Templates are built in (agent/mailout/templates/,
 * embedded at build time) and can be overridden file by file from a
 * directory. Nothing here touches a socket or the store.
 */
#ifndef OPES_MAILGEN_H
#define OPES_MAILGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct mailgen_buf {
    char *data; /* NUL-terminated while not NULL */
    size_t len, cap;
};

void mailgen_add(struct mailgen_buf *b, const char *s, size_t n);
void mailgen_str(struct mailgen_buf *b, const char *s);
void mailgen_printf(struct mailgen_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* mailgen_free - release the buffer's memory; it can be used again. */
void mailgen_free(struct mailgen_buf *b);

/* A template variable. raw: the value is already a rendered (escaped) fragment. */
struct mailgen_var {
    const char *name;
    const char *value;
    bool raw;
};

/*
 * mailgen_fill - append tmpl with every {{name}} replaced by its value (an
 * unknown name becomes empty). html: values are HTML-escaped (unless raw);
 * otherwise they go through mailgen_text (unless raw). A section
 * {{#name}}...{{/name}} is written only when name has a non-empty value (a
 * section without its end: the tag alone is dropped).
 */
void mailgen_fill(struct mailgen_buf *out, const char *tmpl, const struct mailgen_var *vars,
                  size_t n, bool html);
/*
 * mailgen_fill_lang - mailgen_fill that also writes {{t:KEY}} as the catalog
 * text of KEY in lang (mailgen_catalog).
 */
void mailgen_fill_lang(struct mailgen_buf *out, const char *tmpl, const struct mailgen_var *vars,
                       size_t n, bool html, const char *lang);
/*
 * mailgen_catalog - append the text of key in lang (i18n.h) with its
 * {name} arguments taken from vars (those not raw, cleaned as mailgen_text
 * does); a KEY.one / KEY.other pair is chosen by the variable "count". html:
 * the result is HTML-escaped (the catalog's words too: they are text).
 */
#define MAILGEN_CATALOG_ARGS 40
void mailgen_catalog(struct mailgen_buf *out, const char *lang, const char *key,
                     const struct mailgen_var *vars, size_t n, bool html);
/*
 * mailgen_text - append s as a value in plain mail text: every control
 * character (CR, LF and TAB too) and Unicode line break (NEL, LS, PS) becomes
 * a space, so that a value (a decoded Subject, an address) cannot start a line
 * of its own that reads as if opesd wrote it.
 */
void mailgen_text(struct mailgen_buf *out, const char *s);
/* mailgen_html_escape - & < > " ' as entities. */
void mailgen_html_escape(struct mailgen_buf *out, const char *s);

/*
 * mailgen_header - "Name: value" CRLF. Control characters in value (CR, LF
 * included) become spaces; a value with non-ASCII octets becomes UTF-8
 * encoded-words (RFC 2047, at most 75 characters each, on folded lines).
 */
void mailgen_header(struct mailgen_buf *out, const char *name, const char *value);
/* mailgen_header_address - "Name: "display" <addr>" (display encoded as needed, may be NULL). */
void mailgen_header_address(struct mailgen_buf *out, const char *name, const char *display,
                            const char *addr);
/* mailgen_clean_address - addr without controls, spaces, quotes or angle brackets. */
void mailgen_clean_address(char *dst, size_t size, const char *addr);
/* mailgen_parse_from - '"Name" <a@b>', 'Name <a@b>' or 'a@b' ("" = "Mail filter"
 * <postmaster@host>). */
void mailgen_parse_from(const char *from, const char *host, char *display, size_t dsize, char *addr,
                        size_t asize);

/* mailgen_date - RFC 5322 date-time of t (local time with offset). */
void mailgen_date(char *buf, size_t size, time_t t);
/* mailgen_message_id - "<random@host>". */
void mailgen_message_id(char *buf, size_t size, const char *host);
/* mailgen_boundary - a random MIME boundary. */
void mailgen_boundary(char *buf, size_t size);
/* mailgen_qp - text (LF or CRLF lines) as quoted-printable with CRLF line ends. */
void mailgen_qp(struct mailgen_buf *out, const char *text);
/* mailgen_crlf - text with every line end (LF, CRLF, bare CR) turned into CRLF. */
void mailgen_crlf(struct mailgen_buf *out, const char *text);

/*
 * mailgen_template - the template called name ("mail.txt", ...): the file
 * dir/name when dir is set and the file exists, else the built-in one. The
 * caller frees the result; NULL when neither exists or the file is unreadable.
 */
char *mailgen_template(const char *dir, const char *name);
/*
 * mailgen_template_lang - the template called name for a reader of lang:
 * dir/LANG/name, dir/name, then the built-in LANG/name and name; NULL when
 * none exists.
 */
char *mailgen_template_lang(const char *dir, const char *lang, const char *name);

/* One message of our own with a text part and, optionally, an HTML part. */
struct mailgen_msg {
    const char *from;           /* [notify] from */
    const char *host;           /* for the default From and the Message-ID */
    const char *to;             /* recipient address */
    const char *subject;        /* any text; cleaned and encoded */
    const char *auto_submitted; /* "auto-replied", "auto-generated" */
    const char *text;           /* text/plain body (UTF-8, LF or CRLF) */
    const char *html;           /* text/html body, or NULL for text/plain only */
};

/* mailgen_compose - the whole message (CRLF line ends) into out. */
void mailgen_compose(struct mailgen_buf *out, const struct mailgen_msg *m);

#endif
