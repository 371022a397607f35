import json

import pytest

import automl
from automl.errors import ArtifactError


def test_load_missing_directory(tmp_path):
    with pytest.raises(ArtifactError, match="No model directory"):
        automl.load(tmp_path / "nope")


def test_load_directory_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ArtifactError, match="is not an Easel model"):
        automl.load(tmp_path)


def test_unknown_schema_version(binary_model, tmp_path):
    path = binary_model.save(tmp_path / "m")
    meta = json.loads((path / "easel_model.json").read_text())
    meta["schema_version"] = 99
    (path / "easel_model.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=r"newer Easel \(schema 99\).*reads schema 9"):
        automl.load(path)


def test_damaged_metadata_and_model_file(binary_model, tmp_path):
    path = binary_model.save(tmp_path / "m")
    (path / "easel_model.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="damaged"):
        automl.load(path)
    path = binary_model.save(tmp_path / "m2")
    for f in path.rglob("model.txt"):
        f.write_text("garbage")
    with pytest.raises(ArtifactError, match="model.txt. is damaged"):
        automl.load(path)


def test_save_refuses_to_overwrite_foreign_directory(binary_model, tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="refusing to overwrite"):
        binary_model.save(tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_save_over_existing_model_replaces_it(binary_model, tmp_path):
    binary_model.save(tmp_path / "m")
    binary_model.save(tmp_path / "m")
    assert automl.load(tmp_path / "m").task == "binary"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
