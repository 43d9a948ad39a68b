#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from the
shared vectors in core/tests/vectors/. Run it again after the vectors change;
the output is deterministic, so an unchanged vector gives unchanged files.

Each seed is named after what it holds. The targets that take a stream start
with a "pick" byte: bit 0 picks the vector (0 ffdhe2048, 1 ffdhe3072), bit 1
a variant (client: send an identity; server: an authorized-keys list that
admits no one), and for server_connection bit 2 a busy server. The
connection targets then take a chunking byte (fuzz/src/stream.rs, Chunks:
7 is whole units, 0 one byte at a time). The legacy targets pick the legacy
vector with their first byte and take each read after a 2-byte length.
"""
import base64
import json
import pathlib
import shutil
import struct

HERE = pathlib.Path(__file__).resolve().parent
VECTORS = HERE.parent / "core" / "tests" / "vectors"
CORPUS = HERE / "corpus"
# Seeds above this size are left out (the corpora stay a few KiB a seed);
# the fuzzer finds the long lengths itself.
MAX_SEED = 3000


def load(name):
    return json.loads((VECTORS / name).read_text())


def h(text):
    """Hex to bytes; the edge cases write small values with an odd digit count."""
    return bytes.fromhex(text if len(text) % 2 == 0 else "0" + text)


def framed(read):
    """A legacy read as the legacy targets take it: 2-byte length, bytes."""
    return struct.pack(">H", len(read)) + read


def key_text(pk):
    return "ed25519:" + base64.b64encode(pk).decode().rstrip("=")


def main():
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    seeds = {}

    def seed(target, name, data):
        if len(data) <= MAX_SEED:
            seeds.setdefault(target, {})[name] = data

    hs = [load("handshake-ffdhe2048.json"), load("handshake-ffdhe3072.json")]
    for pick, v in enumerate(hs):
        g = v["group"]
        recs = v["records"]
        s2c = [h(r["record"]) for r in recs if r["direction"] == "s2c"]
        c2s = [h(r["record"]) for r in recs if r["direction"] == "c2s"]
        # record_open: the server session's client records from seq 1 on.
        seed("record_open", f"{g}-c2s-seq1-on", bytes([pick]) + b"".join(c2s[1:]))
        for i, r in enumerate(c2s[1:], start=1):
            seed("record_open", f"{g}-c2s-seq1-record{i}", bytes([pick]) + r)
        for i, r in enumerate(v["rejected_c2s_records"]):
            seed("record_open", f"{g}-rejected-{i}", bytes([pick]) + h(r["record"]))
        # message_decode: every plaintext and the handshake bodies.
        for i, r in enumerate(recs):
            seed("message_decode", f"{g}-record{i}-plaintext", h(r["plaintext"]))
        seed("message_decode", f"{g}-client-hello-anonymous", b"\x02" + h(v["client_hello_anonymous_body"]))
        # client_handshake: everything the server sends.
        server_stream = h(v["server_hello"]) + b"".join(r for r in s2c if len(r) < 1000)
        for variant in (0, 2):
            seed("client_handshake", f"{g}-server-bytes-{variant}", bytes([pick | variant]) + server_stream)
        seed("client_handshake", f"{g}-server-hello-only", bytes([pick]) + h(v["server_hello"]))
        # server_handshake: everything the client sends.
        client_stream = h(v["client_key"]) + b"".join(c2s)
        for variant in (0, 2):
            seed("server_handshake", f"{g}-client-bytes-{variant}", bytes([pick | variant]) + client_stream)
        # client_connection: the same server bytes, in several chunkings
        # (whole units, 1 byte, up to 3 bytes, up to 300 bytes).
        for variant in (0, 2):
            for chunking in ((7, 0, 2, 5) if pick == 0 else (7, 0)):
                seed("client_connection", f"{g}-server-bytes-{variant}-chunking{chunking}",
                     bytes([pick | variant, chunking]) + server_stream)
        # server_connection: the client's bytes; variants: admit none (2),
        # busy (4); several chunkings.
        for variant in (0, 2, 4):
            for chunking in ((7, 0, 2, 5) if pick == 0 and variant == 0 else (7,)):
                seed("server_connection", f"{g}-client-bytes-{variant}-chunking{chunking}",
                     bytes([pick | variant, chunking]) + client_stream)
        # dh_message: the DH message of SERVER_HELLO.
        seed("dh_message", f"{g}-server-dh-message", h(v["server_hello"])[8:])

    edge = load("dh-edge-cases.json")
    for kind in ("rejected_public_values", "accepted_public_values"):
        for i, case in enumerate(edge[kind]):
            seed("dh_message", f"{kind}-{i}", h(case["y"]))
    for i, case in enumerate(edge["rejected_server_hello_prefixes"]):
        seed("client_handshake", f"prefix-{i}", b"\x00" + h(case["first8"]) + h(hs[0]["server_hello"])[8:])
    for i, case in enumerate(load("legacy.json")["cases"]):
        seed("dh_message", f"legacy-{i}", h(case["server_dh_message"]))
        wires = [h(m["wire"]) for m in case["messages"]]
        reads = b"".join(framed(w) for w in wires)
        # legacy_open: the vector's messages, together and one by one.
        seed("legacy_open", f"legacy-{i}-messages", bytes([i]) + reads)
        for j, w in enumerate(wires):
            seed("legacy_open", f"legacy-{i}-message{j}", bytes([i]) + framed(w))
        # legacy_client_exchange: the server's key message, then messages.
        seed("legacy_client_exchange", f"legacy-{i}-server-key-and-messages",
             bytes([i]) + h(case["server_dh_message"]) + reads)
        # legacy_server_exchange: the client's key message, then messages.
        seed("legacy_server_exchange", f"legacy-{i}-client-key-and-messages",
             bytes([i]) + framed(h(case["client_key"])) + reads)

    keys = [h(v[f"{who}_identity_pk"]) for v in hs for who in ("server", "client")]
    seed("known_hosts", "two-hosts",
         f"# dhchat known hosts\n\nchat.example:4000 {key_text(keys[0])}\n"
         f"[::1]:4000 {key_text(keys[1])}\n".encode())
    seed("known_hosts", "same-host-twice",
         f"h:1 {key_text(keys[2])}\nH:1 {key_text(keys[3])}\r\n".encode())
    seed("known_hosts", "bad-key", b"h:1 ed25519:nope\n")
    seed("authorized_keys", "keys-and-comments",
         (f"# admitted\n{key_text(keys[1])} alice laptop\n\n"
          f"  {key_text(keys[3])}\n# {key_text(keys[0])}\n").encode())
    seed("authorized_keys", "bad-line", b"ssh-ed25519 AAAA alice\n")

    for target, files in sorted(seeds.items()):
        d = CORPUS / target
        d.mkdir(parents=True)
        for name, data in sorted(files.items()):
            (d / name).write_bytes(data)
        print(f"{target}: {len(files)} seeds, {sum(map(len, files.values()))} bytes")


if __name__ == "__main__":
    main()
