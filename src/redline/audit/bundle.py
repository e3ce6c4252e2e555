"""Proof bundles: records with inclusion proofs against one signed checkpoint, checkable offline.

A bundle is JSON: `{"checkpoint": <signed note>, "entries": [{"index", "record", "inclusion_proof"}]}`, the
proof hashes in base64. Checking it needs only the log's public (verifier) key: the record is canonicalised
again (RFC 8785 is idempotent), hashed as a leaf and walked up to the checkpoint's signed root.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from redline.audit.checkpoint import Checkpoint, Verifier
from redline.audit.log import AuditError, AuditLog
from redline.audit.merkle import leaf_hash, verify_inclusion
from redline.audit.records import RecordError, canonical


class BundleError(ValueError):
    """A bundle that is malformed or whose proofs do not hold."""


def make_bundle(log: AuditLog, indexes: Sequence[int]) -> dict[str, Any]:
    """Prove `indexes` against the latest checkpoint, signing a fresh one if they are newer than it."""
    latest = log.latest_checkpoint()
    if latest is None or latest.checkpoint.size <= max(indexes, default=-1):
        log.checkpoint()
        latest = log.latest_checkpoint()
    if latest is None:
        raise AuditError("the log is empty")
    size = latest.checkpoint.size
    return {
        "checkpoint": latest.note,
        "entries": [
            {
                "index": index,
                "record": log.entry(index).record,
                "inclusion_proof": [base64.b64encode(h).decode() for h in log.inclusion_proof(index, size)],
            }
            for index in indexes
        ],
    }


def check_bundle(bundle: Mapping[str, Any], verifier: Verifier) -> Checkpoint:
    """The checkpoint every entry of `bundle` is proven against, once signature and proofs all hold."""
    try:
        checkpoint = verifier.verify(bundle["checkpoint"])
        items = bundle["entries"]
        for item in items:
            index = item["index"]
            path = [base64.b64decode(h, validate=True) for h in item["inclusion_proof"]]
            leaf = leaf_hash(canonical(item["record"]))
            if not isinstance(index, int) or not verify_inclusion(
                leaf, index, checkpoint.size, path, checkpoint.root_hash
            ):
                raise BundleError(f"entry {index} is not proven in the log of {checkpoint.size} entries")
    except (KeyError, TypeError, AttributeError, binascii.Error, RecordError) as exc:
        raise BundleError(f"malformed proof bundle: {exc!r}") from exc
    if not items:
        raise BundleError("the bundle proves no entries")
    return checkpoint
