"""Undo the obfuscations people use to slip a request past a filter, before any classifier sees it.

Handles: compatibility forms and full-width letters (NFKC), invisible and formatting characters (zero-width
spaces, joiners, bidi controls, soft hyphens), homoglyphs (Cyrillic/Greek look-alikes inside Latin words),
leetspeak inside words, letters spaced or dotted apart ("s u r v e i l"), odd casing, and base64 snippets
(decoded and appended, so the decoded request is screened too). Text in other scripts is left intact.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

# Cyrillic and Greek letters that render like Latin ones.
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
        "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ɡ": "g", "ո": "n", "ս": "u",
        "А": "a", "В": "b", "Е": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c", "Т": "t",
        "Х": "x", "І": "i", "Ј": "j", "Ѕ": "s",
        "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
        "χ": "x", "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
        "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
    }
)  # fmt: skip
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})

_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff\ufe00-\ufe0f]"
)
_LATIN_WORD = re.compile(r"[^\W\d_]*[a-zA-Z][^\W\d_]*")
_MIXED_TOKEN = re.compile(r"\b(?=\w*[a-zA-Z])(?=\w*[013457])[a-zA-Z013457@$]{3,}\b|(?<!\S)[a-zA-Z]*[@$][a-zA-Z@$]+")
_SPACED = re.compile(r"\b(?:[A-Za-z][ .\-_*]){3,}[A-Za-z]\b")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")
_SPACES = re.compile(r"[ \t\u00a0]+")


def _unhomoglyph(match: re.Match[str]) -> str:
    return match.group(0).translate(_HOMOGLYPHS)


# A number with a unit or an ordinal suffix ("7mm", "40mm", "5km", "1st", "4th"), not leetspeak.
_QUANTITY = re.compile(
    r"\d+(?:st|nd|rd|th|mm|cm|km|m|mi|kg|mg|g|lb|t|kt|gb|mb|kb|tb|ms|s|min|h|hr|px|pt|k|x|d|hz|khz|mhz|ghz|kw|mw|w|v|fps)",
    re.IGNORECASE,
)


def _unleet(match: re.Match[str]) -> str:
    token = match.group(0)
    # Keep real identifiers and numbers such as "x86", "h264", "sha256", "ipv4", "40mm", "1st": only rewrite
    # when the digits sit between letters or the token mostly reads as letters once mapped.
    letters = sum(ch.isalpha() for ch in token)
    if letters < 2 or (re.search(r"[a-zA-Z]\d+$", token) and not re.search(r"\d[a-zA-Z]", token)):
        return token
    if _QUANTITY.fullmatch(token):
        return token
    return token.translate(_LEET)


def _unspace(match: re.Match[str]) -> str:
    return re.sub(r"[ .\-_*]", "", match.group(0))


def decode_base64_snippets(text: str, limit: int = 8) -> list[str]:
    """Printable UTF-8 text hidden in base64 runs of the input (at most `limit` of them)."""
    found: list[str] = []
    for match in _BASE64.finditer(text):
        chunk = match.group(0)
        if chunk.isalpha() or chunk.isdigit():
            continue  # plain words and numbers are not base64 payloads
        try:
            decoded = base64.b64decode(chunk + "=" * (-len(chunk) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        printable = sum(ch.isprintable() or ch.isspace() for ch in decoded)
        if decoded and printable / len(decoded) > 0.95 and sum(ch.isalpha() for ch in decoded) >= 4:
            found.append(decoded)
            if len(found) >= limit:
                break
    return found


def normalize(text: str) -> str:
    """The canonical form classifiers see. Idempotent; linear in the input's length."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    decoded = decode_base64_snippets(text)
    if decoded:
        text = text + "\n" + "\n".join(decoded)
    # Homoglyphs only inside words that also hold Latin letters, so real Russian or Greek text is untouched.
    text = _LATIN_WORD.sub(_unhomoglyph, text)
    text = _SPACED.sub(_unspace, text)
    text = _MIXED_TOKEN.sub(_unleet, text)
    text = _SPACES.sub(" ", text)
    # Casefolding writes Turkish dotted capital I as "i" plus a combining dot; the dot carries no meaning here.
    return text.casefold().replace("i\u0307", "i").strip()
