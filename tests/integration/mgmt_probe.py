"""mgmt_probe: a client of Tern's management API that misbehaves on purpose,
for test_mgmt_api.py (run in the lab's client namespace).

    mgmt_probe.py HOST KEY CASE [ARG]

prints one JSON object: what the server said ("lines": each line it sent,
parsed), and how the connection ended ("end": "closed" when the server
closed it, "open" when it was still open when the probe stopped, or the
error). CASES:

    wrong-key     authenticates with KEY (meant to be wrong)
    unauthed      asks query-host before authenticating, then authenticates
    bad-json      authenticates, then sends a line that is not JSON
    oversize      authenticates, then sends ARG bytes without a newline
    plain         speaks JSON over plain TCP, no TLS
    idle          opens ARG TCP connections that never send a byte, holds
                  them 5 s; "end" counts those the server closed
    auth-drop     authenticates, asks vm-list, and disconnects at once
    script        authenticates, sends the requests of ARG (a JSON list) one
                  after the other with "id" their index, each after the
                  reply to the one before ({"sleep": S} instead of a request:
                  read for S seconds); "lines" holds every line read
                  (replies and events), "end" "open"
"""
import hashlib
import hmac
import json
import os
import socket
import ssl
import sys
import time

PORT = 7100


def tls_connect(host):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection((host, PORT), 10)
    s = ctx.wrap_socket(raw)
    s.settimeout(20)
    return s, hashlib.sha256(s.getpeercert(binary_form=True)).digest()


class Lines:
    def __init__(self, sock):
        self.sock, self.buf, self.got = sock, b"", []

    def read(self):
        """The next line, parsed; None when the server closed."""
        while b"\n" not in self.buf:
            b = self.sock.recv(65536)
            if not b:
                return None
            self.buf += b
        line, self.buf = self.buf.split(b"\n", 1)
        obj = json.loads(line)
        self.got.append(obj)
        return obj

    def until_closed(self):
        try:
            while self.read() is not None:
                pass
            return "closed"
        except socket.timeout:
            return "open"
        except (ConnectionError, ssl.SSLError) as e:
            return "closed (" + type(e).__name__ + ")"


def send(sock, obj):
    sock.sendall(json.dumps(obj).encode() + b"\n")


def auth(sock, lines, key, h):
    greet = lines.read()["tern"]
    ns, nc = bytes.fromhex(greet["nonce"]), os.urandom(32)
    proof = hmac.new(key.encode(), b"tern-mgmt-v1 client" + ns + nc + h, hashlib.sha256).hexdigest()
    send(sock, {"execute": "auth", "arguments": {"nonce": nc.hex(), "proof": proof}, "id": "a"})
    r = lines.read()
    if "return" in r:
        want = hmac.new(key.encode(), b"tern-mgmt-v1 server" + ns + nc + h, hashlib.sha256).hexdigest()
        r["server_proof_ok"] = hmac.compare_digest(want, r["return"]["proof"])
    return r


def main(host, key, case, arg=None):
    out = {}
    if case == "plain":
        s = socket.create_connection((host, PORT), 10)
        s.settimeout(10)
        s.sendall(b'{"execute": "query-version"}\n')
        data = b""
        try:
            while True:
                b = s.recv(4096)
                if not b:
                    break
                data += b
            out["end"] = "closed"
        except socket.timeout:
            out["end"] = "open"
        except ConnectionError as e:
            out["end"] = "closed (" + type(e).__name__ + ")"
        out["bytes"] = data[:64].hex()
        return out
    if case == "idle":
        socks = [socket.create_connection((host, PORT), 10) for _ in range(int(arg))]
        time.sleep(5)
        closed = 0
        for s in socks:
            s.setblocking(False)
            try:
                closed += s.recv(1) == b""
            except BlockingIOError:
                pass
            except ConnectionError:
                closed += 1
        out["end"] = closed
        return out
    s, h = tls_connect(host)
    lines = Lines(s)
    if case == "wrong-key":
        out["auth"] = auth(s, lines, key, h)
    elif case == "unauthed":
        lines.read()  # greeting
        send(s, {"execute": "query-host", "id": 1})
        out["before"] = lines.read()
        s.close()
        return out
    else:
        out["auth"] = auth(s, lines, key, h)
        if case == "bad-json":
            s.sendall(b'{"execute": "vm-list", }\n')
        elif case == "oversize":
            try:
                s.sendall(b"x" * int(arg))
            except (ConnectionError, ssl.SSLError):
                pass
        elif case == "script":
            s.settimeout(60)
            for i, req in enumerate(json.loads(arg)):
                if "sleep" in req:  # read what comes meanwhile (events)
                    s.settimeout(req["sleep"])
                    try:
                        while lines.read() is not None:
                            pass
                    except socket.timeout:
                        pass
                    s.settimeout(60)
                    continue
                send(s, {**req, "id": i})
                while (r := lines.read()) is not None and r.get("id") != i:
                    pass
            out["end"], out["lines"] = "open", lines.got
            s.close()
            return out
        elif case == "auth-drop":
            send(s, {"execute": "vm-list", "id": 2})
            s.close()
            out["end"] = "dropped"
            return out
    out["end"] = lines.until_closed()
    out["lines"] = lines.got
    return out


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:])))
