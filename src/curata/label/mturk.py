"""MTurk reviews of label-error candidates (cleanlab/label-errors ``mturk/*_mturk.json``) as a vote table.

Each reviewed item was shown to five workers with its given label and the label confident learning guessed;
the files keep only the vote *counts* per answer, not who voted. So the table has one pooled annotator
(``POOLED``) and one row per vote: per-worker confusion matrices cannot be estimated from it, only one
answer model shared by all workers (Dawid–Skene with a single annotator = a class-conditional vote model).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: answer codes in the vote table (``label`` column); ``given`` and ``guessed`` double as the classes 0 and 1
RESPONSES = ("given", "guessed", "neither", "both")
POOLED = "mturk"


@dataclass
class MTurkVotes:
    """One dataset's review: the vote table and one row per reviewed item (its labels and vote counts)."""

    dataset: str
    votes: pd.DataFrame  # item, annotator, label (code into RESPONSES), response
    items: pd.DataFrame  # item, given/guessed label (+ name), same_label, and a count per answer


def _answer(key: str, given: str, guessed: str) -> str:
    """A file's answer key as one of RESPONSES (Amazon/IMDB keys name sentiments; others: ``neither``)."""
    k = key.lower()
    if k in ("given", given.lower()):
        return "given"
    if k in ("guessed", guessed.lower()):
        return "guessed"
    return "both" if k == "both" else "neither"


def load_mturk(path: str | os.PathLike) -> MTurkVotes:
    """Read ``<dataset>_mturk.json``. ``item`` is the file's ``id`` (the row index into the dataset's arrays).

    When the guessed label equals the given one (13 MNIST items) the file counts every vote under both keys;
    those votes are counted once, as ``given``, and the item is marked ``same_label``. AudioSet (multi-label)
    is refused.
    """
    path = Path(path)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable MTurk JSON file ({e})") from e
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty JSON list of reviewed items")
    if "given_original_labels" in entries[0]:
        raise ValueError(f"{path}: multi-label reviews (AudioSet) are not supported: each worker could pick "
                         "several labels, which is not a single vote per item")
    rows = []
    for n, e in enumerate(entries):
        try:
            given, guessed, counts = e["given_original_label"], e["our_guessed_label"], e["mturk"]
        except (KeyError, TypeError):
            raise ValueError(f"{path}: entry {n} lacks given_original_label / our_guessed_label / "
                             "mturk") from None
        same = str(given) == str(guessed)
        tally = dict.fromkeys(RESPONSES, 0)
        for key, c in counts.items():
            ans = _answer(key, str(given), str(guessed))
            if same and ans == "guessed":
                continue
            tally[ans] += int(c)
        rows.append({"item": e["id"], "given_label": given, "guessed_label": guessed,
                     "given_label_name": e.get("given_original_label_name", given),
                     "guessed_label_name": e.get("our_guessed_label_name", guessed),
                     "same_label": same, **tally})
    items = pd.DataFrame(rows)
    if items["item"].duplicated().any():
        twice = items.loc[items["item"].duplicated(), "item"].iloc[0]
        raise ValueError(f"{path}: item {twice!r} is listed twice")
    counts = items[list(RESPONSES)].to_numpy(dtype=np.int64)
    if (counts.sum(axis=1) == 0).any():
        raise ValueError(f"{path}: item {items['item'][counts.sum(axis=1) == 0].iloc[0]!r} has no votes")
    flat = counts.ravel()
    item_rep = np.repeat(np.repeat(items["item"].to_numpy(dtype=object), len(RESPONSES)), flat)
    code = np.repeat(np.tile(np.arange(len(RESPONSES)), len(items)), flat)
    votes = pd.DataFrame({"item": item_rep, "annotator": POOLED, "label": code,
                          "response": np.asarray(RESPONSES, dtype=object)[code]})
    return MTurkVotes(path.name.removesuffix("_mturk.json"), votes, items)
