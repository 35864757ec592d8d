"""Bundles: reproducible bytes, ignore rules, no credentials, safe extraction."""

from __future__ import annotations

import io
import logging
import os
import shutil
import tarfile
import time
from pathlib import Path

import pytest

from cloudml.errors import BundleError, UnsafeArchiveError
from cloudml.packaging import build, safe_extract


def make_tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_text("print('hi')\n")
    (root / "pkg" / "model.py").write_text("W = 1\n")
    (root / "requirements.txt").write_text("numpy\n")
    return root


def names(bundle_path: Path) -> list[str]:
    with tarfile.open(bundle_path) as tar:
        return tar.getnames()


def test_identical_trees_give_identical_bytes(tmp_path: Path) -> None:
    a = make_tree(tmp_path / "a")
    b = make_tree(tmp_path / "b")
    os.utime(b / "train.py", (time.time() - 86400, time.time() - 86400))  # different mtime, same content
    ba = build(a, tmp_path / "out-a", entry_point="train.py")
    bb = build(b, tmp_path / "out-b", entry_point="train.py")
    assert ba.sha256 == bb.sha256
    assert ba.path.read_bytes() == bb.path.read_bytes()
    assert ba.path.name == f"{ba.sha256}.tar.gz"


def test_changing_one_file_changes_the_hash(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    first = build(src, tmp_path / "out", entry_point="train.py")
    (src / "pkg" / "model.py").write_text("W = 2\n")
    second = build(src, tmp_path / "out", entry_point="train.py")
    assert first.sha256 != second.sha256


def test_members_are_normalised(tmp_path: Path) -> None:
    bundle = build(make_tree(tmp_path / "src"), tmp_path / "out", entry_point="train.py")
    with tarfile.open(bundle.path) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, "", "")}
    assert len({m.mtime for m in members}) == 1
    assert "cloudml_launcher.py" in [m.name for m in members]
    assert "cloudml_runtime/launcher.py" in [m.name for m in members]


CREDENTIAL_FILES = (".env", ".env.production", "server.pem", "deploy.key", ".aws/credentials", "id_rsa")


