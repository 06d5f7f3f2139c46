#!/usr/bin/python3
"""A fake EC2 instance metadata service (IMDSv2) and container credentials
endpoint for tests/test-aws-config.c.

usage: fake_imds.py PORT_FILE LOG_FILE [MODE] [CONTAINER_TOKEN]

Listens on 127.0.0.1 on an ephemeral port and writes the port to
PORT_FILE (atomically, once listening). Each request is logged to LOG_FILE
as "METHOD PATH ttl=VALUE token=yes|no auth=yes|no|bad" (no secrets).

  PUT /latest/api/token                          needs the ttl header
  GET /latest/meta-data/iam/security-credentials/      role name (token)
  GET /latest/meta-data/iam/security-credentials/ROLE  credentials (token)
  GET /creds                 container credentials; Authorization must
                             equal CONTAINER_TOKEN when one is given

MODE: normal, hang (the token request never answers), norole (the role
listing is 404), badjson (credentials are not JSON), v1only (the token
request is 403).
"""
import http.server
import json
import os
import sys
import threading
import time

ROLE = "sagerun-test-role"
TOKEN = "FAKE-IMDS-TOKEN-0123456789"
CREDS = {
    "Code": "Success",
    "LastUpdated": "2026-11-27T19:00:00Z",
    "Type": "AWS-HMAC",
    "AccessKeyId": "ASIAFAKEIMDS00000001",
    "SecretAccessKey": "fakeImdsSecret/0123456789abcdefghijklmn",
    "Token": "fakeImdsSessionToken0123456789",
    "Expiration": "2026-11-27T20:00:00Z",
}
CONTAINER_CREDS = {
    "RoleArn": "arn:aws:iam::123456789012:role/sagerun-task",
    "AccessKeyId": "ASIAFAKECONTAINER001",
    "SecretAccessKey": "fakeContainerSecret/0123456789abcdefghij",
    "Token": "fakeContainerSessionToken0123456789",
    "Expiration": "2026-11-27T21:30:15Z",
}
CREDS_PATH = "/latest/meta-data/iam/security-credentials/"

port_file, log_file = sys.argv[1], sys.argv[2]
mode = sys.argv[3] if len(sys.argv) > 3 else "normal"
container_token = sys.argv[4] if len(sys.argv) > 4 else None
log_lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def log_request_line(self):
        auth = self.headers.get("Authorization")
        if auth is None:
            auth_state = "no"
        else:
            auth_state = "yes" if auth == container_token else "bad"
        line = "%s %s ttl=%s token=%s auth=%s\n" % (
            self.command,
            self.path,
            self.headers.get("x-aws-ec2-metadata-token-ttl-seconds", "-"),
            "yes" if self.headers.get("x-aws-ec2-metadata-token") else "no",
            auth_state,
        )
        with log_lock:
            with open(log_file, "a") as f:
                f.write(line)

    def reply(self, status, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def token_ok(self):
        return self.headers.get("x-aws-ec2-metadata-token") == TOKEN

    def do_PUT(self):
        self.log_request_line()
        if self.path != "/latest/api/token":
            return self.reply(404, "not found")
        if mode == "hang":
            time.sleep(30)
            return self.reply(200, TOKEN)
        if mode == "v1only":
            return self.reply(403, "forbidden")
        ttl = self.headers.get("x-aws-ec2-metadata-token-ttl-seconds")
        if ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self.reply(400, "bad ttl")
        self.reply(200, TOKEN)

    def do_GET(self):
        self.log_request_line()
        if self.path == "/creds":
            if container_token is not None and (
                self.headers.get("Authorization") != container_token
            ):
                return self.reply(401, "unauthorized")
            return self.reply(
                200, json.dumps(CONTAINER_CREDS), "application/json"
            )
        if not self.path.startswith(CREDS_PATH):
            return self.reply(404, "not found")
        if not self.token_ok():
            return self.reply(401, "unauthorized")
        role = self.path[len(CREDS_PATH):]
        if role == "":
            if mode == "norole":
                return self.reply(404, "not found")
            return self.reply(200, ROLE)
        if role != ROLE:
            return self.reply(404, "not found")
        if mode == "badjson":
            return self.reply(200, "{not json")
        self.reply(200, json.dumps(CREDS), "application/json")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % server.server_address[1])
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
