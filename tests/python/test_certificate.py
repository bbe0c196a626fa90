"""An independent verifier of Yizhan service certificates, written from
docs/certificates.md alone with Python's standard library and the
`cryptography` package's Ed25519: what a delivery platform would write.

The test makes a real federation with the `yizhan` binary (district, street,
community; a member with a patrol), has the community issue a certificate,
and checks it here: signature and chain from the root peer id. It also shows
that one altered byte and a wrong root are refused.

Run: YIZHAN_BIN=target/debug/yizhan python3 -m unittest discover -s tests/python
"""

import copy
import json
import os
import subprocess
import tempfile
import unittest
from base64 import urlsafe_b64decode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
ROLES = {"district": 0, "street": 1, "community": 2}
DEPTH = {"district": 1, "street": 2, "community": 3}
CLOCK_SKEW_S = 300
CHAIN_LEN_MAX = 4


class Refused(Exception):
    """A certificate that does not verify, with the check that failed."""


def b58decode(text):
    n = 0
    for ch in text:
        n = n * 58 + B58.index(ch)
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * zeros + body


def key_of(peer_id):
    """The 32-byte Ed25519 key in a libp2p peer id (identity multihash of the
    protobuf-encoded public key)."""
    raw = b58decode(peer_id)
    if len(raw) != 38 or raw[:6] != bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]):
        raise Refused(f"malformed: {peer_id} is not an Ed25519 peer id")
    return raw[6:]


def b64(text):
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def zigzag(n):
    return varint(((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF)


def admission_bytes(link):
    place = link["place"].encode("utf-8")
    expires = link["expires"]
    return b"".join(
        [
            b"yizhan-admission-v1",
            key_of(link["node"]),
            varint(ROLES[link["role"]]),
            varint(len(place)) + place,
            b"\x01" if link["may_admit"] else b"\x00",
            zigzag(link["issued"]),
            b"\x00" if expires is None else b"\x01" + zigzag(expires),
            key_of(link["issuer"]),
        ]
    )


def signed(key, signature, message):
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(b64(signature), message)
        return True
    except InvalidSignature:
        return False


def below(parent, child):
    return child.startswith(parent + "/")


def verify(cert, root_peer_id):
    """The checks of docs/certificates.md, in order (without the charter)."""
    if cert.get("format") != "yizhan-certificate/1":
        raise Refused("malformed: unknown format")
    body, cred = cert["body"], cert["credential"]
    if cred["root"] != root_peer_id:
        raise Refused("wrong root")
    issued_at = body["issued_at"]
    prev = {"key": key_of(cred["root"]), "place": cred["place"], "may_admit": True}
    links = cred["links"]
    if not 1 <= len(links) <= CHAIN_LEN_MAX:
        raise Refused("bad admission chain: length")
    for link in links:
        if key_of(link["issuer"]) != prev["key"]:
            raise Refused("bad admission chain: broken link")
        if not signed(prev["key"], link["signature"], admission_bytes(link)):
            raise Refused("bad admission chain: signature")
        if not prev["may_admit"]:
            raise Refused("bad admission chain: issuer may not admit")
        if not below(prev["place"], link["place"]):
            raise Refused("bad admission chain: place outside the issuer's")
        if len(link["place"].split("/")) != DEPTH[link["role"]]:
            raise Refused("bad admission chain: role and place disagree")
        if link["issued"] > issued_at + CLOCK_SKEW_S:
            raise Refused("bad admission chain: issued after the certificate")
        if link["expires"] is not None and link["expires"] <= issued_at:
            raise Refused("bad admission chain: lapsed")
        prev = {"key": key_of(link["node"]), "place": link["place"], "may_admit": link["may_admit"]}
    last = links[-1]
    if last["node"] != body["issuer"] or last["role"] != "community" or last["place"] != body["community"]:
        raise Refused("the chain does not admit the issuer for " + body["community"])
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if not signed(key_of(body["issuer"]), cert["signature"], b"yizhan-certificate-v1" + canonical.encode("utf-8")):
        raise Refused("bad signature")
    return body


class CertificateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bin = os.environ.get("YIZHAN_BIN") or os.path.join(
            os.environ.get("CARGO_TARGET_DIR", "target"), "debug", "yizhan"
        )
        cls.tmp = tempfile.TemporaryDirectory()
        d, s, c = (os.path.join(cls.tmp.name, n) for n in ("d", "s", "c"))
        cls.run_json(d, "init", "--role", "district", "--place", "guandu")
        cls.run_json(s, "init", "--role", "street", "--place", "guandu/yiliu")
        cls.run_json(c, "init", "--role", "community", "--place", "guandu/yiliu/xinyazhou")
        cls.admit(d, s, "street", "guandu/yiliu", "--may-admit")
        cls.admit(s, c, "community", "guandu/yiliu/xinyazhou")
        member = cls.run_json(c, "roster", "add", "--display-name", "小王", "--name", "王小明", "--phone", "138-0000-0001")["id"]
        cls.run_json(c, "roster", "approve", member)
        cls.run_json(c, "points", "award", "--rule", "patrol", "--member", member)
        out = os.path.join(cls.tmp.name, "cert.json")
        cls.run_json(c, "points", "certificate", member, "--out", out)
        with open(out, encoding="utf-8") as f:
            cls.cert = json.load(f)
        cls.root = cls.run_json(d, "status")["peer_id"]
        cls.street = cls.run_json(s, "status")["peer_id"]
        cls.member = member

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def run_json(cls, data_dir, *args):
        done = subprocess.run(
            [cls.bin, "--data-dir", data_dir, "--json", *args], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"yizhan {args}: {done.stderr}")
        return json.loads(done.stdout)

    @classmethod
    def admit(cls, admitter, node, role, place, *extra):
        peer = cls.run_json(node, "status")["peer_id"]
        token = cls.run_json(admitter, "admit", peer, "--role", role, "--place", place, *extra)["token"]
        cls.run_json(node, "join", token)

    def test_a_certificate_verifies_from_the_root_peer_id(self):
        body = verify(self.cert, self.root)
        self.assertEqual(body["member"]["id"], self.member)
        self.assertEqual(body["member"]["display_name"], "小王")
        self.assertEqual(body["service"]["patrols"], 1)
        self.assertEqual(body["service"]["points_earned"], 3)

    def test_an_altered_byte_or_a_wrong_root_is_refused(self):
        altered = copy.deepcopy(self.cert)
        altered["body"]["service"]["points_earned"] += 1
        with self.assertRaisesRegex(Refused, "bad signature"):
            verify(altered, self.root)
        altered = copy.deepcopy(self.cert)
        altered["credential"]["links"][0]["place"] = "guandu/yiliv"
        with self.assertRaisesRegex(Refused, "bad admission chain"):
            verify(altered, self.root)
        with self.assertRaisesRegex(Refused, "wrong root"):
            verify(self.cert, self.street)


if __name__ == "__main__":
    unittest.main()
