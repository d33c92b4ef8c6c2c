"""Provision packages on the local filesystem: signing and verifying (C5.4-4), building the
manifest that carries the quality report and terms (C5.5-5, C5.6-2), and delivering to a
recipient's folder atomically and idempotently (design invariant 9). S3 delivery:
tests/integration/test_provision_delivery.py.
"""

from __future__ import annotations

import base64
import json
import stat
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support import assert_bad_input, canary

from orchestration import cli
from orchestration.cli import packages
from orchestration.errors import BadInput, NotFound, StewardError
from orchestration.provision import delivery
from orchestration.provision.delivery import check_target, deliver
from orchestration.provision.package import (
    MANIFEST,
    PACKAGE_FORMAT,
    SIGNATURE,
    Package,
    build_package,
    read_package,
    verify_package,
)
from orchestration.provision.signing import key_id, load_signing_key, public_key_pem

CREATED = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
DATA = "data/city_os/od_matrix/2026-11-01/v1.parquet"
SECRET = canary().encode()  # a planted cell value: no message or output may quote it
HEADER = {
    "recipient": "tokyo-research-lab",
    "dataset": "city_os/od_matrix",
    "versions": [{"partition": "2026-11-01", "version": 1}],
    "purpose": "transit-planning",
}


def contents() -> dict[str, bytes]:
    return {
        DATA: b"PAR1" + SECRET + b"PAR1",
        "quality/report.json": b'{"overall": "passed"}',
        "quality/report.html": "<h1>品質報告</h1>".encode(),
        "terms.json": b'{"onward_transfer": false}',
    }


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def package(key: Ed25519PrivateKey) -> Package:
    return build_package(uuid.uuid4().hex, contents(), HEADER, key, CREATED)


def quotes_secret(problems: list[str]) -> bool:
    return any(SECRET.decode() in p for p in problems)


