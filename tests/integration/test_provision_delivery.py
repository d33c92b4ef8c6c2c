"""Provision packages delivered to S3 (moto's server over HTTP): the package arrives whole,
reads back byte for byte and verifies against the district's public key (C5.4-4, design
invariant 9); delivering again is a no-op and repairs an interrupted delivery; another package
under the same id, a missing bucket or a foreign object under the package are refused.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support import canary

from orchestration import cli
from orchestration.cli import packages
from orchestration.errors import BadInput, NotFound, StewardError
from orchestration.provision.delivery import deliver
from orchestration.provision.package import (
    MANIFEST,
    SIGNATURE,
    Package,
    build_package,
    read_package,
    verify_package,
)
from orchestration.provision.signing import key_id, public_key_pem

CREATED = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)
DATA = "data/city_os/od_matrix/2026-11-01/v1.parquet"
SECRET = canary().encode()
HEADER = {"recipient": "member-operator", "dataset": "city_os/od_matrix", "purpose": "planning"}


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def package(key: Ed25519PrivateKey) -> Package:
    contents = {
        DATA: b"PAR1" + SECRET + b"PAR1",
        "quality/report.json": b'{"overall": "passed"}',
        "quality/report.html": b"<h1>report</h1>",
        "terms.json": b'{"onward_transfer": false}',
    }
    return build_package(uuid.uuid4().hex, contents, HEADER, key, CREATED)


def keys_under(client: Any, bucket: str, prefix: str) -> list[str]:
    listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(obj["Key"] for obj in listed)


def test_c5_4_4_a_package_delivered_to_s3_reads_back_and_verifies(
    s3_bucket: tuple[Any, str],
    s3_endpoint: str,
    tmp_path: Path,
    key: Ed25519PrivateKey,
    package: Package,
) -> None:
    client, bucket = s3_bucket
    location = deliver(package, f"s3://{bucket}/provisions/lab", tmp_path, s3_endpoint)
    assert location == f"s3://{bucket}/provisions/lab/{package.package_id}"
    base = f"provisions/lab/{package.package_id}/"
    assert keys_under(client, bucket, base) == sorted(base + p for p in package.files)
    files = read_package(location, s3_endpoint)
    assert files == package.files
    assert verify_package(files, public_key_pem(key)) == []
    # the same package again: nothing is written a second time
    before = client.list_object_versions(Bucket=bucket, Prefix=base)["Versions"]
    assert deliver(package, f"s3://{bucket}/provisions/lab/", tmp_path, s3_endpoint) == location
    after = client.list_object_versions(Bucket=bucket, Prefix=base)["Versions"]
    assert len(after) == len(before) == len(package.files)
    assert list(tmp_path.iterdir()) == []  # nothing local


def test_c5_4_4_a_delivery_at_the_bucket_root_reads_back(
    s3_bucket: tuple[Any, str],
    s3_endpoint: str,
    tmp_path: Path,
    key: Ed25519PrivateKey,
    package: Package,
) -> None:
    _client, bucket = s3_bucket
    location = deliver(package, f"s3://{bucket}", tmp_path, s3_endpoint)
    assert location == f"s3://{bucket}/{package.package_id}"
    assert verify_package(read_package(location, s3_endpoint), public_key_pem(key)) == []


def test_c5_4_4_an_interrupted_s3_delivery_is_completed_by_delivering_again(
    s3_bucket: tuple[Any, str],
    s3_endpoint: str,
    tmp_path: Path,
    key: Ed25519PrivateKey,
    package: Package,
) -> None:
    """As after a crash between the manifest and its signature: the signature is missing, so
    the recipient sees an unsigned package; delivering again puts everything back."""
    client, bucket = s3_bucket
    location = deliver(package, f"s3://{bucket}/p", tmp_path, s3_endpoint)
    client.delete_object(Bucket=bucket, Key=f"p/{package.package_id}/{SIGNATURE}")
    problems = verify_package(read_package(location, s3_endpoint), public_key_pem(key))
    assert len(problems) == 1 and "unsigned" in problems[0]
    assert deliver(package, f"s3://{bucket}/p", tmp_path, s3_endpoint) == location
    assert verify_package(read_package(location, s3_endpoint), public_key_pem(key)) == []


def test_c5_4_4_another_package_under_the_same_id_is_refused_on_s3(
    s3_bucket: tuple[Any, str],
    s3_endpoint: str,
    tmp_path: Path,
    key: Ed25519PrivateKey,
    package: Package,
) -> None:
    _client, bucket = s3_bucket
    location = deliver(package, f"s3://{bucket}/p", tmp_path, s3_endpoint)
    other = build_package(package.package_id, {DATA: b"other"}, HEADER, key, CREATED)
    with pytest.raises(BadInput, match="another package") as caught:
        deliver(other, f"s3://{bucket}/p", tmp_path, s3_endpoint)
    assert location in str(caught.value)
    assert read_package(location, s3_endpoint) == package.files


def test_c5_4_4_a_foreign_object_under_the_package_fails_the_delivery_naming_its_key(
    s3_bucket: tuple[Any, str], s3_endpoint: str, tmp_path: Path, package: Package
) -> None:
    """The listing after the puts is compared with the package: what the recipient would see
    is exactly what was signed, or the delivery fails naming the keys."""
    client, bucket = s3_bucket
    stray = f"p/{package.package_id}/notes.txt"
    client.put_object(Bucket=bucket, Key=stray, Body=SECRET)
    with pytest.raises(StewardError, match="incomplete") as caught:
        deliver(package, f"s3://{bucket}/p", tmp_path, s3_endpoint)
    assert stray in str(caught.value) and SECRET.decode() not in str(caught.value)


def test_c5_4_4_a_missing_bucket_is_refused_and_reading_nothing_is_not_found(
    s3_endpoint: str, tmp_path: Path, package: Package, s3_bucket: tuple[Any, str]
) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        deliver(package, "s3://steward-no-such-bucket/p", tmp_path, s3_endpoint)
    with pytest.raises(NotFound, match="bucket does not exist"):
        read_package("s3://steward-no-such-bucket/p/x", s3_endpoint)
    _client, bucket = s3_bucket
    with pytest.raises(NotFound, match="holds no package"):
        read_package(f"s3://{bucket}/p/{package.package_id}", s3_endpoint)


@pytest.fixture
def run_packages(
    run: Callable[..., tuple[int, str, str]], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., tuple[int, str, str]]:
    """``run`` with the package commands on the ``steward`` group, as the lead registers them."""
    monkeypatch.setitem(cli.cli.commands, "verify-package", packages.verify_package)
    return run


def test_c5_4_4_verify_package_reads_s3_at_the_configured_endpoint(
    run_packages: Callable[..., tuple[int, str, str]],
    s3_bucket: tuple[Any, str],
    s3_endpoint: str,
    tmp_path: Path,
    key: Ed25519PrivateKey,
    package: Package,
) -> None:
    client, bucket = s3_bucket
    location = deliver(package, f"s3://{bucket}/p", tmp_path, s3_endpoint)
    public = tmp_path / "district.pub"
    public.write_bytes(public_key_pem(key))
    env = {"STEWARD_S3_ENDPOINT_URL": s3_endpoint}
    args = ["verify-package", location, "--public-key", str(public), "--json"]
    code, out, err = run_packages(args, env)
    assert code == 0, err
    assert json.loads(out)["key_id"] == key_id(key.public_key())
    client.put_object(Bucket=bucket, Key=f"p/{package.package_id}/{MANIFEST}", Body=b"{}")
    code, out, err = run_packages(args, env)
    assert code == 1 and json.loads(out)["intact"] is False
    assert SECRET.decode() not in out + err