def credential_tree(root: Path) -> Path:
    src = make_tree(root)
    (src / ".env").write_text("API_TOKEN=abc\n")
    (src / ".env.production").write_text("X=1\n")
    (src / ".git").mkdir()
    (src / ".git" / "config").write_text("[core]\n")
    (src / "server.pem").write_text("not really a cert\n")
    (src / "deploy.key").write_text("x\n")
    (src / ".aws").mkdir()
    (src / ".aws" / "credentials").write_text("[default]\naws_access_key_id = x\n")
    (src / "id_rsa").write_text("x\n")
    (src / ".venv" / "lib").mkdir(parents=True)
    (src / ".venv" / "lib" / "site.py").write_text("x\n")
    (src / "pkg" / "__pycache__").mkdir()
    (src / "pkg" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0")
    return src


def test_credential_named_files_refuse_the_bundle_naming_each(tmp_path: Path) -> None:
    src = credential_tree(tmp_path / "src")
    with pytest.raises(BundleError) as caught:
        build(src, tmp_path / "out", entry_point="train.py")
    for name in CREDENTIAL_FILES:
        assert f"{name} (a credential file name)" in str(caught.value)
    assert ".git" not in str(caught.value) and ".venv" not in str(caught.value), "VCS and venvs stay silent"
    assert not list(tmp_path.glob("out/*.tar.gz")), "nothing half-written"


def test_credentials_listed_in_cloudmlignore_or_allowed_never_enter_a_bundle(tmp_path: Path, caplog) -> None:
    src = credential_tree(tmp_path / "src")
    (src / ".cloudmlignore").write_text(".env*\n*.pem\n*.key\n.aws/\nid_rsa\n")
    acknowledged = build(src, tmp_path / "out", entry_point="train.py")
    (src / ".cloudmlignore").unlink()
    with caplog.at_level(logging.WARNING, logger="cloudml.packaging"):
        allowed = build(src, tmp_path / "out2", entry_point="train.py", allow_secrets=True)
    assert "id_rsa" in caplog.text and ".aws/credentials" in caplog.text
    for bundle in (acknowledged, allowed):
        inside = names(bundle.path)
        for secret in (*CREDENTIAL_FILES, ".git/config", ".venv/lib/site.py", "pkg/__pycache__/model.cpython-311.pyc"):
            assert secret not in inside
        assert {"train.py", "pkg/model.py", "requirements.txt"} <= set(inside)
        assert ".env" in bundle.excluded and ".git/" in bundle.excluded


def test_the_issue_10_tree_is_refused_naming_each_file(tmp_path: Path) -> None:
    """Acceptance (issue 10): id_rsa, .aws/credentials, .env, a service account key and an AWS secret in code."""
    src = make_tree(tmp_path / "src")
    (src / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n")
    (src / ".aws").mkdir()
    (src / ".aws" / "credentials").write_text("[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n")
    (src / ".env").write_text("DB_PASSWORD=hunter2\n")
    (src / "service-account.json").write_text(
        '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n"}')
    (src / "config.py").write_text('AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n')
    with pytest.raises(BundleError) as caught:
        build(src, tmp_path / "out", entry_point="train.py")
    for name in ("id_rsa", ".aws/credentials", ".env", "service-account.json", "config.py"):
        assert name in str(caught.value)
    assert "private key" in str(caught.value) and "AWS secret access key" in str(caught.value)


def test_file_holding_a_private_key_refuses_the_bundle(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    (src / "service-account.json").write_text(
        '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n"}')
    (src / "config.py").write_text('AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n')
    with pytest.raises(BundleError) as caught:
        build(src, tmp_path / "out", entry_point="train.py")
    assert "service-account.json" in str(caught.value) and "config.py" in str(caught.value)
    assert not list(tmp_path.glob("out/*.tar.gz")), "nothing half-written"
    allowed = build(src, tmp_path / "out", entry_point="train.py", allow_secrets=True)
    assert "config.py" in names(allowed.path)


def test_cloudmlignore_rules(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    (src / "data").mkdir()
    (src / "data" / "big.bin").write_bytes(b"x")
    (src / "data" / "keep.txt").write_text("k")
    (src / "notes.md").write_text("n")
    (src / "pkg" / "notes.md").write_text("n")
    (src / ".cloudmlignore").write_text("# comments are ignored\ndata/\n!data/keep.txt\n/notes.md\n")
    inside = names(build(src, tmp_path / "out", entry_point="train.py").path)
    assert "data/big.bin" not in inside
    assert "notes.md" not in inside and "pkg/notes.md" in inside


def test_entry_point_excluded_or_missing_is_an_error(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    (src / ".cloudmlignore").write_text("train.py\n")
    with pytest.raises(BundleError, match="excluded by an ignore rule"):
        build(src, tmp_path / "out", entry_point="train.py")
    with pytest.raises(BundleError, match="not inside source_dir"):
        build(src, tmp_path / "out", entry_point="../elsewhere.py")


def test_large_files_are_listed_in_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = make_tree(tmp_path / "src")
    with open(src / "weights.bin", "wb") as f:  # sparse: 101 MB on paper, nothing on disk
        f.truncate(101 * 1024 * 1024)
    (src / ".cloudmlignore").write_text("")
    with caplog.at_level(logging.WARNING, logger="cloudml.packaging"):
        build(src, tmp_path / "out", entry_point="train.py", compresslevel=1)
    assert "weights.bin" in caplog.text and "100 MB" in caplog.text


def _tar_with(tmp_path: Path, member: tarfile.TarInfo, data: bytes = b"x") -> Path:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return path


@pytest.mark.parametrize("name", ["../escape.txt", "/abs/escape.txt", "ok/../../escape.txt"])
def test_extraction_refuses_path_traversal(tmp_path: Path, name: str) -> None:
    archive = _tar_with(tmp_path, tarfile.TarInfo(name))
    with pytest.raises(UnsafeArchiveError):
        safe_extract(archive, tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists()


def test_extraction_refuses_links(tmp_path: Path) -> None:
    link = tarfile.TarInfo("innocent")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    with pytest.raises(UnsafeArchiveError):
        safe_extract(_tar_with(tmp_path, link), tmp_path / "dest")


def test_round_trip(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    bundle = build(src, tmp_path / "out", entry_point="train.py")
    dest = tmp_path / "dest"
    safe_extract(bundle.path, dest)
    assert (dest / "pkg" / "model.py").read_text() == "W = 1\n"
    shutil.rmtree(dest)


def test_the_threaded_gzip_writes_the_stream_a_single_gzipfile_would(tmp_path: Path) -> None:
    import gzip
    import random

    root = make_tree(tmp_path / "src")
    rng = random.Random(3)
    for i in range(6):  # several MB, over many pipe chunks, compressible and not
        (root / "pkg" / f"blob{i}.bin").write_bytes(rng.randbytes(700_000) + b"text line\n" * 50_000)
    bundle = build(root, tmp_path / "out")
    data = bundle.path.read_bytes()
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
        gz.write(gzip.decompress(data))
    assert raw.getvalue() == data


def test_secret_hints_never_hide_a_match() -> None:
    from cloudml.runtime import secrets

    samples = [b"-----BEGIN OPENSSH PRIVATE KEY-----", b"id=AKIAABCDEFGHIJKLMNOP", b"ASIAABCDEFGHIJKLMNOP",
               b"Aws_Secret_Access_Key = " + b"A" * 40, b'{"type" : "service_account"}', b"AccountKey=" + b"k" * 44]
    for sample in samples:
        expected = [name for name, pattern in secrets.SECRET_CONTENT if pattern.search(sample)]
        assert expected and secrets.secret_kinds(b"\x00noise\n" + sample + b"\xff") == expected
