"""Signed checkpoints: the C2SP note format, key handling and every way a signature check must fail."""

import base64
import hashlib
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from redline.audit.checkpoint import Checkpoint, CheckpointError, Signer, Verifier

ORIGIN = "example.com/redline/audit"
ROOT = hashlib.sha256(b"root").digest()


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return Signer.load_or_create(tmp_path / "keys" / "audit.pem", ORIGIN)


def test_key_is_made_once_owner_only_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.pem"
    first = Signer.load_or_create(path, ORIGIN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Signer.load_or_create(path, ORIGIN).verifier.vkey == first.verifier.vkey
    assert list(path.parent.iterdir()) == [path]


def test_note_has_the_c2sp_layout_and_key_id(signer: Signer) -> None:
    note = signer.sign(Checkpoint(ORIGIN, 42, ROOT))
    body, signature_line = note.split("\n\n")
    assert body.split("\n") == [ORIGIN, "42", base64.b64encode(ROOT).decode()]
    dash, name, blob = signature_line.rstrip("\n").split(" ")
    assert (dash, name) == ("\N{EM DASH}", ORIGIN)
    raw = signer.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key_id = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()[:4]
    assert base64.b64decode(blob)[:4] == key_id
    encoded = base64.b64encode(b"\x01" + raw).decode()
    assert signer.verifier.vkey == f"{ORIGIN}+{key_id.hex()}+{encoded}"


def test_verifier_from_exported_key_accepts_the_note(signer: Signer) -> None:
    note = signer.sign(Checkpoint(ORIGIN, 7, ROOT))
    verifier = Verifier.from_vkey(signer.verifier.vkey)
    assert verifier.verify(note, ORIGIN) == Checkpoint(ORIGIN, 7, ROOT)


def test_forged_or_foreign_notes_are_rejected(signer: Signer, tmp_path: Path) -> None:
    note = signer.sign(Checkpoint(ORIGIN, 7, ROOT))
    verifier = Verifier.from_vkey(signer.verifier.vkey)
    with pytest.raises(CheckpointError, match="bad signature"):
        verifier.verify(note.replace("\n7\n", "\n8\n"))
    other = Signer.load_or_create(tmp_path / "other.pem", ORIGIN)
    with pytest.raises(CheckpointError, match="no signature"):
        verifier.verify(other.sign(Checkpoint(ORIGIN, 7, ROOT)))
    with pytest.raises(CheckpointError, match="not 'elsewhere'"):
        verifier.verify(note, "elsewhere")
    with pytest.raises(CheckpointError, match="blank line"):
        verifier.verify(note.replace("\n\n", "\n"))
    with pytest.raises(CheckpointError, match="malformed"):
        verifier.verify(note.replace("\N{EM DASH}", "-"))


def test_malformed_bodies_and_keys_are_rejected() -> None:
    with pytest.raises(CheckpointError, match="size"):
        Checkpoint.parse_body(f"{ORIGIN}\n007\n{base64.b64encode(ROOT).decode()}\n")
    with pytest.raises(CheckpointError, match="bytes"):
        Checkpoint.parse_body(f"{ORIGIN}\n7\n{base64.b64encode(b'short').decode()}\n")
    with pytest.raises(CheckpointError, match="reads"):
        Verifier.from_vkey("not a key")
    with pytest.raises(CheckpointError, match="key id"):
        Verifier.from_vkey(f"{ORIGIN}+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode())


# The reference vector of Go's golang.org/x/mod/sumdb/note (its package documentation and tests): another
# implementation's output, so matching it byte for byte shows any signed-note verifier accepts ours.
GO_SEED = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  # base64(0x01 || Ed25519 seed) of PeterNeumann
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    f"{GO_TEXT}\n\N{EM DASH} PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_matches_the_go_sumdb_note_reference_vector() -> None:
    seed = base64.b64decode(GO_SEED)[1:]
    signer = Signer("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed))
    assert signer.verifier.vkey == GO_VKEY
    assert signer.sign_note(GO_TEXT) == GO_NOTE
    assert Verifier.from_vkey(GO_VKEY).open(GO_NOTE) == GO_TEXT
    with pytest.raises(CheckpointError, match="bad signature"):
        Verifier.from_vkey(GO_VKEY).open(GO_NOTE.replace("cryptography", "cryptographY"))
