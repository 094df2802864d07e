"""Assembling the model file from its parts: atomic, verified, reused, rebuilt when corrupt."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from actor.llm import modelfile
from actor.llm.modelfile import EMBEDDED_MODEL, ModelFileError, assemble


@pytest.fixture
def parts(tmp_path: Path) -> tuple[list[Path], int, str]:
    chunks = [os.urandom(100_000 + i) for i in range(3)]
    paths = []
    for i, chunk in enumerate(chunks):
        p = tmp_path / f"part{i}.bin"
        p.write_bytes(chunk)
        paths.append(p)
    whole = b"".join(chunks)
    return paths, len(whole), hashlib.sha256(whole).hexdigest()


def test_joins_parts_in_order_and_verifies(tmp_path, parts):
    paths, size, digest = parts
    target = assemble(paths, tmp_path / "cache" / "m.gguf", size, digest)
    assert target.read_bytes() == b"".join(p.read_bytes() for p in paths)
    assert not list(target.parent.glob("*.part")), "temporary file left behind"


def test_reuses_a_verified_file_without_reading_parts(tmp_path, parts):
    paths, size, digest = parts
    target = assemble(paths, tmp_path / "m.gguf", size, digest)
    mtime = target.stat().st_mtime_ns
    for p in paths:
        p.unlink()  # if assemble touched the parts again it would fail
    assert assemble(paths, target, size, digest) == target
    assert target.stat().st_mtime_ns == mtime


def test_corrupt_file_is_detected_and_rebuilt(tmp_path, parts):
    paths, size, digest = parts
    target = assemble(paths, tmp_path / "m.gguf", size, digest)
    data = bytearray(target.read_bytes())
    data[5000] ^= 0xFF  # same size, one flipped byte
    target.write_bytes(bytes(data))
    assemble(paths, target, size, digest)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest


def test_partial_file_without_stamp_is_rebuilt(tmp_path, parts):
    paths, size, digest = parts
    target = tmp_path / "m.gguf"
    target.write_bytes(paths[0].read_bytes())  # as if an old copy was interrupted
    assemble(paths, target, size, digest)
    assert target.stat().st_size == size


def test_bad_parts_raise_and_leave_nothing(tmp_path, parts):
    paths, size, digest = parts
    target = tmp_path / "m.gguf"
    with pytest.raises(ModelFileError, match="reinstall"):
        assemble(paths[:2], target, size, digest)
    assert not target.exists()
    assert not list(tmp_path.glob(".m.gguf.*"))


def test_missing_part_package_names_the_package(monkeypatch):
    spec = modelfile.ModelFileSpec("x", "x.gguf", 1, "0" * 64, ("no_such_part_module",), ("no-such-part==1",))
    with pytest.raises(ModelFileError, match="pip install no-such-part==1"):
        modelfile.part_paths(spec)


def test_embedded_parts_are_installed_and_add_up_to_the_size():
    paths = modelfile.part_paths()
    assert len(paths) == 22
    assert sum(p.stat().st_size for p in paths) == EMBEDDED_MODEL.size
