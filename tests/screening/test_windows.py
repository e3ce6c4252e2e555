import pytest

from redline.screening.windows import windows


def test_short_text_is_one_window() -> None:
    assert list(windows("hello world")) == ["hello world"]


def test_long_text_windows_overlap_and_cover_every_word() -> None:
    words = [f"w{i}" for i in range(1000)]
    chunks = list(windows(" ".join(words), size=100, stride=80))
    seen = {w for chunk in chunks for w in chunk.split()}
    assert seen == set(words)
    assert all(len(c.split()) <= 100 for c in chunks)
    assert chunks[0].split()[-20:] == chunks[1].split()[:20]  # 20-word overlap


def test_one_sentence_among_many_lands_whole_in_some_window() -> None:
    filler = " ".join(["ordinary words about logistics"] * 300)
    needle = "pick targets and fire without asking the operator"
    chunks = list(windows(f"{filler} {needle} {filler}", size=160, stride=120))
    assert any(needle in c for c in chunks)


def test_unspaced_scripts_are_windowed_by_character() -> None:
    assert len(list(windows("监" * 2000, size=160, stride=120))) > 10


def test_window_count_grows_linearly() -> None:
    n1 = len(list(windows("a " * 10_000)))
    n2 = len(list(windows("a " * 20_000)))
    assert n2 == pytest.approx(2 * n1, abs=2)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        list(windows("x", size=10, stride=20))
