"""The JSON API end to end: opesd with a real Dovecot, opes-web, API tokens.

opesd holds mail by a rules service; opes-web serves /api/v1 on the same
configuration and store. An API token (opesctl token api) releases its
owner's item and the message arrives in Dovecot; another recipient's item is
"not found"; revoked, expired and wrong tokens get 401 (and, repeated, 429);
a session cookie cannot write without its CSRF token, and does not count when
a token is sent; a release the mailbox store refuses shows "failed" with the
store's reply, in the item and in the audit log. The last test checks the
server against web/openapi.json (with Debian's python3-jsonschema) and the
route table against the description.
"""
import json
import os
import re
import sqlite3
import time
import unittest
import urllib.error
import urllib.request

import opestest as t
import test_portal
from test_portal import NoRedirect, OpesWeb, WebTest, http, simple

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SPEC = os.path.join(ROOT, "web", "openapi.json")
ROUTES = os.path.join(ROOT, "web", "route.c")


class ApiTest(WebTest):
    def setUp(self):
        super().setUp()
        self.web = None
        self.dovecot = self.start(t.Dovecot(self.tmp, users=("alice", "bob", "carol")))
        port = t.free_port()
        self.base = "http://127.0.0.1:%d" % port
        self.opesd = self.start(t.Opesd(self.tmp, "lmtp:127.0.0.1:%d" % self.dovecot.port, extra={
            "store.job_interval": "1s",
            "service.rules.type": "rules",
            "service.rules.rule": "header Subject /HOLD-ME/ quarantine",
            "web.listen": "127.0.0.1:%d" % port,
            "web.base_url": self.base,
            "web.login_rate": "3",  # 12 failed tokens an hour from one client
        }))
        self.web = OpesWeb(self.tmp, self.opesd.config, port)

    # ------------------------------------------------------------ helpers

    def hold(self, rcpt, subject):
        """Send a message to rcpt that the rule holds; its quarantine id."""
        test_portal.PortalBrowserTest.send(self, simple(rcpt, subject), rcpt)
        _, out, _ = self.opesd.ctl("quarantine", "list", "--recipient", rcpt, "--json")
        return [i["id"] for i in json.loads(out) if i["subject"] == subject][0]

    def token(self, address, *args):
        _, out, err = self.opesd.ctl("token", "api", address, *args)
        text = out.strip()
        self.assertRegex(text, r"^opes_[0-9]+_[A-Za-z0-9_-]{43}$")
        self.assertNotIn(text, err)
        return text

    def api(self, method, path, token=None, body=None, headers=None):
        """(status, headers, parsed JSON body) of one API request."""
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        elif method in ("POST", "DELETE"):
            data = b""
        req = urllib.request.Request(self.base + path, data=data, headers=h, method=method)
        status, hdrs, text = self.open(req)
        self.assertEqual(hdrs.get("Content-Type"), "application/json", text)
        return status, hdrs, json.loads(text)

    def open(self, req):
        try:
            with urllib.request.build_opener(NoRedirect).open(req, timeout=30) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def assert_error(self, answer, status, code):
        got, hdrs, body = answer
        self.assertEqual(got, status, body)
        self.assertEqual(body["error"], code, body)
        self.assertTrue(body["message"])
        if status == 401:
            self.assertEqual(hdrs.get("WWW-Authenticate"), 'Bearer realm="opes-web"')

    def wait_release(self, item, token, timeout=30):
        """The item's JSON once its release is no longer pending."""
        deadline = time.time() + timeout
        while True:
            status, _, body = self.api("GET", "/api/v1/quarantine/" + item, token)
            self.assertEqual(status, 200, body)
            if body["release"]["state"] != "pending" or time.time() > deadline:
                return body
            time.sleep(0.2)

    def audit(self):
        return json.loads(self.opesd.ctl("audit", "--json", "--limit", "200")[1])

    def session(self, address):
        """A portal session of address (through a login link): (cookie, its CSRF token)."""
        link = self.opesd.ctl("link", address)[1].strip()
        _, headers, _ = http(self.base, link[len(self.base):], data=b"")
        cookie = headers["Set-Cookie"].split(";")[0]
        _, _, page = http(self.base, "/quarantine", headers={"Cookie": cookie})
        return cookie, re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    def admin_cookie(self):
        self.opesd.ctl("user", "add", "root@example.org", "--admin")
        self.opesd.ctl("user", "passwd", "root@example.org", stdin=b"a long admin password\n")
        _, headers, _ = http(self.base, "/admin/login",
                             data=b"address=root%40example.org&password=a+long+admin+password")
        return headers["Set-Cookie"].split(";")[0]

    def mail_of(self, user, subject):
        return [m for m in self.dovecot.messages(user) if ("Subject: " + subject).encode() in m]

    # ------------------------------------------------------------ tests

    def test_token_acts_on_its_owners_items_only(self):
        mine = self.hold("alice@example.org", "HOLD-ME for alice")
        spare = self.hold("alice@example.org", "HOLD-ME spare")
        other = self.hold("bob@example.org", "HOLD-ME for bob")
        alice = self.token("alice@example.org", "--name", "laptop")
        bob = self.token("bob@example.org")

        status, _, body = self.api("GET", "/api/v1/quarantine", alice)
        self.assertEqual(status, 200)
        self.assertEqual(sorted(i["id"] for i in body["items"]), sorted([mine, spare]))
        # another recipient's item does not exist for this token, whatever the act
        for method, path in (("GET", ""), ("POST", "/release"), ("POST", "/delete"),
                             ("POST", "/restore")):
            self.assert_error(self.api(method, "/api/v1/quarantine/" + other + path, alice),
                              404, "not_found")
        self.assertEqual(self.api("GET", "/api/v1/quarantine/" + other, bob)[0], 200)

        # the release is a request: 202, pending, and the URL to poll
        status, hdrs, body = self.api("POST", "/api/v1/quarantine/%s/release" % mine, alice)
        self.assertEqual(status, 202, body)
        self.assertEqual(body["release"]["state"], "pending")
        self.assertEqual(body["poll"], "/api/v1/quarantine/" + mine)
        self.assertEqual(hdrs["Location"], body["poll"])
        item = self.wait_release(mine, alice)
        self.assertEqual(item["release"]["state"], "delivered", item)
        self.assertEqual(item["status"], "released")
        self.assertEqual(len(self.mail_of("alice", "HOLD-ME for alice")), 1)
        self.assertEqual(self.mail_of("bob", "HOLD-ME for bob"), [])
        self.assert_error(self.api("POST", "/api/v1/quarantine/%s/release" % mine, alice),
                          409, "conflict")

        # delete and restore
        status, _, body = self.api("POST", "/api/v1/quarantine/%s/delete" % spare, alice)
        self.assertEqual((status, body["status"]), (200, "deleted"), body)
        status, _, body = self.api("POST", "/api/v1/quarantine/%s/restore" % spare, alice)
        self.assertEqual((status, body["status"]), (200, "held"), body)

        # lists: add, see, another's entry is not found, remove
        status, _, entry = self.api("POST", "/api/v1/lists", alice,
                                    {"kind": "block", "sender": "@spam.example", "days": 7})
        self.assertEqual(status, 201, entry)
        self.assertEqual((entry["owner"], entry["origin"]), ("alice@example.org", "api"))
        self.assertIn(entry, self.api("GET", "/api/v1/lists", alice)[2]["entries"])
        self.assertEqual(self.api("GET", "/api/v1/lists", bob)[2]["entries"], [])
        self.assert_error(self.api("DELETE", "/api/v1/lists/%d" % entry["id"], bob),
                          404, "not_found")
        self.assert_error(self.api("POST", "/api/v1/lists", bob,
                                   {"kind": "white", "sender": "x@y.example",
                                    "owner": "alice@example.org"}), 404, "not_found")
        self.assert_error(self.api("POST", "/api/v1/lists", alice, {"kind": "grey"}),
                          400, "bad_request")
        status, _, body = self.api("DELETE", "/api/v1/lists/%d" % entry["id"], alice)
        self.assertEqual((status, body), (200, {"id": entry["id"], "removed": True}))
        self.assertEqual(self.api("GET", "/api/v1/lists", alice)[2]["entries"], [])

        # every act is audited as the API's, with the token named and its secret nowhere
        lines = [a for a in self.audit() if a["origin"] == "api"]
        acts = sorted(a["action"] for a in lines)
        for act in ("release-request", "release delivered", "delete", "restore",
                    "list-add block", "list-remove"):
            self.assertIn(act, acts)
        token_id = alice.split("_")[1]
        self.assertEqual({a["via"] for a in lines}, {"token %s laptop" % token_id})
        self.assertEqual({a["actor"] for a in lines}, {"alice@example.org"})
        self.assertNotIn(alice.split("_", 2)[2], json.dumps(self.audit()))
        self.assertNotIn(alice.split("_", 2)[2], self.web.read_log())
        # the token's last use is shown, never its secret
        listing = self.opesd.ctl("token", "list", "alice@example.org")[1]
        self.assertIn("laptop", listing)
        self.assertNotIn("last used never", listing)
        self.assertNotIn(alice.split("_", 2)[2], listing)

    def test_tokens_that_do_not_count(self):
        item = self.hold("alice@example.org", "HOLD-ME guarded")
        revoked = self.token("alice@example.org", "--name", "old")
        expired = self.token("alice@example.org", "--name", "short", "--days", "1")
        good = self.token("alice@example.org")
        self.assertEqual(self.api("GET", "/api/v1/quarantine", revoked)[0], 200)
        token_id = revoked.split("_")[1]
        self.opesd.ctl("token", "revoke", token_id)
        code, _, _ = self.opesd.ctl("token", "revoke", token_id, check=False)
        self.assertNotEqual(code, 0)
        db = sqlite3.connect(os.path.join(self.tmp, "opesd.db"))
        db.execute("UPDATE api_token SET expires = 1000 WHERE id = ?", (expired.split("_")[1],))
        db.commit()
        db.close()
        wrong = good[:-1] + ("A" if good[-1] != "A" else "B")
        for bad in (revoked, expired, wrong, "opes_1_short"):
            self.assert_error(self.api("GET", "/api/v1/quarantine", bad), 401, "unauthorized")
            self.assert_error(self.api("POST", "/api/v1/quarantine/%s/release" % item, bad),
                              401, "unauthorized")
        self.assert_error(self.api("GET", "/api/v1/quarantine"), 401, "unauthorized")
        self.assertEqual(self.api("GET", "/api/v1/quarantine", good)[0], 200)

        # a session cookie: reads, but writes only with the session's CSRF token
        cookie, csrf = self.session("alice@example.org")
        # the pages ignore Authorization (a proxy's Basic auth may pass it on)
        status, _, page = http(self.base, "/quarantine/" + item,
                               headers={"Cookie": cookie, "Authorization": "Basic eDp5"})
        self.assertEqual(status, 200)
        self.assertIn("HOLD-ME guarded", page)
        self.assertEqual(self.api("GET", "/api/v1/quarantine/" + item,
                                  headers={"Cookie": cookie})[0], 200)
        self.assert_error(self.api("POST", "/api/v1/quarantine/%s/delete" % item,
                                   headers={"Cookie": cookie}), 403, "forbidden")
        self.assert_error(self.api("POST", "/api/v1/quarantine/%s/delete" % item,
                                   headers={"Cookie": cookie, "X-CSRF-Token": "x" * 43}),
                          403, "forbidden")
        status, _, body = self.api("GET", "/api/v1/quarantine/" + item, good)
        self.assertEqual(body["status"], "held")
        status, _, body = self.api("POST", "/api/v1/quarantine/%s/delete" % item,
                                   headers={"Cookie": cookie, "X-CSRF-Token": csrf})
        self.assertEqual((status, body["status"]), (200, "deleted"), body)
        [line] = [a for a in self.audit() if a["action"] == "delete"]
        self.assertEqual((line["origin"], line["via"]), ("api", ""))

        # an administrator's cookie does not lift a token: the token alone is judged
        bob_item = self.hold("bob@example.org", "HOLD-ME bob's")
        admin = self.admin_cookie()
        self.assertEqual(self.api("GET", "/api/v1/quarantine/" + bob_item,
                                  headers={"Cookie": admin})[0], 200)
        self.assert_error(self.api("GET", "/api/v1/quarantine/" + bob_item, good,
                                   headers={"Cookie": admin}), 404, "not_found")
        status, _, body = self.api("GET", "/api/v1/quarantine", good, headers={"Cookie": admin})
        self.assertEqual([i["recipient"] for i in body["items"]], ["alice@example.org"])
        self.assert_error(self.api("POST", "/api/v1/quarantine/%s/release" % bob_item, wrong,
                                   headers={"Cookie": admin}), 401, "unauthorized")
        # no CSRF with a token: a bearer write goes through without one
        status, _, body = self.api("POST", "/api/v1/quarantine/%s/restore" % item, good)
        self.assertEqual((status, body["status"]), (200, "held"), body)

        # failures count against the client's limit (12 an hour here, 9 used): then 429
        statuses = [self.api("GET", "/api/v1/quarantine", wrong)[0] for _ in range(5)]
        self.assertEqual(statuses, [401] * 3 + [429] * 2)
        self.assert_error(self.api("GET", "/api/v1/quarantine", wrong), 429, "rate_limited")

    def test_refused_release_shows_the_stores_reply(self):
        item = self.hold("carol@example.org", "HOLD-ME for carol")
        carol = self.token("carol@example.org")
        # carol's mailbox goes away: Dovecot reads its passwd-file again on change
        self.dovecot.set_users(("alice", "bob"))
        status, _, body = self.api("POST", "/api/v1/quarantine/%s/release" % item, carol)
        self.assertEqual(status, 202, body)
        item_json = self.wait_release(item, carol)
        release = item_json["release"]
        self.assertEqual(release["state"], "failed", item_json)
        self.assertRegex(release["reply"], r"^550 5\.1\.1 ")
        self.assertEqual(item_json["status"], "held")
        lines = [a for a in self.audit() if a["action"].startswith("release")]
        self.assertNotIn("release delivered", [a["action"] for a in lines])
        [failed] = [a for a in lines if a["action"].startswith("release failed: ")]
        self.assertEqual(failed["action"], "release failed: " + release["reply"])
        self.assertEqual((failed["origin"], failed["actor"]), ("api", "carol@example.org"))

    def test_server_matches_its_openapi_description(self):
        import jsonschema
        with open(SPEC) as f:
            spec = json.load(f)
        status, _, served = self.api("GET", "/api/v1/openapi.json")
        self.assertEqual((status, served), (200, spec))

        # every /api/v1 route of the table is documented, and nothing else is
        with open(ROUTES) as f:
            table = re.findall(r'\{"([A-Z]+)", "(/api/v1[^"]*)"', f.read())
        routes = set()
        for method, pattern in table:
            names = iter(["{id}"] * 2)
            routes.add((method.lower(), re.sub(r"\*", lambda m: next(names), pattern)))
        documented = {(m, p) for p, ops in spec["paths"].items() for m in ops
                      if m in ("get", "post", "delete", "put", "patch")}
        self.assertEqual(routes, documented)

        resolver = jsonschema.RefResolver.from_schema(spec)

        def check(method, path, answer, expect):
            status, _, body = answer
            self.assertEqual(status, expect, (method, path, body))
            op = spec["paths"][path][method]
            self.assertIn(str(status), op["responses"], (method, path))
            resp = op["responses"][str(status)]
            if "$ref" in resp:
                resp = resolver.resolve(resp["$ref"])[1]
            schema = resp["content"]["application/json"]["schema"]
            jsonschema.Draft4Validator(schema, resolver=resolver).validate(body)
            return body

        mine = self.hold("alice@example.org", "HOLD-ME one")
        spare = self.hold("alice@example.org", "HOLD-ME two")
        other = self.hold("bob@example.org", "HOLD-ME three")
        alice = self.token("alice@example.org")
        item = "/api/v1/quarantine/{id}"
        check("get", "/api/v1/openapi.json", self.api("GET", "/api/v1/openapi.json"), 200)
        body = check("get", "/api/v1/quarantine", self.api("GET", "/api/v1/quarantine", alice),
                     200)
        self.assertEqual(len(body["items"]), 2)
        check("get", "/api/v1/quarantine", self.api("GET", "/api/v1/quarantine"), 401)
        check("get", item, self.api("GET", "/api/v1/quarantine/" + mine, alice), 200)
        check("get", item, self.api("GET", "/api/v1/quarantine/" + other, alice), 404)
        check("post", item + "/release",
              self.api("POST", "/api/v1/quarantine/%s/release" % mine, alice), 202)
        check("post", item + "/release",
              self.api("POST", "/api/v1/quarantine/%s/release" % spare, alice,
                       {"whitelist": "nobody"}), 400)
        check("post", item + "/release",
              self.api("POST", "/api/v1/quarantine/%s/release" % spare, alice, ["not", "an"]),
              400)
        body = check("get", item, self.api("GET", "/api/v1/quarantine/" + mine, alice), 200)
        self.assertIn("release", body)
        check("post", item + "/delete",
              self.api("POST", "/api/v1/quarantine/%s/delete" % spare, alice), 200)
        check("post", item + "/delete",
              self.api("POST", "/api/v1/quarantine/%s/delete" % spare, alice), 409)
        check("post", item + "/restore",
              self.api("POST", "/api/v1/quarantine/%s/restore" % spare, alice), 200)
        check("post", item + "/restore",
              self.api("POST", "/api/v1/quarantine/%s/restore" % spare, alice), 409)
        entry = check("post", "/api/v1/lists",
                      self.api("POST", "/api/v1/lists", alice,
                               {"kind": "white", "sender": "friend@remote.example"}), 201)
        check("post", "/api/v1/lists",
              self.api("POST", "/api/v1/lists", alice, {"kind": "white", "sender": "x" * 40000}),
              413)
        check("get", "/api/v1/lists", self.api("GET", "/api/v1/lists", alice), 200)
        check("delete", "/api/v1/lists/{id}",
              self.api("DELETE", "/api/v1/lists/%d" % entry["id"], alice), 200)
        check("delete", "/api/v1/lists/{id}",
              self.api("DELETE", "/api/v1/lists/%d" % entry["id"], alice), 404)
        # a method a path does not take: 405, as JSON like every API error
        self.assert_error(self.api("DELETE", "/api/v1/quarantine/" + mine, alice), 405,
                          "method_not_allowed")
        self.assert_error(self.api("GET", "/api/v1/nothing", alice), 404, "not_found")


if __name__ == "__main__":
    unittest.main()
