/*
 * web_html.h - the one way the portal writes HTML.
 *
 * Markup comes only from string literals: html_add() accepts a literal
 * format (enforced by the macro), and every string argument is escaped by
 * html_escape(), the single escaping function. So a subject, an address or a
 * message line can never become markup by accident.
 *
 * Format directives: %s a string, escaped (NULL prints nothing); %d int;
 * %u unsigned; %z size_t; %L int64_t; %U a string percent-encoded for a URL
 * path segment or query value (and then escaped); %% a percent sign.
 * Allocation failure aborts, as everywhere in the project.
 */
#ifndef OPES_WEB_HTML_H
#define OPES_WEB_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct html {
    char *buf;
    size_t len, cap;
};

/* html_escape - append s[0..len) to h with & < > " ' as entities and control bytes dropped. */
void html_escape(struct html *h, const char *s, size_t len);
void html_add_(struct html *h, const char *literal_fmt, ...);
#define html_add(h, fmt, ...) html_add_((h), "" fmt "", ##__VA_ARGS__)
/* html_take - hand over the buffer (NUL-terminated) and its length; h is empty again. */
char *html_take(struct html *h, size_t *len_r);
void html_free(struct html *h);
/* html_paragraphs - escaped text, blank lines making <p> paragraphs. */
void html_paragraphs(struct html *h, const char *text);

#endif
