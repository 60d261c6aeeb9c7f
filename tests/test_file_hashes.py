"""Remembered file digests (rvc_convert/file_hashes.py): a no-change bundle rerun reads no file, yet
any change to a file, even one that keeps its size and modification time, is read again."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from rvc_convert import file_hashes


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RVC_CONVERT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(file_hashes, "RACY_SECONDS", 0.0)  # files made by a test are seconds old at most
    reads = []
    real = file_hashes.file_sha256
    monkeypatch.setattr(file_hashes, "file_sha256", lambda path: reads.append(path) or real(path))
    return reads


def write(path, data: bytes):
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_an_unchanged_file_is_read_once(cache, tmp_path):
    path = tmp_path / "model.pth"
    digest = write(path, b"weights" * 1000)
    assert file_hashes.sha256_of(path) == digest and file_hashes.sha256_of(path) == digest
    assert cache == [path]


def test_a_rewrite_keeping_size_and_mtime_is_read_again(cache, tmp_path):
    path = tmp_path / "model.pth"
    write(path, b"a" * 4096)
    file_hashes.sha256_of(path)
    stat = path.stat()
    time.sleep(0.05)  # the change time ticks at least every few ms
    changed = write(path, b"b" * 4096)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # size and mtime as before; ctime cannot be set back
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    assert file_hashes.sha256_of(path) == changed
    assert len(cache) == 2


def test_a_file_replaced_by_another_is_read_again(cache, tmp_path):
    path, other = tmp_path / "model.pth", tmp_path / "other.pth"
    write(path, b"x" * 100)
    file_hashes.sha256_of(path)
    digest = write(other, b"y" * 100)
    os.replace(other, path)  # a new inode under the same name
    assert file_hashes.sha256_of(path) == digest and len(cache) == 2


def test_rehash_all_and_cache_off_read_every_time(cache, tmp_path, monkeypatch):
    path = tmp_path / "model.pth"
    write(path, b"z" * 10)
    file_hashes.sha256_of(path)
    with file_hashes.rehash_all():
        file_hashes.sha256_of(path)
    monkeypatch.setenv("RVC_CONVERT_CACHE", "off")
    file_hashes.sha256_of(path)
    assert len(cache) == 3


def test_a_new_file_is_not_remembered_while_its_times_are_racy(tmp_path, monkeypatch):
    monkeypatch.setenv("RVC_CONVERT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "model.pth"
    write(path, b"fresh")
    file_hashes.sha256_of(path)
    assert not (tmp_path / "cache" / "file-sha256").exists()


def test_remember_records_a_digest_for_the_file_as_it_is_now(cache, tmp_path):
    path = tmp_path / "out.safetensors"
    digest = write(path, b"published")
    file_hashes.remember(path, digest)
    assert file_hashes.sha256_of(path) == digest and cache == []


def test_a_damaged_record_is_ignored(cache, tmp_path):
    path = tmp_path / "model.pth"
    digest = write(path, b"q" * 50)
    file_hashes.sha256_of(path)
    (record,) = (tmp_path / "cache" / "file-sha256").iterdir()
    record.write_text("{not json")
    assert file_hashes.sha256_of(path) == digest and len(cache) == 2
