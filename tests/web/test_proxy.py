"""The portal's per-client limits, alone and behind a real nginx.

opes-web runs on a free loopback port; clients use other loopback source
addresses (127.0.0.2, 127.0.0.3, ...) so that each is a client of its own.
Without a proxy: slow clients from one address hold at most
[web] max_client_connections connections, and a request header that does not
come within header_timeout ends its connection, while another address still
gets pages. Behind nginx (listed in trusted_proxies; skipped when nginx is not
installed): the client named by X-Forwarded-For is the client for the rate
limits, metrics_allow, the per-client limit and the log, two clients behind
the proxy are limited separately, a forged X-Forwarded-For or Forwarded from a
client that is not a trusted proxy changes nothing, and https:// in base_url
keeps cookies Secure.
"""
import http.client
import os
import shutil
import socket
import subprocess
import time
import unittest

import opestest as t
from test_portal import OpesWeb, WebTest

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def request(port, path, source, data=None, headers=None, host="127.0.0.1"):
    """(status, headers, body) of one request to host:port from the address source."""
    c = http.client.HTTPConnection(host, port, timeout=30, source_address=(source, 0))
    try:
        hdrs = dict(headers or {})
        if data is not None:
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        c.request("POST" if data is not None else "GET", path, body=data, headers=hdrs)
        r = c.getresponse()
        return r.status, r.headers, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def slow_socket(port, source, text):
    """A connection from source that sent text (an unfinished request) and waits."""
    s = socket.socket()
    s.settimeout(5)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(text)
    return s


def is_open(s, wait=0.3):
    """Is the server still holding s (no EOF, no reset within wait seconds)?"""
    s.settimeout(wait)
    try:
        return s.recv(1) != b""
    except socket.timeout:
        return True
    except OSError:
        return False


class SlowClientsTest(WebTest):
    def setUp(self):
        super().setUp()
        self.web = None
        self.port = t.free_port()
        self.opesd = self.start(t.Opesd(self.tmp, "maildir:%s/mail/%%u" % self.tmp, extra={
            "web.listen": "127.0.0.1:%d" % self.port,
            "web.base_url": "http://127.0.0.1:%d" % self.port,
            "web.threads": "2", "web.max_connections": "40",
            "web.max_client_connections": "8", "web.header_timeout": "2s",
            "web.connection_timeout": "30s"}))
        self.web = OpesWeb(self.tmp, self.opesd.config, self.port)
        self.socks = []

    def tearDown(self):
        for s in self.socks:
            s.close()
        super().tearDown()

    def test_slow_clients_from_one_address_leave_room_for_others(self):
        for i in range(70):
            try:
                self.socks.append(slow_socket(self.port, "127.0.0.2",
                                              b"GET /opes HTTP/1.1\r\nHost: x\r\nX-Slow: %d" % i))
            except OSError:
                pass  # refused outright: as good
        time.sleep(0.5)
        status, _, body = request(self.port, "/opes", "127.0.0.3")
        self.assertEqual(status, 200, body)
        held = sum(1 for s in self.socks if is_open(s, 0.05))
        self.assertLessEqual(held, 8 + 2, "connections from one address held open")
        self.assertIn("client=127.0.0.2 refused", self.web.read_log())

    def test_request_header_has_a_deadline(self):
        s = slow_socket(self.port, "127.0.0.4", b"GET /opes HTTP/1.1\r\nHost: x\r\n")
        self.socks.append(s)
        start = time.time()
        while is_open(s, 0.5) and time.time() - start < 15:
            pass
        self.assertLess(time.time() - start, 8, "an unfinished request header kept its connection")
        # a complete request still works
        self.assertEqual(request(self.port, "/opes", "127.0.0.4")[0], 200)


