/*
 * static.c - the portal's only static file, its stylesheet, embedded: no
 * file is ever served from disk. No script exists; every page works with
 * plain links and forms.
 */
#include <string.h>

#include "opes/web_http.h"
#include "opes/web_page.h"

static const char static_css[] =
    ":root{--fg:#1b1f24;--muted:#4a5562;--bg:#ffffff;--panel:#f4f6f8;--line:#c9d1da;"
    "--accent:#0b5cad;--accent-fg:#ffffff;--danger:#a4161a;--ok:#146c2e;--focus:#ffbf47}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;"
    "color:var(--fg);background:var(--bg)}\n"
    "a{color:var(--accent)}\n"
    "a:focus,button:focus,input:focus,select:focus,summary:focus{outline:3px solid var(--focus);"
    "outline-offset:2px}\n"
    ".skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:var(--bg);"
    "padding:4px 8px;z-index:2}\n"
    "header.top{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;"
    "gap:8px;padding:10px 20px;background:#0d2b4e;color:#fff}\n"
    "header.top a{color:#fff}\n.brand{font-weight:700;text-decoration:none;font-size:1.1em}\n"
    "nav ul{display:flex;flex-wrap:wrap;gap:14px;list-style:none;margin:0;padding:0;"
    "align-items:center}\n"
    "main{max-width:1100px;margin:0 auto;padding:16px 20px 40px}\n"
    "footer{border-top:1px solid var(--line);padding:12px 20px;color:var(--muted);"
    "display:flex;gap:16px}\n"
    "h1{font-size:1.6em;margin:.4em 0}\nh2{font-size:1.25em;margin-top:1.4em}\n"
    "table{border-collapse:collapse;width:100%}\n"
    "th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);"
    "vertical-align:top}\n"
    "th{background:var(--panel)}\n"
    ".wrap{overflow-x:auto}\n"
    "code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}\n"
    "pre.preview{white-space:pre-wrap;word-break:break-word;background:var(--panel);"
    "border:1px solid var(--line);padding:12px;max-height:40em;overflow:auto}\n"
    ".card{border:1px solid var(--line);border-radius:6px;padding:4px 16px;margin:12px 0}\n"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px}\n"
    "dt{font-weight:600}\ndd{margin:0;word-break:break-word}\n"
    "form.stack{display:grid;gap:10px;max-width:32em}\n"
    "form.filters{display:flex;flex-wrap:wrap;gap:10px;align-items:end;margin:10px 0}\n"
    "form.inline{display:inline}\n"
    "label{font-weight:600;display:block}\n"
    "label.inline{display:inline;font-weight:400;margin:0 14px 0 4px}\n"
    "fieldset{border:1px solid var(--line);border-radius:4px;margin:0 0 8px;padding:6px 10px}\n"
    "legend{font-weight:600;padding:0 4px}\n"
    "input,select{font:inherit;padding:6px 8px;border:1px solid #6b7785;border-radius:4px;"
    "background:#fff;color:var(--fg)}\n"
    "button,.button{font:inherit;display:inline-block;padding:7px 14px;border-radius:4px;"
    "border:1px solid var(--accent);background:var(--accent);color:var(--accent-fg);"
    "cursor:pointer;text-decoration:none}\n"
    "button.secondary{background:#fff;color:var(--accent)}\n"
    "button.danger{background:var(--danger);border-color:var(--danger)}\n"
    "button.link{background:none;border:none;color:#fff;text-decoration:underline;padding:0}\n"
    ".actions{display:flex;flex-wrap:wrap;gap:16px;align-items:end}\n"
    ".actions form{border:1px solid var(--line);border-radius:6px;padding:10px}\n"
    ".notice{background:#e7f3ea;border-left:4px solid var(--ok);padding:8px 12px}\n"
    ".error{background:#fbeaea;border-left:4px solid var(--danger);padding:8px 12px}\n"
    ".muted{color:var(--muted)}\n"
    ".pager{display:flex;gap:16px;margin:12px 0}\n"
    "svg.chart{max-width:100%;height:auto;border:1px solid var(--line)}\n"
    "@media (max-width:640px){dl{grid-template-columns:1fr}th,td{padding:4px}}\n";

void page_static_css(struct web_req *req, struct web_resp *resp)
{
    (void)req;
    web_resp_text(resp, 200, "text/css; charset=utf-8", static_css, sizeof(static_css) - 1);
}
