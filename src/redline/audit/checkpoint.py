"""Signed tree heads in the C2SP formats: tlog-checkpoint bodies inside Ed25519 signed notes.

A checkpoint reads

    <origin>
    <tree size>
    <base64 root hash>

    — <key name> <base64(key id || Ed25519 signature of the three lines above)>

where the key id is the first 4 bytes of SHA-256(key name || "\\n" || 0x01 || public key) and the public key
travels as a note verifier key, `<name>+<hex key id>+<base64(0x01 || public key)>` (c2sp.org/signed-note).
Any signed-note or checkpoint tool can check them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from redline.audit.merkle import HASH_SIZE

_ED25519 = b"\x01"
_DASH = "\N{EM DASH} "


class CheckpointError(ValueError):
    """A checkpoint or verifier key that is malformed, from another log, or not signed by the expected key."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root_hash).decode()}\n"

    @classmethod
    def parse_body(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "" or not lines[0]:
            raise CheckpointError("a checkpoint body is an origin, a size and a root hash, one per line")
        origin, size, root = lines[:3]
        if not (size.isascii() and size.isdigit()) or (size != "0" and size.startswith("0")):
            raise CheckpointError(f"bad tree size {size!r}")
        try:
            root_hash = base64.b64decode(root, validate=True)
        except binascii.Error as exc:
            raise CheckpointError(f"bad root hash {root!r}") from exc
        if len(root_hash) != HASH_SIZE:
            raise CheckpointError(f"root hash has {len(root_hash)} bytes, not {HASH_SIZE}")
        return cls(origin, int(size), root_hash)


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public).digest()[:4]


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class Verifier:
    """Checks notes signed by one named Ed25519 key."""

    def __init__(self, name: str, public: Ed25519PublicKey) -> None:
        if not name or any(c in name for c in " +\n"):
            raise CheckpointError(f"key name {name!r} must be non-empty, without spaces, '+' or newlines")
        self.name = name
        self.public = public
        self.key_id = _key_id(name, _raw(public))

    @property
    def vkey(self) -> str:
        """The note verifier key: all anyone needs to check this log's checkpoints offline."""
        encoded = base64.b64encode(_ED25519 + _raw(self.public)).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        try:
            name, key_id, encoded = vkey.strip().split("+", 2)
            raw = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise CheckpointError("a verifier key reads <name>+<hex key id>+<base64 key>") from exc
        if len(raw) != 33 or raw[:1] != _ED25519:
            raise CheckpointError("verifier key is not an Ed25519 key")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_id.hex() != key_id:
            raise CheckpointError("verifier key id does not match its name and key")
        return verifier

    def open(self, note: str) -> str:
        """The text of `note` once a signature by this key over it holds."""
        text, sep, signatures = note.partition("\n\n")
        if not sep or not signatures.endswith("\n"):
            raise CheckpointError("a signed note is a text, a blank line, then signature lines")
        text += "\n"
        for line in signatures[:-1].split("\n"):
            if not line.startswith(_DASH) or line.count(" ") != 2:
                raise CheckpointError(f"malformed signature line {line!r}")
            name, encoded = line[len(_DASH) :].split(" ")
            try:
                blob = base64.b64decode(encoded, validate=True)
            except binascii.Error as exc:
                raise CheckpointError(f"malformed signature line {line!r}") from exc
            if name != self.name or blob[:4] != self.key_id:
                continue
            try:
                self.public.verify(blob[4:], text.encode())
            except InvalidSignature as exc:
                raise CheckpointError(f"bad signature by {self.name}") from exc
            return text
        raise CheckpointError(f"no signature by {self.name}")

    def verify(self, note: str, origin: str | None = None) -> Checkpoint:
        """The checkpoint in `note` once its signature by this key (and its origin, if given) holds."""
        checkpoint = Checkpoint.parse_body(self.open(note))
        if origin is not None and checkpoint.origin != origin:
            raise CheckpointError(f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
        return checkpoint


class Signer:
    """The log's Ed25519 key: signs checkpoints under the log's origin as key name."""

    def __init__(self, name: str, private: Ed25519PrivateKey) -> None:
        self.private = private
        self.verifier = Verifier(name, private.public_key())

    def sign(self, checkpoint: Checkpoint) -> str:
        return self.sign_note(checkpoint.body())

    def sign_note(self, text: str) -> str:
        """`text` (newline-terminated lines) as a note signed by this key."""
        signature = self.private.sign(text.encode())
        blob = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{text}\n{_DASH}{self.verifier.name} {blob}\n"

    @classmethod
    def load_or_create(cls, path: str | Path, name: str) -> Signer:
        """The key at `path`, made on first use as an owner-only (0600) PEM file."""
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            fd, tmp = tempfile.mkstemp(dir=path.parent)  # mkstemp files are 0600
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
                os.fsync(out.fileno())
            try:
                os.link(tmp, path)  # atomic: a worker racing us either wins whole or loses whole
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise CheckpointError(f"{path} does not hold an Ed25519 private key")
        return cls(name, private)
