"""Reading an export bundle as hostile input: which of its files may become a model folder.

Only the model folder's known files are taken: ``easel_model.json``, ``holdout.parquet`` and each
kept candidate's ``.txt``, ``.json`` or ``.npz`` file in ``candidates/<id>/``. Everything else
(``predict.py``, the notebook, the reports, the training data, any other file) is left in the zip.
Before a byte is unpacked, the whole archive is refused for an entry that could escape the folder
(an absolute path, ``..``, a drive letter, a link), a file that could run code when read (a
pickle, a joblib file, a NumPy array of Python objects), an encrypted entry, or more files or
bytes than a model can have. Unpacking counts the bytes it writes, whatever the zip declares.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

import numpy as np

from automl.artifact import HOLDOUT_FILE, META_FILE
from automl.errors import ArtifactError
from automl.words import plural

MAX_ENTRIES = 10_000  # entries in the whole zip (a bundle has a dozen or so)
MAX_MODEL_FILES = 1_000  # files taken into the model folder
MAX_MODEL_BYTES = 2 * 1024**3  # bytes unpacked into the model folder, in all
MAX_MANIFEST_BYTES = 64 * 1024
CHUNK = 1024 * 1024
MANIFEST = "bundle.json"
CODE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".dill", ".pt", ".pth", ".sav")
CANDIDATE_SUFFIXES = (".txt", ".json", ".npz")
_PICKLE = re.compile(rb"\x80[\x02-\x05]")  # the start of a pickle of protocol 2 to 5
_DRIVE = re.compile(r"^[A-Za-z]:")
_CANDIDATE = re.compile(r"candidates/\d{1,9}/[A-Za-z0-9_.-]{1,100}")


def refused(bundle: str, why: str) -> ArtifactError:
    return ArtifactError(
        f"The bundle '{bundle}' was not imported: {why} Nothing was imported. Import a bundle "
        "written by Easel's export (automl export, or Export on the Models page), as it was "
        "written."
    )


@dataclass
class Plan:
    """What an import takes: the model's files (name in the zip -> path in the folder)."""

    root: str  # the model folder inside the zip ("model/")
    files: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    manifest: zipfile.ZipInfo | None = None


def _parts(name: str, bundle: str) -> list[str]:
    """The parts of an entry's path, refused when it could land outside the folder."""
    if "\x00" in name or name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise refused(bundle, f"its file '{_shown(name)}' has an absolute path.")
    parts = re.split(r"[\\/]+", name)
    if any(p == ".." for p in parts):
        raise refused(bundle, f"its file '{_shown(name)}' points outside its folder ('..').")
    if any(_DRIVE.match(p) for p in parts):
        raise refused(bundle, f"its file '{_shown(name)}' names a drive.")
    return [p for p in parts if p not in ("", ".")]


def _shown(name: str) -> str:
    text = name.encode("unicode_escape", "replace").decode("ascii")
    return text if len(text) <= 80 else text[:77] + "..."


