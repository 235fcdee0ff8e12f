"""Hugging Face datasets saved with ``save_to_disk``: a Dataset, or one split of a DatasetDict."""

from __future__ import annotations

import json

import pytest

from curata.errors import InputError
from curata.io.base import detect_format, open_reader
from curata.io.fields import FieldMap, load_pool
from curata.io.hf_disk import HFDiskReader

datasets = pytest.importorskip("datasets")


def load(path, **kw):
    return load_pool(path, progress=False, **kw)


@pytest.fixture
def dataset_dir(tmp_path):
    path = tmp_path / "ds"
    datasets.Dataset.from_dict({
        "text": ["refund", "where is it", None, "crash", "   ", "locked out"],
        "label": ["billing", "shipping", "shipping", "technical", "account", None],
    }).save_to_disk(str(path))
    return path


@pytest.fixture
def dict_dir(tmp_path):
    path = tmp_path / "dd"
    datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": ["x", "y", "x"]}),
        "test": datasets.Dataset.from_dict({"text": ["t1", "t2"], "label": ["y", "z"]}),
    }).save_to_disk(str(path))
    return path


def test_dataset_rows_become_records(dataset_dir, rejections, accounted):
    assert detect_format(dataset_dir) == "hf"
    pool = load(dataset_dir, batch_size=4)
    assert pool.df["text"].tolist() == ["refund", "where is it", "crash"]
    assert pool.df["source_line"].tolist() == [1, 2, 4]
    assert set(pool.df["source_file"]) == {str(dataset_dir)}
    assert json.loads(pool.df["raw"].iloc[1]) == {"text": "where is it", "label": "shipping"}
    assert rejections(pool) == [(3, "missing field `text`"), (5, "empty field `text`"),
                                (6, "missing or empty label field `label`")]
    assert (pool.input_format, pool.label_names) == ("hf", ["billing", "shipping", "technical"])
    accounted(pool, 6)


def test_dataset_dict_reads_train_by_default(dict_dir, accounted):
    pool = load(dict_dir)
    assert pool.df["text"].tolist() == ["a", "b", "c"]
    assert pool.df["source_line"].tolist() == [1, 2, 3]
    assert set(pool.df["source_file"]) == {f"{dict_dir}[train]"}
    accounted(pool, 3)


def test_dataset_dict_split_selection(dict_dir, rejections, accounted):
    pool = load(dict_dir, split="test", known_labels=["x", "y"])
    assert pool.df["text"].tolist() == ["t1"]
    assert set(pool.df["source_file"]) == {f"{dict_dir}[test]"}
    assert rejections(pool) == [(2, "unknown label 'z': the pool's labels are ['x', 'y']")]
    assert pool.rejected[0].file == f"{dict_dir}[test]"
    accounted(pool, 2)


def test_unknown_split_names_the_splits(dict_dir):
    with pytest.raises(InputError) as exc:
        load(dict_dir, split="validation")
    assert "dataset has splits ['train', 'test']; choose one" in str(exc.value)
    assert "--split" in str(exc.value)


def test_dict_without_train_needs_a_split(tmp_path, accounted):
    path = tmp_path / "dd"
    dev = datasets.Dataset.from_dict({"text": ["d"], "label": ["x"]})
    datasets.DatasetDict({"dev": dev}).save_to_disk(str(path))
    with pytest.raises(InputError, match=r"dataset has splits \['dev'\]; choose one"):
        load(path)
    accounted(load(path, split="dev"), 1)


def test_strict_names_split_and_row(dataset_dir):
    with pytest.raises(InputError, match=r"ds:3: missing field `text`"):
        load(dataset_dir, strict=True)


def test_content_ids_and_batches(tmp_path):
    path = tmp_path / "ds"
    ds = datasets.Dataset.from_dict({"text": ["same", "same", "other"], "label": [1, 1, 0]})
    ds.save_to_disk(str(path))
    pool = load(path)
    ids = pool.df["id"].tolist()
    assert ids[1] == ids[0] + "~2" and len(set(ids)) == 3
    assert pool.df["label"].tolist() == ["1", "1", "0"]
    reader = open_reader(path, batch_size=2)
    assert isinstance(reader, HFDiskReader)
    assert [[r.line for r in b] for b in reader.iter_batches()] == [[1, 2], [3]]


def test_plain_directory_and_empty_dataset(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match="is a directory but not a Hugging Face dataset"):
        load(tmp_path / "plain")
    path = tmp_path / "empty"
    datasets.Dataset.from_dict({"text": [], "label": []}).save_to_disk(str(path))
    with pytest.raises(InputError, match=r"empty: (cannot load the dataset|the file holds no records)"):
        load(path)  # datasets 5.x cannot reload an empty saved dataset: still an InputError, not a crash
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "state.json").write_text("{not json")
    with pytest.raises(InputError, match=r"broken: cannot load the dataset"):
        load(tmp_path / "broken")


def test_class_label_integers_become_their_names(tmp_path, rejections, accounted):
    """GLUE-style ClassLabel columns store integers; the pool gets the names, -1 (unlabelled) is rejected, and
    the raw record stays verbatim."""
    path = tmp_path / "cl"
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})
    datasets.Dataset.from_dict({"sentence": ["bad", "good", "unknown", "fine"], "label": [0, 1, -1, 1]},
                               features=features).save_to_disk(str(path))
    pool = load(path, fmap=FieldMap(text_field="sentence"))
    assert pool.df["label"].tolist() == ["negative", "positive", "positive"]
    assert pool.label_names == ["negative", "positive"]
    assert json.loads(pool.df["raw"].iloc[1]) == {"sentence": "good", "label": 1}
    assert rejections(pool) == [(3, "missing or empty label field `label`")]
    accounted(pool, 4)
