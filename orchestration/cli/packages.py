"""Provision package commands: verify a delivered package, publish the district's signing key
(C5.4-4, design invariant 9). A recipient needs only the public key and the package."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from orchestration.cli import render
from orchestration.cli.context import JSON
from orchestration.cli.params import INSTANT_EXAMPLE, refuse
from orchestration.errors import BadInput
from orchestration.settings import Settings

PUBLIC_KEY_EXAMPLE = "district.pub (from `steward signing-key --out district.pub`)"


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise refuse("STEWARD_AS_OF", f"{exc} (e.g. {INSTANT_EXAMPLE})") from None


def _public_key(path: Path) -> bytes:
    """The public key file's PEM, checked before any package is read."""
    from orchestration.provision.signing import load_public_key

    if not path.is_file():
        raise refuse(
            "--public-key", f"{path} is not a file (e.g. --public-key {PUBLIC_KEY_EXAMPLE})"
        )
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise refuse("--public-key", f"{path} cannot be read ({exc.strerror})") from None
    try:
        load_public_key(pem)
    except ValueError as exc:
        raise refuse(
            "--public-key", f"{path} is {exc} (e.g. --public-key {PUBLIC_KEY_EXAMPLE})"
        ) from None
    return pem


@click.command("verify-package")
@click.argument("location")
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(path_type=Path),
    required=True,
    help="The district's published public key (PEM).",
)
@JSON
def verify_package(location: str, public_key: Path, as_json: bool) -> None:
    """Check that the package at LOCATION (a folder, file:// or s3://bucket/prefix/<id>) is
    signed by the district's key and holds exactly the files its manifest lists (C5.4-4);
    exit 1 listing every problem."""
    from orchestration.provision.package import MANIFEST, SIGNATURE, read_package
    from orchestration.provision.package import verify_package as verify
    from orchestration.provision.signing import key_id, load_public_key

    pem = _public_key(public_key)
    try:
        files = read_package(location, _settings().s3_endpoint_url)
    except BadInput as exc:
        raise refuse("LOCATION", str(exc)) from None
    problems = verify(files, pem)
    signer = key_id(load_public_key(pem))
    count = len([p for p in files if p not in (MANIFEST, SIGNATURE)])
    if as_json:
        render.emit_json(
            {
                "location": location,
                "intact": not problems,
                "files": count,
                "key_id": signer,
                "problems": problems,
            }
        )
    elif problems:
        for problem in problems:
            render.problem(f"FAILED {problem}")
        render.problem(f"not intact: {len(problems)} problem(s) in {location}")
    else:
        render.line(f"intact: {count} files, signed by {signer}")
    sys.exit(1 if problems else 0)


def _check_out(out: Path) -> None:
    """``--out`` names a file in an existing folder; checked before the key is made."""
    if out.is_dir():
        raise refuse("--out", f"{out} is a folder; name a file (e.g. --out {out / 'district.pub'})")
    if not out.parent.is_dir():
        raise refuse("--out", f"folder {out.parent} does not exist (e.g. --out district.pub)")


def _write_public(out: Path, pem: bytes) -> None:
    """Atomically, so a reader never picks up half a key."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise refuse("--out", f"{out} cannot be written ({exc.strerror})") from None


@click.command("signing-key")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the public key PEM to this file instead of printing it.",
)
@JSON
def signing_key(out: Path | None, as_json: bool) -> None:
    """Show the district's public provision signing key and its key id, for recipients to
    verify packages with (C5.4-4); the key pair is made on first use (STEWARD_SIGNING_KEY)."""
    from orchestration.provision.signing import key_id, load_signing_key, public_key_pem

    settings = _settings()
    if out is not None:
        _check_out(out)
    key = load_signing_key(settings.signing_key_path)
    pem = public_key_pem(key)
    signer = key_id(key.public_key())
    if out is not None:
        _write_public(out, pem)
    if as_json:
        render.emit_json(
            {
                "key_id": signer,
                "public_key_pem": pem.decode(),
                "written_to": str(out) if out is not None else None,
            }
        )
    elif out is not None:
        render.line(f"wrote public key {signer} to {out}")
    else:
        click.echo(pem.decode(), nl=False)
        render.line(f"key id: {signer}")
