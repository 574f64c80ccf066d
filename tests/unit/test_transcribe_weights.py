"""The local engine's weights: joined files whose SHA-256 differs from the pinned one are
never loaded, and a user's own model folder must hold a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tossd.errors import TranscribeUnavailable
from tossd.transcribe import weights


def test_a_model_whose_hash_differs_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / weights.BASE_DIR_NAME
    target.mkdir()
    for name in weights.BASE_SHA256:
        (target / name).write_bytes(b"not the model")
    with pytest.raises(TranscribeUnavailable) as refused:
        weights.base_model(tmp_path)
    message = refused.value.message
    assert message.startswith("refusing to load") and weights.BASE_SHA256["model.bin"] in message
    assert not refused.value.transient


def test_the_pinned_hash_is_the_one_of_systran_faster_whisper_base() -> None:
    # The LFS id of model.bin in Systran/faster-whisper-base, pinned by other projects too.
    assert weights.BASE_SHA256["model.bin"] == (
        "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
    )


def test_an_own_model_folder_must_hold_a_model(tmp_path: Path) -> None:
    with pytest.raises(TranscribeUnavailable, match=r"lacks model\.bin, config\.json"):
        weights.own_model(tmp_path)
    (tmp_path / "model.bin").write_bytes(b"x")
    (tmp_path / "config.json").write_text("{}")
    assert weights.own_model(tmp_path) == tmp_path