def plan(zf: zipfile.ZipFile, bundle: str) -> Plan:
    """Check every entry of the archive and choose the model's files (no byte unpacked)."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise refused(bundle, f"it has {len(infos):,} files, more than a bundle can have.")
    seen: set[str] = set()
    paths: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        parts = _parts(info.filename, bundle)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise refused(bundle, f"its file '{_shown(info.filename)}' is a link.")
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):  # 0: a zip without types
            raise refused(bundle, f"its entry '{_shown(info.filename)}' is not a file.")
        if info.flag_bits & 0x1:
            raise refused(bundle, f"its file '{_shown(info.filename)}' is encrypted.")
        key = "/".join(parts)
        if info.is_dir() or not parts:
            continue
        if key.lower() in seen:
            raise refused(bundle, f"it holds the file '{_shown(key)}' twice.")
        seen.add(key.lower())
        if key.lower().endswith(CODE_SUFFIXES):
            raise refused(
                bundle,
                f"it holds '{_shown(key)}', a kind of file that can run code when it is read "
                "(a pickle). Easel never writes one.",
            )
        paths[key] = info
    root = _model_root(paths, bundle)
    out = Plan(root=root, manifest=paths.get(MANIFEST))
    total = 0
    for key, info in paths.items():
        rel = key[len(root) :] if key.startswith(root) else None
        if rel is None or not (
            rel in (META_FILE, HOLDOUT_FILE)
            or (_CANDIDATE.fullmatch(rel) and rel.lower().endswith(CANDIDATE_SUFFIXES))
        ):
            if key.lower().endswith((".npy", ".npz")):  # never taken, but never a pickle
                if info.file_size > MAX_MODEL_BYTES:
                    raise refused(
                        bundle, f"its file '{_shown(key)}' is larger than a model's files can be."
                    )
                _check_arrays(zf, info, key, bundle)
            if key != MANIFEST:
                out.ignored.append(key)
            continue
        out.files[info.filename] = rel
        total += info.file_size
        if len(out.files) > MAX_MODEL_FILES or total > MAX_MODEL_BYTES:
            raise refused(
                bundle,
                f"its model files unpack to more than {plural(MAX_MODEL_FILES, 'file')} or "
                f"{MAX_MODEL_BYTES / 1024**2:,.0f} MB, more than a model can have.",
            )
    return out


def _model_root(paths: dict[str, zipfile.ZipInfo], bundle: str) -> str:
    """``model/`` in a bundle; the one folder of a zip of a model folder (the catalog's
    export) also works."""
    if f"model/{META_FILE}" in paths:
        return "model/"
    roots = {k.split("/")[0] for k in paths if k.count("/") == 1 and k.endswith(f"/{META_FILE}")}
    if META_FILE in paths:
        return ""
    if len(roots) == 1:
        return roots.pop() + "/"
    raise refused(
        bundle,
        f"it holds no model: an export bundle has the model's {META_FILE} in its 'model' folder.",
    )


def unpack(zf: zipfile.ZipFile, p: Plan, folder: Path, bundle: str) -> None:
    """Write the planned files into ``folder`` (created; the caller removes it on failure),
    counting the bytes written, and check their content: no pickle, no object arrays."""
    folder.mkdir(parents=True)
    written = 0
    for name, rel in p.files.items():
        target = folder.joinpath(*PurePosixPath(rel).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        info = zf.getinfo(name)
        try:
            with zf.open(info) as src, open(target, "xb") as dst:
                first = True
                while chunk := src.read(CHUNK):
                    if first and _PICKLE.match(chunk):
                        raise refused(
                            bundle,
                            f"its file '{_shown(name)}' is a pickle, which can run code when it "
                            "is read. Easel never writes one.",
                        )
                    first = False
                    written += len(chunk)
                    if written > MAX_MODEL_BYTES:
                        raise refused(
                            bundle,
                            f"its model files unpack to more than "
                            f"{MAX_MODEL_BYTES / 1024**2:,.0f} MB, more than a model can have.",
                        )
                    dst.write(chunk)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
            raise refused(bundle, f"its file '{_shown(name)}' is damaged ({exc}).") from None
        if rel.lower().endswith(".npz"):
            with open(target, "rb") as fh:
                _check_npz(fh, name, bundle)


def _check_arrays(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, bundle: str) -> None:
    """A NumPy file anywhere in the bundle must not hold Python objects (read with pickle)."""
    try:
        with zf.open(info) as fh:
            if key.lower().endswith(".npy"):
                _check_npy(fh, key, bundle)
            else:
                _check_npz(fh, key, bundle)
    except (zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
        raise refused(bundle, f"its file '{_shown(key)}' is damaged ({exc}).") from None


def _check_npz(fh: IO[bytes], key: str, bundle: str) -> None:
    try:
        with zipfile.ZipFile(fh) as inner:
            members = inner.infolist()
            if len(members) > MAX_ENTRIES:
                raise refused(bundle, f"its file '{_shown(key)}' holds too many arrays.")
            for member in members:
                with inner.open(member) as arr:
                    _check_npy(arr, f"{key}:{member.filename}", bundle)
    except (zipfile.BadZipFile, EOFError, NotImplementedError, ValueError) as exc:
        raise refused(bundle, f"its file '{_shown(key)}' is damaged ({exc}).") from None


def _check_npy(fh: IO[bytes], key: str, bundle: str) -> None:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            _, _, dtype = fmt.read_array_header_1_0(fh)
        else:
            _, _, dtype = fmt.read_array_header_2_0(fh)
    except (ValueError, EOFError, OSError) as exc:
        raise refused(bundle, f"its array file '{_shown(key)}' is damaged ({exc}).") from None
    if dtype.hasobject:
        raise refused(
            bundle,
            f"its array file '{_shown(key)}' holds Python objects, which NumPy reads with "
            "pickle (code could run). Easel never writes one.",
        )


def read_manifest(zf: zipfile.ZipFile, p: Plan) -> dict[str, object]:
    """The bundle's ``bundle.json`` (what it says about the model), or {} when absent or odd."""
    import json

    info = p.manifest
    if info is None or info.file_size > MAX_MANIFEST_BYTES:
        return {}
    try:
        with zf.open(info) as fh:
            data = json.loads(fh.read(MAX_MANIFEST_BYTES + 1).decode("utf-8"))
    except (ValueError, zipfile.BadZipFile, EOFError, NotImplementedError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
