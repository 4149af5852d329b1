/*
 * web_preview.h - a safe look at a held message: its header fields, a
 * plain-text preview and the attachment list, read with the shared MIME
 * parser (mime.h) as the rules engine reads the message. The message's HTML
 * is never passed on: text/plain is preferred, else HTML is reduced to its
 * text (tags dropped). Header values are RFC 2047-decoded, the text is UTF-8
 * (converted from the part's charset), file names are RFC 2231/2047-decoded.
 * The caller escapes everything it shows. Bounded: at most
 * WEB_PREVIEW_MAX_INPUT bytes of the message are looked at, nesting and
 * counts are capped; never touches a socket.
 */
#ifndef OPES_WEB_PREVIEW_H
#define OPES_WEB_PREVIEW_H

#include <stdbool.h>
#include <stddef.h>

#define WEB_PREVIEW_MAX_INPUT (2 * 1024 * 1024)
#define WEB_PREVIEW_MAX_TEXT (64 * 1024)
#define WEB_PREVIEW_MAX_HEADERS 60
#define WEB_PREVIEW_MAX_ATTACH 50

struct web_preview_field {
    char *name, *value;
};

struct web_preview_attach {
    char *name;
    char *type;
    size_t size; /* encoded bytes */
};

struct web_preview {
    struct web_preview_field hdr[WEB_PREVIEW_MAX_HEADERS];
    size_t nhdr;
    char *text;     /* UTF-8, NUL-terminated */
    bool from_html; /* the text was taken out of HTML */
    bool truncated; /* the message or the text was cut */
    struct web_preview_attach att[WEB_PREVIEW_MAX_ATTACH];
    size_t natt;
};

/* web_preview_parse - look at msg[0..len); p is filled (free with web_preview_free). */
void web_preview_parse(const char *msg, size_t len, struct web_preview *p);
void web_preview_free(struct web_preview *p);

#endif