@unittest.skipIf(NGINX is None, "nginx is not installed")
class ProxyTest(WebTest):
    def setUp(self):
        super().setUp()
        self.web = None
        self.nginx = None
        self.port = t.free_port()
        self.proxy = t.free_port()
        self.opesd = self.start(t.Opesd(self.tmp, "maildir:%s/mail/%%u" % self.tmp, extra={
            "web.listen": "127.0.0.1:%d" % self.port,
            "web.base_url": "https://portal.example.org",
            "web.trusted_proxies": "127.0.0.1",
            "web.login_rate": "1", "web.max_client_connections": "4",
            "web.metrics_allow": "127.0.0.5"}))
        self.web = OpesWeb(self.tmp, self.opesd.config, self.port)
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(
                "daemon off;\nmaster_process off;\npid %(tmp)s/nginx.pid;\n"
                "error_log %(tmp)s/nginx-error.log;\n"
                "events { worker_connections 128; }\n"
                "http {\n  access_log off;\n"
                "  client_body_temp_path %(tmp)s/nginx-body;\n"
                "  proxy_temp_path %(tmp)s/nginx-proxy;\n"
                "  fastcgi_temp_path %(tmp)s/nginx-fcgi;\n"
                "  uwsgi_temp_path %(tmp)s/nginx-uwsgi;\n"
                "  scgi_temp_path %(tmp)s/nginx-scgi;\n"
                "  server {\n    listen 127.0.0.1:%(proxy)d;\n"
                "    location / {\n      proxy_pass http://127.0.0.1:%(port)d;\n"
                "      proxy_set_header Host $host;\n"
                "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
                "      proxy_set_header X-Forwarded-Proto https;\n    }\n  }\n}\n"
                % {"tmp": self.tmp, "proxy": self.proxy, "port": self.port})
        self.nginx = t.Proc([NGINX, "-c", conf, "-p", self.tmp, "-e",
                             os.path.join(self.tmp, "nginx-error.log")],
                            os.path.join(self.tmp, "nginx.log"))
        t.wait_port(self.proxy, proc=self.nginx.p)

    def tearDown(self):
        if self.nginx is not None:
            self.nginx.stop()
        super().tearDown()

    def admin_login(self, port, source, address, headers=None):
        data = ("address=%s&password=wrong" % address.replace("@", "%40")).encode()
        return request(port, "/admin/login", source, data=data, headers=headers)[0]

    def test_clients_behind_the_proxy_are_limited_separately(self):
        # [web] login_rate = 1: four admin login attempts per client address an hour
        for i in range(4):
            self.assertEqual(self.admin_login(self.proxy, "127.0.0.2", "a%d@example.org" % i), 403)
        self.assertEqual(self.admin_login(self.proxy, "127.0.0.2", "a9@example.org"), 429)
        self.assertEqual(self.admin_login(self.proxy, "127.0.0.3", "b0@example.org"), 403)
        log = self.web.read_log()
        self.assertIn("client=127.0.0.2 method=POST path=/admin/login status=429", log)
        self.assertIn("client=127.0.0.3 method=POST path=/admin/login status=403", log)
        # metrics_allow names the client behind the proxy, not the proxy
        self.assertEqual(request(self.proxy, "/metrics", "127.0.0.5")[0], 200)
        self.assertEqual(request(self.proxy, "/metrics", "127.0.0.2")[0], 403)

    def test_forged_forwarding_from_an_untrusted_client_changes_nothing(self):
        for i in range(4):
            forged = {"X-Forwarded-For": "10.0.0.%d" % i, "Forwarded": "for=10.1.0.%d" % i}
            self.assertEqual(self.admin_login(self.port, "127.0.0.4", "c%d@example.org" % i,
                                              forged), 403)
        self.assertEqual(self.admin_login(self.port, "127.0.0.4", "c9@example.org",
                                          {"X-Forwarded-For": "10.0.0.99"}), 429)
        for port in (self.port, self.proxy):
            for forged in ({"X-Forwarded-For": "127.0.0.5"}, {"Forwarded": "for=127.0.0.5"},
                           {"X-Forwarded-For": "127.0.0.5, 127.0.0.1"}):
                status = request(port, "/metrics", "127.0.0.6", headers=forged)[0]
                self.assertEqual(status, 403, (port, forged))
        self.assertNotIn("client=10.", self.web.read_log())

    def test_requests_forwarded_for_one_client_are_counted_for_it(self):
        # as the trusted proxy itself: unfinished bodies keep requests open
        socks = []
        try:
            for _ in range(4):
                socks.append(slow_socket(
                    self.port, "127.0.0.1",
                    b"POST /login HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.7\r\n"
                    b"Content-Type: application/x-www-form-urlencoded\r\n"
                    b"Content-Length: 100\r\n\r\naddress="))
            time.sleep(0.5)
            status, _, body = request(self.port, "/opes", "127.0.0.1",
                                      headers={"X-Forwarded-For": "192.0.2.7"})
            self.assertEqual(status, 503, body)
            status, _, _ = request(self.port, "/opes", "127.0.0.1",
                                   headers={"X-Forwarded-For": "192.0.2.8"})
            self.assertEqual(status, 200)
        finally:
            for s in socks:
                s.close()
        time.sleep(0.5)
        status, _, _ = request(self.port, "/opes", "127.0.0.1",
                               headers={"X-Forwarded-For": "192.0.2.7"})
        self.assertEqual(status, 200)

    def test_https_base_url_keeps_cookies_secure_behind_the_proxy(self):
        self.opesd.ctl("user", "add", "root@example.org", "--admin")
        self.opesd.ctl("user", "passwd", "root@example.org", stdin=b"a long admin password\n")
        status, headers, _ = request(
            self.proxy, "/admin/login", "127.0.0.7",
            data=b"address=root%40example.org&password=a+long+admin+password")
        self.assertEqual(status, 303)
        self.assertIn("; Secure", headers["Set-Cookie"])


if __name__ == "__main__":
    unittest.main()
