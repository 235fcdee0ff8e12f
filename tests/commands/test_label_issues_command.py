"""``curata label-issues``; named ``*_command`` so its basename differs from the scorer's test module."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from curata.commands.label_issues import label_issues
from curata.errors import ConfigError, InputError

# the hand-worked example of tests/label/test_prune.py: PBNR flags record 3 (given 0, suggested 1)
P = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.05, 0.5, 0.45], [0.1, 0.9, 0.0],
              [0.05, 0.9, 0.05], [0.05, 0.9, 0.05], [0.1, 0.8, 0.1],
              [0.05, 0.05, 0.9], [0.05, 0.05, 0.9], [0.1, 0.1, 0.8]])
Y = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2], dtype=np.uint16)


@pytest.fixture
def files(tmp_path):
    np.save(tmp_path / "given.npy", Y)
    np.save(tmp_path / "pyx.npy", P)
    return tmp_path / "given.npy", tmp_path / "pyx.npy"


def test_writes_table_and_summary(files, tmp_path, capsys):
    labels, probs = files
    res = label_issues(labels, probs, tmp_path / "out")
    table = pd.read_parquet(tmp_path / "out" / "label_issues.parquet")
    assert list(table.columns) == ["index", "is_label_issue", "label_issue_score", "suggested_label"]
    assert table["index"].tolist() == list(range(10))
    assert np.flatnonzero(table["is_label_issue"]).tolist() == [3]
    assert table["label_issue_score"].tolist() == pytest.approx(P[np.arange(10), Y])
    assert table["suggested_label"][3] == 1 and table["suggested_label"].isna().sum() == 9
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["inputs"]["probs"]["sha256"] == hashlib.sha256(probs.read_bytes()).hexdigest()
    assert summary["inputs"]["labels"]["n"] == 10 and summary["inputs"]["probs"]["shape"] == [10, 3]
    assert summary["settings"] == {"filter_by": "prune_by_noise_rate", "rank_by": "self_confidence",
                                   "frac_noise": 1.0, "min_examples_per_class": 1}
    assert summary["n_issues"] == 1 and summary["estimated_errors"] == 1 and summary["ranked_issues"] == [3]
    assert summary["calibrated_joint"] == [[3, 1, 0], [0, 3, 0], [0, 0, 3]]
    assert summary["noise_matrix"][0] == pytest.approx([1, 0.25, 0])
    out = capsys.readouterr().out
    assert out.startswith("label-issues: 1 of 10 records flagged (10.0%) by prune_by_noise_rate, "
                          "estimated noise 10.0% (1 errors)")
    assert res.n_issues == 1


def test_through_typer(files, tmp_path):
    app = typer.Typer()
    app.command()(label_issues)
    app.command("noop")(lambda: None)  # two commands, so the name is needed as on the real CLI
    labels, probs = files
    result = CliRunner().invoke(app, ["label-issues", "--labels", str(labels), "--probs", str(probs),
                                      "--filter-by", "prune_by_class", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "1 of 10 records flagged" in result.output
    table = pd.read_parquet(tmp_path / "o" / "label_issues.parquet")
    assert np.flatnonzero(table["is_label_issue"]).tolist() == [2]


def test_labels_as_text(files, tmp_path):
    _, probs = files
    txt = tmp_path / "given.csv"
    txt.write_text("label\n" + "\n".join(map(str, Y)) + "\n")
    res = label_issues(txt, probs, tmp_path / "out", filter_by="predicted_neq_given")
    assert np.flatnonzero(res.mask).tolist() == [2, 3]
    txt.write_text("0\n1\ncat\n")
    with pytest.raises(InputError, match=r"given.csv:3: 'cat' is not an integer"):
        label_issues(txt, probs, tmp_path / "out")


def bad(tmp_path, name, array):
    path = tmp_path / name
    np.save(path, array) if name.endswith(".npy") else path.write_text(str(array))
    return path


def test_bad_files_name_the_file_and_the_fix(files, tmp_path):
    labels, probs = files
    out = tmp_path / "out"
    cases = [
        ((tmp_path / "nope.npy", probs), r"nope.npy: labels file not found"),
        ((labels, tmp_path / "nope.npy"), r"nope.npy: probabilities file not found"),
        ((bad(tmp_path, "given.json", "[0, 1]"), probs), r"given.json: unsupported labels file type '.json'"),
        ((labels, bad(tmp_path, "p.csv", "0.5,0.5")), r"p.csv: unsupported probabilities file type"),
        ((bad(tmp_path, "y2.npy", np.zeros((10, 2), int)), probs), r"y2.npy: labels have shape \(10, 2\)"),
        ((bad(tmp_path, "yf.npy", Y + 0.5), probs), r"yf.npy: labels have dtype float64"),
        ((labels, bad(tmp_path, "p1.npy", P[:, 0])), r"p1.npy: probabilities have shape \(10,\)"),
        ((labels, bad(tmp_path, "pi.npy", (P > 0.5).astype(int))), r"pi.npy: probabilities have dtype int"),
        ((labels, bad(tmp_path, "p9.npy", P[:9])), r"given.npy: 10 labels but p9.npy has 9 rows"),
        ((labels, bad(tmp_path, "ps.npy", P * 1.1)), r"ps.npy: row 0 sums to 1.1"),
        ((bad(tmp_path, "y5.npy", np.where(Y == 2, 5, Y)), probs), r"y5.npy: label 5 at row 7 is outside 0"),
    ]
    for (y, p), match in cases:
        with pytest.raises(InputError, match=match) as err:
            label_issues(y, p, out)
        assert "\n" not in str(err.value) and " — " in str(err.value)  # one line, with the fix
    corrupt = tmp_path / "corrupt.npy"
    corrupt.write_bytes(b"not numpy")
    with pytest.raises(InputError, match="corrupt.npy: not a readable numeric .npy file"):
        label_issues(corrupt, probs, out)
    with pytest.raises(ConfigError, match="--frac-noise"):
        label_issues(labels, probs, out, frac_noise=-0.1)
    with pytest.raises(ConfigError, match="--filter-by.*unknown rule"):
        label_issues(labels, probs, out, filter_by="nope")
    assert not out.exists()
