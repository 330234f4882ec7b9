"""The one key-term splitter and the one file hasher of the generation app."""

from __future__ import annotations

import hashlib
from pathlib import Path

from generation.files import file_sha256
from generation.validation import split_key_terms


def test_split_key_terms_on_semicolons_and_new_lines_trimmed_without_empties() -> None:
    assert split_key_terms(" red cat ; blue hat\n\n green ;; ") == ["red cat", "blue hat", "green"]
    assert split_key_terms("") == []


def test_file_sha256_is_the_sha256_of_the_bytes_across_read_blocks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # over one 1 MiB block
    path = tmp_path / "weights.safetensors"
    path.write_bytes(data)
    assert file_sha256(path) == file_sha256(str(path)) == hashlib.sha256(data).hexdigest()
