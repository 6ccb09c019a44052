"""Suites are validated once, at the edge: every mistake names the file, key, value and choices."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tlbench import ConfigError, load_suite

GOOD = """
models = ["m"]
seeds = [0, 1]

[tasks.fake_task]
rows = 10

[strategies.fake_strategy]
lr = 0.01
"""


def write(tmp_path: Path, text: str, name: str = "suite.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path: Path, text: str, plugins) -> str:
    with pytest.raises(ConfigError) as info:
        load_suite(write(tmp_path, text), plugins)
    message = str(info.value)
    assert str(tmp_path / "suite.toml") in message  # every error names the file
    return message


def test_good_suite_is_typed_and_frozen(tmp_path, with_fakes):
    suite = load_suite(write(tmp_path, GOOD), with_fakes)
    assert suite.name == "suite" and suite.seeds == (0, 1)
    assert suite.strategies[0].options.lr == 0.01
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error
        suite.strategies[0].options.lr = 1.0  # type: ignore[misc]


def test_unknown_task_suggests(tmp_path, plugins):
    msg = problems(tmp_path, GOOD.replace("[tasks.fake_task]\nrows = 10", "[tasks.sst]"), plugins)
    assert "tasks.sst: Unknown task 'sst'. Did you mean: sst2?" in msg
    assert "Available: classification, cola, conll2003, extractive_qa, imdb, mnli" in msg


def test_unknown_strategy_suggests(tmp_path, with_fakes):
    msg = problems(tmp_path, GOOD.replace("[strategies.fake_strategy]", "[strategies.fake_stratgy]"),
                   with_fakes)
    assert "Unknown strategy 'fake_stratgy'. Did you mean: fake_strategy?" in msg
    assert "full_finetune" in msg  # lists what is available


def test_unknown_option_suggests(tmp_path, with_fakes):
    msg = problems(tmp_path, GOOD.replace("lr = 0.01", "lrr = 0.01"), with_fakes)
    assert "strategies.fake_strategy.lrr: unknown key 'lrr'. Did you mean: lr?" in msg
    assert "Allowed: epochs, lr, mode" in msg


def test_range_error_names_key_and_value(tmp_path, with_fakes):
    msg = problems(tmp_path, GOOD.replace("lr = 0.01", "lr = -1"), with_fakes)
    assert "strategies.fake_strategy.lr must be > 0, got -1" in msg


def test_wrong_type(tmp_path, with_fakes):
    msg = problems(tmp_path, GOOD.replace("lr = 0.01", 'lr = "fast"'), with_fakes)
    assert "strategies.fake_strategy.lr:" in msg and "'fast'" in msg


def test_literal_lists_choices(tmp_path, with_fakes):
    msg = problems(tmp_path, GOOD.replace("lr = 0.01", 'mode = "median"'), with_fakes)
    assert "strategies.fake_strategy.mode must be one of 'majority' or 'constant', got 'median'" in msg


def test_every_problem_is_reported_at_once(tmp_path, with_fakes):
    text = GOOD.replace("lr = 0.01", "lr = -1\nepochs = 0").replace("rows = 10", "rows = -3")
    msg = problems(tmp_path, text, with_fakes)
    assert "3 problems" in msg and "epochs must be >= 1" in msg and "tasks.fake_task.rows" in msg


def test_unknown_top_level_key(tmp_path, with_fakes):
    msg = problems(tmp_path, "sedes = [1]\n" + GOOD, with_fakes)
    assert "sedes: unknown key 'sedes'. Did you mean: seeds?" in msg


def test_empty_grid(tmp_path, with_fakes):
    msg = problems(tmp_path, 'models = ["m"]\nseeds = [0]\ntasks = {}\nstrategies = {}\n', with_fakes)
    assert "empty grid" in msg and "no task" in msg and "no strategy" in msg
    assert "seeds" in problems(tmp_path, GOOD.replace("seeds = [0, 1]", "seeds = []"), with_fakes)


def test_same_strategy_twice_as_duplicate_table(tmp_path, with_fakes):
    msg = problems(tmp_path, GOOD + "\n[strategies.fake_strategy]\nlr = 0.1\n", with_fakes)
    assert "[strategies.fake_strategy] appears twice" in msg and "line 11" in msg


def test_same_strategy_twice_under_two_labels(tmp_path, with_fakes):
    text = GOOD + '\n[strategies.again]\nstrategy = "fake_strategy"\nlr = 0.01\n'
    msg = problems(tmp_path, text, with_fakes)
    assert "strategies.again: the same strategy as strategies.fake_strategy" in msg
    # a real variant (different options) is allowed
    suite = load_suite(write(tmp_path, text.replace("lr = 0.01\n", "lr = 0.5\n", 1)), with_fakes)
    assert [s.label for s in suite.strategies] == ["fake_strategy", "again"]


def test_duplicate_seeds_and_models(tmp_path, with_fakes):
    msg = problems(tmp_path, GOOD.replace("seeds = [0, 1]", "seeds = [0, 0]"), with_fakes)
    assert "seeds: 0 listed more than once" in msg


def test_equivalence_margin_names_tasks_of_the_suite(tmp_path, with_fakes):
    def margin(value: str) -> str:
        return GOOD.replace("seeds = [0, 1]", f"seeds = [0, 1]\nequivalence_margin = {value}")

    msg = problems(tmp_path, margin("{ fake_tsk = 0.01 }"), with_fakes)
    assert "equivalence_margin.fake_tsk: not a task of this suite. Did you mean: fake_task?" in msg
    assert "Tasks: fake_task." in msg
    negative = problems(tmp_path, margin("-0.01"), with_fakes)
    assert "equivalence_margin" in negative and "must be > 0, got -0.01" in negative
    per_task = load_suite(write(tmp_path, margin("{ fake_task = 0.01 }")), with_fakes)
    assert per_task.equivalence_margin == {"fake_task": 0.01}
    assert load_suite(write(tmp_path, margin("0.02")), with_fakes).equivalence_margin == 0.02
    assert load_suite(write(tmp_path, GOOD), with_fakes).equivalence_margin is None


def test_missing_local_model_directory(tmp_path, with_fakes):
    msg = problems(tmp_path, GOOD.replace('models = ["m"]', 'models = ["./no-such-model"]'), with_fakes)
    assert "models[0]: local model directory './no-such-model' not found" in msg


def test_broken_toml_gives_line_and_column(tmp_path, with_fakes):
    msg = problems(tmp_path, GOOD.replace("lr = 0.01", "lr = = 0.01"), with_fakes)
    assert "TOML syntax error at line 9, column" in msg


def test_missing_file(tmp_path, with_fakes):
    with pytest.raises(ConfigError, match="file not found"):
        load_suite(tmp_path / "nope.toml", with_fakes)


def test_missing_mirror_file_names_path_and_env(tmp_path, plugins, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "sst2").mkdir(parents=True)
    monkeypatch.setenv("TLBENCH_DATA_DIR", str(mirror))
    text = 'models = ["m"]\nseeds = [0]\n[tasks.sst2]\n[strategies.linear_probe]\n'
    msg = problems(tmp_path, text, plugins)
    assert str(mirror / "sst2" / "train.jsonl.gz") in msg and "TLBENCH_DATA_DIR" in msg


def test_data_dir_relative_to_suite_and_env_wins(tmp_path, plugins, monkeypatch, data_dir):
    monkeypatch.delenv("TLBENCH_DATA_DIR")
    text = f'data_dir = "{data_dir}"\nmodels = ["m"]\nseeds = [0]\n[tasks.sst2]\n[strategies.linear_probe]\n'
    assert load_suite(write(tmp_path, text), plugins).data_dir == data_dir.resolve()
    monkeypatch.setenv("TLBENCH_DATA_DIR", str(tmp_path / "elsewhere"))
    assert "elsewhere is not a directory (from $TLBENCH_DATA_DIR)" in problems(tmp_path, text, plugins)


def test_override_errors_name_the_override(tmp_path, with_fakes):
    text = GOOD + '\n[[overrides]]\nstrategy = "fake_strategy"\noptions = { lr = -2 }\n'
    assert "overrides[0].options.lr must be > 0, got -2" in problems(tmp_path, text, with_fakes)
    text = GOOD + '\n[[overrides]]\ntask = "fake_tsk"\n'
    assert "overrides[0].task: 'fake_tsk' is not in this suite. Did you mean: fake_task?" in problems(
        tmp_path, text, with_fakes)


def test_validate_imports_no_torch(tmp_path):
    """The real CLI on the real default suite, in a fresh interpreter. (How fast: a benchmark, not a
    timed test, benchmarks/cli_speed.py.)"""
    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys; from tlbench.cli import app\n"
        "try:\n    app(['validate', sys.argv[1]])\n"
        "except SystemExit as e:\n    assert e.code in (0, None), e\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(root / "suites" / "glue_small.toml")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr


def test_a_head_that_cannot_serve_a_task_fails_validation(tmp_path, plugins, monkeypatch):
    """A CRF labels token sequences: asking for one on SST-2 fails before any compute, per cell,
    and an override that fixes the one cell makes the suite valid."""
    monkeypatch.delenv("TLBENCH_DATA_DIR", raising=False)
    text = """
    models = ["m"]
    seeds = [0]
    [tasks.sst2]
    [tasks.conll2003]
    [strategies.probe]
    strategy = "linear_probe"
    head = "crf"
    """
    msg = problems(tmp_path, text, plugins)
    assert "strategies.probe on tasks.sst2: head 'crf' labels token sequences" in msg
    assert "tasks.conll2003" not in msg
    fixed = text + """
    [[overrides]]
    strategy = "probe"
    task = "sst2"
    options = { head = "linear" }
    """
    assert len(load_suite(write(tmp_path, fixed), plugins, check_data=False).tasks) == 2
