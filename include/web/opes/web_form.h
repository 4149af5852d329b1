/*
 * web_form.h - bounded application/x-www-form-urlencoded parsing (POST
 * bodies and query strings) for the portal.
 *
 * Parsing never touches a socket: bytes in, fields out. The input is copied
 * once and decoded in place; '+' is a space, %XX a byte. A field whose name
 * or value is malformed (a bad %-escape, an encoded NUL) makes the whole
 * input malformed, so that a handler never acts on half a form.
 */
#ifndef OPES_WEB_FORM_H
#define OPES_WEB_FORM_H

#include <stddef.h>

#define WEB_FORM_MAX_FIELDS 256
#define WEB_FORM_MAX_INPUT (1024 * 1024)

struct web_form_field {
    const char *name;
    const char *value;
};

struct web_form {
    struct web_form_field f[WEB_FORM_MAX_FIELDS];
    size_t n;
    char *buf; /* owned: the decoded copy of the input */
};

enum web_form_result { WEB_FORM_OK = 0, WEB_FORM_MALFORMED = -1, WEB_FORM_TOO_BIG = -2 };

/*
 * web_form_parse - parse len bytes of data into f (which must be zeroed or
 * freed before). Empty pieces ("a=1&&b=2") are skipped; a piece without '='
 * has the value "". Over WEB_FORM_MAX_INPUT bytes or WEB_FORM_MAX_FIELDS
 * fields: WEB_FORM_TOO_BIG. On failure f holds no field.
 */
enum web_form_result web_form_parse(struct web_form *f, const char *data, size_t len);
/* web_form_add - append one already-decoded field (copied); -1 when full. */
int web_form_add(struct web_form *f, const char *name, const char *value);
void web_form_free(struct web_form *f);
/* web_form_get - the first value of name, or NULL. */
const char *web_form_get(const struct web_form *f, const char *name);
/* web_form_next - the next value of name at or after *pos (advanced past it), or NULL. */
const char *web_form_next(const struct web_form *f, const char *name, size_t *pos);
/* web_form_decode - percent-decode s[0..len) into dst (len+1 bytes); its length or -1. */
long web_form_decode(char *dst, const char *s, size_t len);

#endif
