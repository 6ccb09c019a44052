"""Write small data files of every declared task kind, in every format, from the offline mirror.

    python scripts/make_example_data.py [--mirror ../shared/data] [--out suites/example_data] [--rows 400]

``suites/your_data.toml`` declares tasks on these files (docs/tasks.md, "Your own task"). Nothing
here is committed: the output folder is in .gitignore, and the mirror is never copied whole. The
tests build the same files at test time with :func:`write_examples`.

Files written (split -> file), each kind in the layout a user would have:

- ``reviews_{train,test}.csv``: SST-2 sentences as ``body`` and ``stars`` ("negative"/"positive");
  ``reviews_validation.tsv.gz`` the same as gzipped TSV
- ``pairs_{train,test}.jsonl``: MRPC pairs (``first``, ``second``, ``label`` names)
- ``similarity_{train,test}.parquet``: STS-B pairs and their 0-5 ``score``; ``similarity_test.json``
  the same as a JSON array
- ``ner_{train,validation,test}.parquet``: CoNLL-2003 words and IOB2 tags as lists;
  ``ner_{train,test}.csv.gz``: the same as whitespace-separated strings
- ``qa_{train,test}.jsonl.gz``: SQuAD questions with SQuAD's ``answers``, split by article (the
  mirror holds the validation split only); ``qa_{train,test}.csv``: one ``answer`` per question
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def mirror_rows(mirror: Path, task: str, split: str, rows: int | None = None) -> list[dict[str, Any]]:
    """The first ``rows`` rows of a mirror split (all with None)."""
    out = []
    with gzip.open(mirror / task / f"{split}.jsonl.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            if rows is not None and len(out) >= rows:
                break
            out.append(json.loads(line))
    return out


def names(mirror: Path, task: str, column: str) -> list[str]:
    return json.loads((mirror / task / "labels.json").read_text(encoding="utf-8"))[column]


def sst2_frame(mirror: Path, split: str, rows: int | None) -> pd.DataFrame:
    labels = names(mirror, "sst2", "label")
    data = mirror_rows(mirror, "sst2", split, rows)
    return pd.DataFrame({"id": [r["idx"] for r in data], "body": [r["sentence"] for r in data],
                         "stars": [labels[r["label"]] for r in data]})


def conll_frame(mirror: Path, split: str, rows: int | None, joined: bool = False) -> pd.DataFrame:
    tags = names(mirror, "conll2003", "ner_tags")
    data = mirror_rows(mirror, "conll2003", split, rows)
    words = [r["tokens"] for r in data]
    marks = [[tags[t] for t in r["ner_tags"]] for r in data]
    if joined:
        return pd.DataFrame({"words": [" ".join(w) for w in words], "labels": [" ".join(m) for m in marks]})
    return pd.DataFrame({"words": words, "labels": marks})


def squad_parts(mirror: Path, rows: int | None) -> dict[str, list[dict[str, Any]]]:
    """SQuAD's validation questions split by article: the first 80 % of titles train, the rest test."""
    data = mirror_rows(mirror, "squad", "validation")
    titles = list(dict.fromkeys(r["title"] for r in data))
    cut = set(titles[: int(len(titles) * 0.8)])
    parts = {"train": [r for r in data if r["title"] in cut],
             "test": [r for r in data if r["title"] not in cut]}
    return {k: v[:rows] if rows else v for k, v in parts.items()}


def write_examples(mirror: Path, out: Path, rows: int | None = 400) -> dict[str, Path]:
    """Write every example file under ``out`` (``rows`` rows per split at most); name -> path."""
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    def put(name: str, frame: pd.DataFrame) -> None:
        path = out / name
        fmt = name.removesuffix(".gz").rsplit(".", 1)[1]
        compression = "gzip" if name.endswith(".gz") else None
        if fmt == "csv":
            frame.to_csv(path, index=False, compression=compression)
        elif fmt == "tsv":
            frame.to_csv(path, index=False, sep="\t", compression=compression)
        elif fmt == "jsonl":
            frame.to_json(path, orient="records", lines=True, force_ascii=False, compression=compression)
        elif fmt == "json":
            frame.to_json(path, orient="records", force_ascii=False, compression=compression)
        else:
            frame.to_parquet(path, index=False)
        written[name] = path

    for split in ("train", "test"):
        put(f"reviews_{split}.csv", sst2_frame(mirror, "train" if split == "train" else "validation", rows))
    put("reviews_validation.tsv.gz", sst2_frame(mirror, "validation", rows))
    mrpc = names(mirror, "mrpc", "label")
    for split, source in (("train", "train"), ("test", "validation")):
        data = mirror_rows(mirror, "mrpc", source, rows)
        put(f"pairs_{split}.jsonl", pd.DataFrame({"first": [r["sentence1"] for r in data],
                                                  "second": [r["sentence2"] for r in data],
                                                  "label": [mrpc[r["label"]] for r in data]}))
    for split, source in (("train", "train"), ("test", "validation")):
        data = mirror_rows(mirror, "stsb", source, rows)
        frame = pd.DataFrame({"a": [r["sentence1"] for r in data], "b": [r["sentence2"] for r in data],
                              "score": [float(r["label"]) for r in data]})
        put(f"similarity_{split}.parquet", frame)
        if split == "test":
            put("similarity_test.json", frame)
    for split in ("train", "validation", "test"):
        put(f"ner_{split}.parquet", conll_frame(mirror, split, rows))
    for split in ("train", "test"):
        put(f"ner_{split}.csv.gz", conll_frame(mirror, split, rows, joined=True))
    for split, data in squad_parts(mirror, rows).items():
        put(f"qa_{split}.jsonl.gz", pd.DataFrame({k: [r[k] for r in data] for k in
                                                  ("id", "title", "context", "question", "answers")}))
        put(f"qa_{split}.csv", pd.DataFrame({"question": [r["question"] for r in data],
                                             "passage": [r["context"] for r in data],
                                             "answer": [r["answers"]["text"][0] for r in data],
                                             "start": [r["answers"]["answer_start"][0] for r in data]}))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, default=Path(os.environ.get("TLBENCH_DATA_DIR",
                                                                           ROOT.parent / "shared" / "data")))
    parser.add_argument("--out", type=Path, default=ROOT / "suites" / "example_data")
    parser.add_argument("--rows", type=int, default=400, help="rows per split at most")
    args = parser.parse_args()
    for name, path in write_examples(args.mirror, args.out, args.rows).items():
        print(f"{path.stat().st_size:>10,} B  {name}")


if __name__ == "__main__":
    main()