# -- building and verifying -----------------------------------------------------------------
def test_c5_4_4_a_signed_package_verifies_with_the_district_public_key(
    key: Ed25519PrivateKey, package: Package
) -> None:
    assert verify_package(package.files, public_key_pem(key)) == []
    assert set(package.files) == {*contents(), MANIFEST, SIGNATURE}
    manifest = json.loads(package.files[MANIFEST])
    assert manifest == package.manifest
    assert manifest["format"] == PACKAGE_FORMAT
    assert manifest["package_id"] == package.package_id
    assert manifest["created_at"] == "2026-11-05T09:00:00+00:00"
    assert {k: manifest[k] for k in HEADER} == HEADER
    assert [f["path"] for f in manifest["files"]] == sorted(contents())
    assert manifest["signature"] == {
        "algorithm": "Ed25519",
        "key_id": key_id(key.public_key()),
        "file": SIGNATURE,
    }
    body = package.files[MANIFEST]
    assert body.endswith(b"}\n") and "品質報告" not in body.decode()  # no contents inside
    assert (
        body == (json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()
    )
    signature = package.files[SIGNATURE]
    assert signature.endswith(b"\n")
    assert len(base64.b64decode(signature.strip(), validate=True)) == 64
    assert len(package.manifest_sha256) == 64


def test_c5_4_4_key_id_names_the_public_key(key: Ed25519PrivateKey) -> None:
    kid = key_id(key.public_key())
    assert kid.startswith("ed25519:") and len(kid) == len("ed25519:") + 16
    assert kid == key_id(key.public_key())
    assert kid != key_id(Ed25519PrivateKey.generate().public_key())


def tampered(package: Package, change: Callable[[dict[str, bytes]], None]) -> dict[str, bytes]:
    files = dict(package.files)
    change(files)
    return files


def test_c5_4_4_a_changed_data_file_is_named(key: Ed25519PrivateKey, package: Package) -> None:
    same_size = tampered(package, lambda f: f.update({DATA: f[DATA].replace(b"PAR1", b"PAR2", 1)}))
    problems = verify_package(same_size, public_key_pem(key))
    assert len(problems) == 1 and DATA in problems[0] and "sha256" in problems[0]
    longer = tampered(package, lambda f: f.update({DATA: f[DATA] + b"x"}))
    problems = verify_package(longer, public_key_pem(key))
    assert len(problems) == 1 and DATA in problems[0] and "bytes" in problems[0]
    assert not quotes_secret(problems)


def test_c5_4_4_an_added_file_is_named(key: Ed25519PrivateKey, package: Package) -> None:
    files = tampered(package, lambda f: f.update({"data/extra.parquet": SECRET}))
    problems = verify_package(files, public_key_pem(key))
    assert len(problems) == 1 and "data/extra.parquet" in problems[0]
    assert "not listed" in problems[0] and not quotes_secret(problems)


def test_c5_4_4_a_removed_file_is_named(key: Ed25519PrivateKey, package: Package) -> None:
    files = tampered(package, lambda f: f.pop("terms.json"))
    problems = verify_package(files, public_key_pem(key))
    assert len(problems) == 1 and "terms.json" in problems[0] and "missing" in problems[0]


def test_c5_4_4_an_edited_manifest_fails_its_signature(
    key: Ed25519PrivateKey, package: Package
) -> None:
    edited = package.files[MANIFEST].replace(b"transit-planning", b"advertising-targets")
    files = tampered(package, lambda f: f.update({MANIFEST: edited}))
    problems = verify_package(files, public_key_pem(key))
    assert len(problems) == 1 and SIGNATURE in problems[0] and "does not verify" in problems[0]


def test_c5_4_4_a_manifest_hash_fitted_to_a_changed_file_fails_its_signature(
    key: Ed25519PrivateKey, package: Package
) -> None:
    """Changing a file and its hash in the manifest together is still caught, by the signature."""
    changed = build_package(
        package.package_id, {**contents(), DATA: b"other"}, HEADER, key, CREATED
    )
    files = {**package.files, DATA: b"other", MANIFEST: changed.files[MANIFEST]}
    problems = verify_package(files, public_key_pem(key))
    assert [p for p in problems if "does not verify" in p] and len(problems) == 1


def test_c5_4_4_a_signature_from_another_key_is_refused(
    key: Ed25519PrivateKey, package: Package
) -> None:
    other = Ed25519PrivateKey.generate()
    resigned = base64.b64encode(other.sign(package.files[MANIFEST])) + b"\n"
    files = tampered(package, lambda f: f.update({SIGNATURE: resigned}))
    problems = verify_package(files, public_key_pem(key))
    assert len(problems) == 1 and "does not verify" in problems[0]
    # a whole package signed by another key: the signature and the named key both differ
    forged = build_package(package.package_id, contents(), HEADER, other, CREATED)
    problems = verify_package(forged.files, public_key_pem(key))
    assert len(problems) == 2
    assert any("does not verify" in p for p in problems)
    assert any("another signing key" in p for p in problems)


def test_c5_4_4_a_missing_manifest_or_signature_is_named(
    key: Ed25519PrivateKey, package: Package
) -> None:
    pem = public_key_pem(key)
    problems = verify_package(tampered(package, lambda f: f.pop(SIGNATURE)), pem)
    assert len(problems) == 1 and SIGNATURE in problems[0] and "unsigned" in problems[0]
    problems = verify_package(tampered(package, lambda f: f.pop(MANIFEST)), pem)
    assert len(problems) == 1 and MANIFEST in problems[0]
    garbled = tampered(package, lambda f: f.update({SIGNATURE: b"not base64!\n"}))
    assert any("not a base64" in p for p in verify_package(garbled, pem))
    assert all("C5.4-4" in p for p in verify_package({}, pem))


def test_c5_4_4_verify_refuses_a_public_key_that_is_not_ed25519(package: Package) -> None:
    rsa_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for pem in (rsa_pem, b"garbage"):
        with pytest.raises(BadInput, match="Ed25519 public key"):
            verify_package(package.files, pem)


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "../escape.parquet", "data/../../x", "a//b", "./a", "", MANIFEST, SIGNATURE],
)
def test_c5_4_4_build_refuses_unsafe_or_reserved_paths(key: Ed25519PrivateKey, path: str) -> None:
    with pytest.raises(ValueError, match="package path"):
        build_package(uuid.uuid4().hex, {path: b"x"}, HEADER, key, CREATED)


def test_c5_4_4_build_refuses_a_header_that_would_replace_its_own_fields(
    key: Ed25519PrivateKey,
) -> None:
    pid = uuid.uuid4().hex
    with pytest.raises(ValueError, match="files"):
        build_package(pid, contents(), {**HEADER, "files": []}, key, CREATED)
    with pytest.raises(ValueError, match="both a file and a folder"):
        build_package(pid, {"data": b"x", "data/a": b"y"}, HEADER, key, CREATED)
    with pytest.raises(ValueError, match="UTC offset"):
        build_package(pid, contents(), HEADER, key, CREATED.replace(tzinfo=None))
    with pytest.raises(ValueError, match="package_id"):
        build_package("../x", contents(), HEADER, key, CREATED)


