"""Provider plumbing that needs no upstream: the proxy from the environment, read once."""

from __future__ import annotations

import pytest
from yarl import URL

from redline.config import ProviderSettings
from redline.routing.providers import Provider


def settings(base: str) -> ProviderSettings:
    return ProviderSettings(name="p", kind="openai", base_url=base, models=["m"])


def test_proxy_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert Provider(settings("http://api.example/v1")).proxy is None
    monkeypatch.setenv("HTTP_PROXY", "http://user:pw@proxy.internal:3128")
    provider = Provider(settings("http://api.example/v1"))
    assert provider.proxy == URL("http://proxy.internal:3128")
    assert provider.proxy_auth is not None and provider.proxy_auth.login == "user"
    assert provider.url == URL("http://api.example/v1/chat/completions")
    monkeypatch.setenv("NO_PROXY", "api.example")
    assert Provider(settings("http://api.example/v1")).proxy is None
