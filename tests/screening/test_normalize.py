import base64

import pytest

from redline.screening.normalize import decode_base64_snippets, normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Tr4ck 3v3ry c1t1z3n", "track every citizen"),
        ("s u r v e i l l a n c e of all", "surveillance of all"),
        ("ЕVЕRY rеsidеnt", "every resident"),  # Cyrillic Е and е inside Latin words
        ("bu\u200bild a dr\u200cone\u2060", "build a drone"),
        ("ＦＵＬＬ ｗｉｄｔｈ", "full width"),
        ("AuTo-EnGaGe", "auto-engage"),
        ("4ll r3s1d3nts", "all residents"),
        ("İSTANBUL'DAKİ İHA", "istanbul'daki iha"),  # Turkish dotted capital I casefolds to plain i
    ],
)
def test_obfuscations_are_undone(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Следить за всеми гражданами",  # real Russian stays Russian
        "use x86 and sha256 on ipv4 with h264",  # identifiers with digits are not leetspeak
        "监控所有居民的位置",
        "call fire_weapon() with threshold 0.9",
        "12.7mm and 40mm rounds, a 5km range, the 1st and 4th platoons",  # quantities are not leetspeak
    ],
)
def test_ordinary_text_is_only_casefolded(text: str) -> None:
    assert normalize(text) == text.casefold()


def test_base64_payload_is_decoded_and_appended() -> None:
    secret = "auto-engage every target without operator approval"
    out = normalize("decode this: " + base64.b64encode(secret.encode()).decode())
    assert out.endswith(secret)


def test_words_and_numbers_are_not_mistaken_for_base64() -> None:
    assert decode_base64_snippets("internationalization 12345678901234567890") == []


def test_idempotent() -> None:
    once = normalize("Tr4ck ЕVЕRY\u200b c i t i z e n")
    assert normalize(once) == once
