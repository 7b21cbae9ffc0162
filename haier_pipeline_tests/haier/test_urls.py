"""https only: plain http is allowed to loopback, or anywhere only when explicitly allowed."""

from __future__ import annotations

import pytest

from haier_pipeline.api_urls import http_url_problem, insecure_http_problems


@pytest.mark.parametrize(
    "url",
    [
        "https://openplat-bj-aliyun.haier.net",
        "https://10.0.0.5:8443/",
        "http://127.0.0.1:8765",
        "http://127.8.9.10",
        "http://localhost:8765",
        "http://LOCALHOST.",
        "http://[::1]:8765",
    ],
)
def test_https_anywhere_and_http_to_loopback_are_accepted(url: str) -> None:
    assert insecure_http_problems(url, None, False) == []


@pytest.mark.parametrize(
    "url", ["http://10.255.255.1", "http://openplat.haier.net", "http://0.0.0.0:8765", "http://[::2]"]
)
def test_plain_http_to_any_other_host_is_refused_unless_allowed(url: str) -> None:
    (problem,) = insecure_http_problems(url, None, False)
    assert problem.startswith("HAIER_BASE_URL=")
    assert "HAIER_ALLOW_INSECURE_HTTP=1" in problem
    assert insecure_http_problems(url, None, True) == []


def test_the_token_url_is_checked_on_its_own() -> None:
    (problem,) = insecure_http_problems("https://openplat.haier.net", "http://openplat.haier.net/oauth2/auth", False)
    assert problem.startswith("HAIER_TOKEN_URL=")


def test_credentials_in_a_url_never_appear_in_the_problem() -> None:
    (problem,) = insecure_http_problems("http://user:hunter2-secret@openplat.haier.net:80/x", None, False)
    assert "hunter2" not in problem
    assert "openplat.haier.net:80" in problem


@pytest.mark.parametrize("url", ["ftp://openplat.haier.net", "openplat.haier.net", "http://[::1"])
def test_other_schemes_and_non_urls_are_refused_even_when_http_is_allowed(url: str) -> None:
    assert len(insecure_http_problems(url, None, True)) == 1


@pytest.mark.parametrize(
    ("url", "used"),
    [
        ("HTTP://127.0.0.1:8765/", "http://127.0.0.1:8765"),
        ("HTTPS://OpenPlat-BJ-Aliyun.Haier.NET", "https://openplat-bj-aliyun.haier.net"),
        ("Https://openplat.haier.net/Gateway/", "https://openplat.haier.net/Gateway"),
    ],
)
def test_scheme_and_host_are_case_insensitive(url: str, used: str) -> None:
    """`HTTP://` in capitals got "is not an http(s) URL", then a refusal that named neither."""
    assert http_url_problem(url) == (used, None)
    assert insecure_http_problems(used, None, False) == []


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("openplat-bj-aliyun.haier.net", "no scheme: write https://openplat-bj-aliyun.haier.net"),
        ("localhost:8765", "no scheme: write http://localhost:8765"),
        ("htps://openplat.haier.net", "did you mean https://openplat.haier.net?"),
        ("https:/openplat.haier.net", "did you mean https://openplat.haier.net?"),
        ("http//127.0.0.1:8765", "did you mean http://127.0.0.1:8765?"),
        ("https:///openplat.haier.net", "a slash too many after https: write https://openplat.haier.net"),
        ("'https://openplat.haier.net'", "quoted: remove the quotes"),
        ("https://openplat.haier.net:80a", "the port is not a number"),
        ("https://", "no host"),
        ("https://openplat.haier.net/?x=1", "a base URL takes none"),
        ("ftp://openplat.haier.net", "scheme 'ftp'"),
    ],
)
def test_each_url_mistake_gets_its_own_words(url: str, said: str) -> None:
    _, problem = http_url_problem(url)
    assert problem is not None and said in problem, problem