# -- the signing key ------------------------------------------------------------------------
def test_c5_4_4_the_signing_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    path = tmp_path / "home" / "keys" / "provision-signing.pem"
    key = load_signing_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    again = load_signing_key(path)
    assert key_id(again.public_key()) == key_id(key.public_key())
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_c5_4_4_a_file_that_is_not_an_ed25519_key_is_refused_naming_it(tmp_path: Path) -> None:
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    encrypted = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass"),
    )
    for name, data in [("garbage.pem", SECRET), ("rsa.pem", rsa_pem), ("locked.pem", encrypted)]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(BadInput) as caught:
            load_signing_key(path)
        assert str(path) in str(caught.value) and "Ed25519" in str(caught.value)
        assert SECRET.decode() not in str(caught.value)
        assert path.read_bytes() == data  # left as it was
    with pytest.raises(BadInput, match="cannot be read"):
        load_signing_key(tmp_path)


# -- delivery targets -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "target",
    [
        "",
        "http://example.org/drop",
        "ftp://host/dir",
        "s3:///prefix",
        "s3://",
        "s3://Bad_Bucket/prefix",
        "s3://bucket/a/../b",
        "file://otherhost/dir",
        "../outside",
        "deliveries/../../outside",
    ],
)
def test_c5_4_4_bad_targets_are_refused_before_any_write(
    tmp_path: Path, package: Package, target: str
) -> None:
    base = tmp_path / "home"
    base.mkdir()
    with pytest.raises(BadInput, match="delivery target"):
        check_target(target, base)
    with pytest.raises(BadInput, match="delivery target"):
        deliver(package, target, base, None)
    assert list(tmp_path.rglob("*")) == [base]


