"""redline.audit: the tamper-evident audit log (see docs/audit.md).

merkle (RFC 9162 hashing and proofs), records (canonical JSON records), checkpoint (signed tree heads),
log (storage, group commit, verify), bundle (offline proofs), api (admin routes), cli (`redline audit`).
"""
