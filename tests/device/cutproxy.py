#!/usr/bin/env python3
"""cutproxy.py - an HTTP proxy for the device tests that cuts responses on purpose.

Sits in front of a static server (nginx), forwards each request (one per connection:
"Connection: close" both ways), and logs it. Rules, re-read from a file at every request,
make it misbehave for the first COUNT requests whose path matches a regular expression:

    cut REGEX BYTES COUNT       close the connection after BYTES bytes of the response body
    norange REGEX COUNT         forward the request without its Range header (a server that
                                ignores ranges answers 200 with the whole file)
    status REGEX CODE COUNT     answer CODE with an empty body instead of forwarding

Lines starting with '#' and empty lines are ignored; a rule's count is kept per distinct
line text, so to arm the same rule again write it with a different trailing "# tag".
The first matching rule with requests left applies.

Each request gives one line in the log file, written when it is finished:
    METHOD<TAB>PATH<TAB>RANGE<TAB>STATUS<TAB>BODY_BYTES_SENT<TAB>WHAT
RANGE is the Range header as the client sent it ('-' without one), WHAT is 'ok', 'cut',
'norange' or 'status'.

Usage: cutproxy.py --upstream HOST:PORT --port-file FILE --log FILE [--rules FILE]
The proxy listens on 127.0.0.1, port chosen by the system, written to --port-file once it
accepts connections. Python standard library only.
"""
import argparse
import os
import re
import socket
import socketserver
import sys
import threading

HEAD_MAX = 65536


class Rules:
    def __init__(self, path):
        self.path = path
        self.used = {}  # line text -> requests it applied to
        self.lock = threading.Lock()

    def take(self, path):
        """The rule (kind, args) that applies to a request for path, counting it; or None."""
        if not self.path:
            return None
        try:
            with open(self.path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return None
        with self.lock:
            for line in lines:
                text = line.split("#", 1)[0].split()
                if not text:
                    continue
                kind, args = text[0], text[1:]
                want = {"cut": 3, "norange": 2, "status": 3}.get(kind)
                if want is None or len(args) != want:
                    print(f"cutproxy: bad rule ignored: {line}", file=sys.stderr)
                    continue
                if not re.search(args[0], path):
                    continue
                key = line.strip()
                if self.used.get(key, 0) >= int(args[-1]):
                    continue
                self.used[key] = self.used.get(key, 0) + 1
                return kind, args[1:-1]
        return None


def read_head(sock):
    """Reads up to the end of an HTTP head; returns (head bytes, bytes read past it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None, data
        data += chunk
        if len(data) > HEAD_MAX:
            return None, data
    head, rest = data.split(b"\r\n\r\n", 1)
    return head, rest


def drop_headers(lines, names):
    return [l for l in lines if l.split(b":", 1)[0].strip().lower() not in names]


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        client = self.request
        head, _ = read_head(client)
        if head is None:
            return
        lines = head.split(b"\r\n")
        try:
            method, target, _version = lines[0].decode("latin-1").split(" ", 2)
        except ValueError:
            return
        headers = lines[1:]
        rng = "-"
        for h in headers:
            name, _, value = h.partition(b":")
            if name.strip().lower() == b"range":
                rng = value.strip().decode("latin-1")
        path = target.split("?", 1)[0]
        rule = self.server.rules.take(path)
        what, status, sent = "ok", "-", 0
        try:
            if rule and rule[0] == "status":
                what = "status"
                status = rule[1][0]
                client.sendall(f"HTTP/1.1 {status} Injected\r\nContent-Length: 0\r\n"
                               "Connection: close\r\n\r\n".encode())
                return
            drop = {b"connection", b"keep-alive", b"proxy-connection"}
            if rule and rule[0] == "norange":
                what = "norange"
                drop |= {b"range", b"if-range"}
            out = [lines[0]] + drop_headers(headers, drop) + [b"Connection: close"]
            up = socket.create_connection(self.server.upstream)
            try:
                up.sendall(b"\r\n".join(out) + b"\r\n\r\n")
                rhead, body = read_head(up)
                if rhead is None:
                    return
                rlines = rhead.split(b"\r\n")
                parts = rlines[0].split(b" ")
                status = parts[1].decode("latin-1") if len(parts) > 1 else "?"
                rlines = [rlines[0]] + drop_headers(rlines[1:], drop - {b"range", b"if-range"}) + [b"Connection: close"]
                client.sendall(b"\r\n".join(rlines) + b"\r\n\r\n")
                limit = int(rule[1][0]) if rule and rule[0] == "cut" else None
                if method == "HEAD":
                    body = b""
                while True:
                    if limit is not None and sent + len(body) >= limit:
                        client.sendall(body[:limit - sent])
                        sent = limit
                        what = "cut"
                        break
                    if body:
                        client.sendall(body)
                        sent += len(body)
                    if method == "HEAD":
                        break
                    body = up.recv(65536)
                    if not body:
                        break
            finally:
                up.close()
        except OSError as e:
            if what == "ok":
                what = f"error:{e.__class__.__name__}"
        finally:
            # logged before the client sees the connection end: a resumed request, which the
            # client sends only after that, is always logged after this one
            self.server.log(f"{method}\t{path}\t{rng}\t{status}\t{sent}\t{what}")
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream, rules, log_path):
        super().__init__(("127.0.0.1", 0), Handler)
        self.upstream = upstream
        self.rules = rules
        self.log_path = log_path
        self.log_lock = threading.Lock()

    def log(self, line):
        with self.log_lock, open(self.log_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--rules", help="rule file, re-read at every request")
    a = p.parse_args()
    host, _, port = a.upstream.rpartition(":")
    server = Server((host or "127.0.0.1", int(port)), Rules(a.rules), a.log)
    open(a.log, "a").close()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{server.server_address[1]}\n")
    os.replace(tmp, a.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