@pytest.mark.parametrize(
    "target", ["s3://bucket/prefix", "s3://bucket", "file:///srv/drop", "/srv/drop", "out/r1"]
)
def test_c5_4_4_supported_targets_are_accepted(tmp_path: Path, target: str) -> None:
    check_target(target, tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- delivery to a folder -------------------------------------------------------------------
def test_c5_4_4_folder_delivery_is_complete_and_verifies(
    tmp_path: Path, key: Ed25519PrivateKey, package: Package
) -> None:
    location = deliver(package, "deliveries/lab", tmp_path, None)
    final = tmp_path / "deliveries" / "lab" / package.package_id
    assert location == final.as_uri()
    assert [p.name for p in final.parent.iterdir()] == [package.package_id]  # no .partial left
    assert read_package(location) == package.files
    assert read_package(str(final)) == package.files
    assert verify_package(read_package(location), public_key_pem(key)) == []


def test_c5_4_4_folder_delivery_is_idempotent_and_refuses_another_package_under_its_id(
    tmp_path: Path, key: Ed25519PrivateKey, package: Package
) -> None:
    target = str(tmp_path / "drop")
    first = deliver(package, target, tmp_path, None)
    assert deliver(package, f"file://{target}", tmp_path, None) == first
    other = build_package(package.package_id, {DATA: b"other"}, HEADER, key, CREATED)
    with pytest.raises(BadInput, match="another package") as caught:
        deliver(other, target, tmp_path, None)
    assert package.package_id in str(caught.value)
    assert read_package(first) == package.files  # the delivered package is untouched
    # a delivered copy altered afterwards is not silently accepted as delivered
    (Path(target) / package.package_id / "terms.json").write_bytes(b"{}")
    with pytest.raises(StewardError, match=r"terms\.json"):
        deliver(package, target, tmp_path, None)


def test_c5_4_4_an_interrupted_folder_delivery_leaves_only_a_partial_folder(
    tmp_path: Path, key: Ed25519PrivateKey, package: Package, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash before the rename leaves ``.<id>.partial`` and no package; the next delivery
    of the same package replaces the partial folder and completes."""
    drop = tmp_path / "drop"

    def crash(src: object, dst: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(delivery.os, "rename", crash)
    with pytest.raises(StewardError, match="nothing was delivered"):
        deliver(package, str(drop), tmp_path, None)
    assert [p.name for p in drop.iterdir()] == [f".{package.package_id}.partial"]
    monkeypatch.undo()
    (drop / f".{package.package_id}.partial" / "stale.bin").write_bytes(b"left over")
    location = deliver(package, str(drop), tmp_path, None)
    assert [p.name for p in drop.iterdir()] == [package.package_id]
    assert verify_package(read_package(location), public_key_pem(key)) == []


def test_c5_4_4_reading_a_missing_package_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="not a folder"):
        read_package(str(tmp_path / "nowhere"))
    with pytest.raises(BadInput, match="neither a folder"):
        read_package("https://example.org/package")


# -- the commands ---------------------------------------------------------------------------
@pytest.fixture
def run_packages(
    run: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    """``run`` with the package commands on the ``steward`` group, as the lead registers them."""
    monkeypatch.setitem(cli.cli.commands, "verify-package", packages.verify_package)
    monkeypatch.setitem(cli.cli.commands, "signing-key", packages.signing_key)
    return run


@pytest.fixture
def delivered(tmp_path: Path, key: Ed25519PrivateKey, package: Package) -> tuple[Path, Path]:
    """A package in a folder and the public key file that verifies it."""
    location = deliver(package, str(tmp_path / "drop"), tmp_path, None)
    public = tmp_path / "district.pub"
    public.write_bytes(public_key_pem(key))
    return Path(location.removeprefix("file://")), public


def test_c5_4_4_verify_package_exits_0_for_an_intact_package(
    run_packages: Callable[..., tuple[int, str, str]],
    delivered: tuple[Path, Path],
    key: Ed25519PrivateKey,
) -> None:
    folder, public = delivered
    code, out, err = run_packages(["verify-package", str(folder), "--public-key", str(public)])
    assert code == 0, err
    assert out.strip() == f"intact: 4 files, signed by {key_id(key.public_key())}"
    code, out, _ = run_packages(
        ["verify-package", folder.as_uri(), "--public-key", str(public), "--json"]
    )
    assert code == 0
    assert json.loads(out) == {
        "location": folder.as_uri(),
        "intact": True,
        "files": 4,
        "key_id": key_id(key.public_key()),
        "problems": [],
    }


def test_c5_4_4_verify_package_exits_1_listing_each_problem(
    run_packages: Callable[..., tuple[int, str, str]], delivered: tuple[Path, Path]
) -> None:
    folder, public = delivered
    (folder / DATA).write_bytes(SECRET)
    (folder / "extra.csv").write_bytes(SECRET)
    code, out, err = run_packages(["verify-package", str(folder), "--public-key", str(public)])
    assert code == 1
    assert DATA in err and "extra.csv" in err and "2 problem(s)" in err
    assert "Traceback" not in err and SECRET.decode() not in out + err
    code, out, _ = run_packages(
        ["verify-package", str(folder), "--public-key", str(public), "--json"]
    )
    assert code == 1 and len(json.loads(out)["problems"]) == 2


def test_c5_4_4_verify_package_refuses_a_missing_location_or_key_with_exit_2(
    run_packages: Callable[..., tuple[int, str, str]], delivered: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, public = delivered
    missing = tmp_path / "no-such-package"
    assert_bad_input(
        *run_packages(["verify-package", str(missing), "--public-key", str(public)]),
        "LOCATION",
        str(missing),
    )
    assert_bad_input(
        *run_packages(["verify-package", str(folder), "--public-key", str(tmp_path / "x.pub")]),
        "--public-key",
        "x.pub",
    )
    (tmp_path / "bad.pub").write_bytes(b"not a key")
    assert_bad_input(
        *run_packages(["verify-package", str(folder), "--public-key", str(tmp_path / "bad.pub")]),
        "--public-key",
        "Ed25519",
    )


def test_c5_4_4_signing_key_publishes_the_public_half_made_on_first_use(
    run_packages: Callable[..., tuple[int, str, str]], cli_env: dict[str, str], tmp_path: Path
) -> None:
    private = Path(cli_env["STEWARD_HOME"]) / "keys" / "provision-signing.pem"
    code, out, err = run_packages(["signing-key"])
    assert code == 0, err
    assert private.is_file() and stat.S_IMODE(private.stat().st_mode) == 0o600
    kid = key_id(load_signing_key(private).public_key())
    assert out.startswith("-----BEGIN PUBLIC KEY-----") and out.rstrip().endswith(kid)
    assert b"PRIVATE" not in out.encode()
    code, out, _ = run_packages(["signing-key", "--json"])
    shown = json.loads(out)
    assert code == 0 and shown["key_id"] == kid and shown["written_to"] is None
    assert shown["public_key_pem"].encode() == public_key_pem(load_signing_key(private))
    public = tmp_path / "district.pub"
    code, out, _ = run_packages(["signing-key", "--out", str(public)])
    assert code == 0 and kid in out and str(public) in out
    assert public.read_bytes() == shown["public_key_pem"].encode()


def test_c5_4_4_signing_key_refuses_a_bad_out_or_key_file_with_exit_2(
    run_packages: Callable[..., tuple[int, str, str]], cli_env: dict[str, str], tmp_path: Path
) -> None:
    home = Path(cli_env["STEWARD_HOME"])
    nowhere = tmp_path / "missing" / "district.pub"
    assert_bad_input(*run_packages(["signing-key", "--out", str(nowhere)]), "--out", "missing")
    assert not home.exists()  # refused before the key was made
    bad = tmp_path / "bad.pem"
    bad.write_bytes(b"not a key")
    assert_bad_input(
        *run_packages(["signing-key"], {"STEWARD_SIGNING_KEY": str(bad)}),
        str(bad),
        "STEWARD_SIGNING_KEY",
    )
    assert bad.read_bytes() == b"not a key"
