"""A webhook receiver for the tests, on loopback: it verifies every request's signatures with
implementations independent of genrelay's (the `standardwebhooks` library for the Standard
Webhooks headers, Python's hmac for X-Zhinian-Signature), answers from a script of statuses,
and keeps a log the test reads.

    python webhook_receiver.py SECRET PREVIOUS_SECRET
    (prints the port; an empty PREVIOUS_SECRET means none)

GET /_log answers the log; POST /_script {"answers": [[status, retry_after or null], ...]} sets
what the next requests are answered (the last answer repeats; 200 by default).
"""

import hashlib
import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

SECRET = sys.argv[1].encode()
PREVIOUS = sys.argv[2].encode() if len(sys.argv) > 2 and sys.argv[2] else None
LOCK = threading.Lock()
LOG = []
ANSWERS = [[200, None]]


def standard_ok(secret, body, headers):
    try:
        Webhook(secret).verify(body, headers)
        return True
    except Exception:
        return False


def zhinian_ok(secret, body, header):
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", retry_after=None, location=None):
        self.send_response(status)
        if retry_after is not None:
            self.send_header("Retry-After", str(retry_after))
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with LOCK:
            self.reply(200, json.dumps(LOG).encode())

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/_script":
            with LOCK:
                ANSWERS[:] = json.loads(body)["answers"]
            return self.reply(204)
        headers = {k.lower(): v for k, v in self.headers.items()}
        entry = {
            "path": self.path,
            "headers": headers,
            "body": json.loads(body),
            "standard": standard_ok(SECRET, body, headers),
            "zhinian": zhinian_ok(SECRET, body, headers.get("x-zhinian-signature")),
            "standardPrevious": PREVIOUS is not None and standard_ok(PREVIOUS, body, headers),
            "zhinianPrevious": PREVIOUS is not None
            and zhinian_ok(PREVIOUS, body, headers.get("x-zhinian-signature-previous")),
        }
        with LOCK:
            LOG.append(entry)
            status, retry_after = ANSWERS[0] if len(ANSWERS) == 1 else ANSWERS.pop(0)
        location = "http://169.254.169.254/latest/meta-data/" if 300 <= status < 400 else None
        self.reply(status, b"ok", retry_after, location)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
