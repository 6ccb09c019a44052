"""The suite's models checked before any weights load: where each one is and whether it can run.

A model id resolves as the runner resolves it: a ``resolve_model`` plugin, then a local directory,
then the Hugging Face cache, then the Hub. A local (or cached) directory is checked from its files
alone: its ``config.json``, its weights, a tokenizer whose ids fit the model's embedding table, and
each task's ``max_length`` against the model's position limit. An id that resolves nowhere locally
is looked up on the Hub with one short request, never when offline mode is on
(``HF_HUB_OFFLINE``); when the Hub cannot be asked, the message says everything that was tried.
Nothing here imports torch or transformers (``tlbench validate`` stays light).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

#: seconds the Hub may take to answer one lookup (no retries) before it counts as unreachable
HUB_TIMEOUT = 5.0
WEIGHTS = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "merges.txt")
#: the config keys of a model's position limit, in the order they are read
POSITION_KEYS = ("max_position_embeddings", "n_positions")
_hub_down: dict[str, str] = {}  # endpoint -> why it was unreachable (asked once per process)


@dataclass(frozen=True)
class Resolution:
    """Where a model id's files are without the network: ``origin`` is ``plugin``, ``local`` or
    ``cache`` (the Hugging Face cache, which may lack the weights), ``path`` its directory; both
    None when none holds it, ``tried`` then saying what was looked at."""

    path: Path | None
    origin: str | None
    tried: tuple[str, ...]


def resolve(model_id: str, plugins: Any, base: Path | None = None) -> Resolution:
    """``model_id`` resolved as the runner does, without the network: a plugin's copy; else a local
    directory (``~`` expanded; a relative path from ``base``, the suite's folder, as data files are,
    then from the working directory); else the Hugging Face cache."""
    found = plugins.resolve_model(model_id)
    if found is not None:
        return Resolution(Path(found), "plugin", ())
    impls = plugins.pm.hook.resolve_model.get_hookimpls()
    names = ", ".join(sorted({i.plugin_name for i in impls})) or "none registered"
    tried = [f"no resolve_model plugin knew it (asked: {names})"]
    local = Path(model_id).expanduser()
    places = [local] if local.is_absolute() or base is None else [base / local, local]
    for place in places:
        if place.is_dir():
            return Resolution(place.resolve(), "local", ())
    tried.append(f"not a local directory ({' nor '.join(str(p.resolve()) for p in places)} exists)")
    from huggingface_hub import constants, try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(model_id, "config.json")
    except ValueError:  # not a valid repository id: the Hub lookup says so
        cached = None
    if isinstance(cached, str):
        return Resolution(Path(cached).parent, "cache", ())
    tried.append(f"not in the Hugging Face cache ({constants.HF_HUB_CACHE})")
    return Resolution(None, None, tuple(tried))


def _offline() -> str | None:
    """The environment variable that turns the Hub's offline mode on, if one does."""
    from huggingface_hub import constants

    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").upper() in {"1", "ON", "YES", "TRUE"}:
            return var
    return "HF_HUB_OFFLINE" if constants.HF_HUB_OFFLINE else None


def hub_problem(model_id: str) -> str | None:
    """Why ``model_id`` cannot come from the Hub now (offline mode, unreachable, no such model);
    None when the Hub has it or may have it (a gated model, another HTTP error: the run will say)."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        RepositoryNotFoundError,
    )
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(model_id)
    except HFValidationError as exc:
        return f"the Hub was not asked: {model_id!r} is not a Hub model id ({exc})"
    if var := _offline():
        return f"the Hub was not asked: offline mode is on ({var}={os.environ.get(var, '1')})"
    endpoint = os.environ.get("HF_ENDPOINT", constants.ENDPOINT).rstrip("/")
    if endpoint in _hub_down:
        return _hub_down[endpoint]
    from huggingface_hub import HfApi

    try:
        HfApi(endpoint=endpoint).model_info(model_id, timeout=HUB_TIMEOUT)
    except GatedRepoError:
        return None
    except RepositoryNotFoundError:
        return (f"the Hub ({endpoint}) has no model {model_id!r} (check the spelling; a private model "
                "needs `hf auth login` or HF_TOKEN)")
    except HfHubHTTPError:
        return None
    except Exception as exc:  # noqa: BLE001 - no answer (DNS, connection, timeout): unreachable
        _hub_down[endpoint] = (f"the Hub ({endpoint}) is unreachable: {type(exc).__name__}: {exc} "
                               f"(one try, {HUB_TIMEOUT:g} s timeout)")
        return _hub_down[endpoint]
    return None


def unresolved_message(model_id: str, found: Resolution, hub: str) -> str:
    """One line: what was tried for ``model_id`` and why the Hub could not provide it."""
    return (f"model {model_id!r} not found: {'; '.join(found.tried)}; {hub}. Give a local model "
            "directory (config.json, weights, tokenizer), install a plugin that ships the model, or "
            "download it once online (set HF_HUB_OFFLINE=1 afterwards to use the cache)")


def config_position_limit(config: Any, reserved: int = 0) -> tuple[int, str] | None:
    """(the longest input, the key it comes from) of a model config (a transformers config or
    config.json's mapping), less ``reserved`` positions (RoBERTa-style embeddings reserve those
    below their padding index); None when the config gives no limit."""
    for key in POSITION_KEYS:
        limit = config.get(key) if isinstance(config, Mapping) else getattr(config, key, None)
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            return limit - reserved, key
    return None


@lru_cache(maxsize=64)
def _json(path: Path, mtime: int) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _read(path: Path) -> Any:
    return _json(path, path.stat().st_mtime_ns)


def tokenizer_top_id(directory: Path) -> tuple[int, str] | None:
    """(the largest token id the tokenizer files can give, the file that says so); None when the
    files do not tell (a SentencePiece model alone: the run checks the loaded tokenizer)."""
    top: tuple[int, str] | None = None
    tok = directory / "tokenizer.json"
    if tok.is_file():
        data = _read(tok)
        vocab = (data.get("model") or {}).get("vocab")
        ids = list(vocab.values()) if isinstance(vocab, dict) else list(range(len(vocab or [])))
        ids += [t["id"] for t in data.get("added_tokens") or [] if isinstance(t.get("id"), int)]
        top = (max(ids), tok.name) if ids else None
    elif (directory / "vocab.txt").is_file():
        lines = (directory / "vocab.txt").read_text(encoding="utf-8").splitlines()
        top = (len(lines) - 1, "vocab.txt") if lines else None
    elif (directory / "vocab.json").is_file():
        ids = [v for v in _read(directory / "vocab.json").values() if isinstance(v, int)]
        top = (max(ids), "vocab.json") if ids else None
    added = directory / "added_tokens.json"
    if not tok.is_file() and added.is_file():
        extra = [v for v in _read(added).values() if isinstance(v, int)]
        if extra and (top is None or max(extra) > top[0]):
            top = (max(extra), added.name)
    return top


def vocabulary_problem(top: int, vocab_size: Any, tokenizer: str, model: str) -> str | None:
    """The message when a tokenizer's largest id does not fit the model's ``vocab_size`` rows."""
    if not isinstance(vocab_size, int) or top < vocab_size:
        return None
    return (f"the tokenizer ({tokenizer}) gives token ids up to {top}, but the model ({model}) has "
            f"vocab_size {vocab_size}: ids from {vocab_size} on would index past its embedding table; "
            "use the model's own tokenizer")


def _quietly(check: Any, directory: Path) -> Any:
    """``check(directory)``, or None when a file it reads is unreadable (the run's loading says why)."""
    try:
        return check(directory)
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return None


def _weights_problem(directory: Path) -> str | None:
    if any((directory / name).is_file() for name in WEIGHTS):
        return None
    for name in WEIGHTS:
        index = directory / f"{name}.index.json"
        if index.is_file():
            try:
                shards = sorted(set((_read(index).get("weight_map") or {}).values()))
            except (ValueError, AttributeError, TypeError) as exc:
                return f"has {index.name}, which is not a shard index ({exc})"
            missing = [s for s in shards if not (directory / s).is_file()]
            if not shards or missing:
                return f"has {index.name}, whose shards are missing: {', '.join(missing) or '(none listed)'}"
            return None
    return (f"has no weights: none of {', '.join(WEIGHTS)} (or a sharded {WEIGHTS[0]}.index.json), as "
            "save_pretrained writes them")


def directory_problems(key: str, model_id: str, found: Resolution,
                       max_lengths: Iterable[tuple[str, int]]) -> list[str]:
    """What is wrong with a resolved model directory; ``max_lengths``: (key, value) the suite sets."""
    directory = found.path
    assert directory is not None
    by = "a resolve_model plugin" if found.origin == "plugin" else "the Hugging Face cache"
    where = (f"model directory {str(directory)!r}" if found.origin == "local" else
             f"{model_id!r} ({by} gives {str(directory)!r})")
    config_file = directory / "config.json"
    if not config_file.is_file():
        return [f"{key}: {where} has no config.json: a model directory holds the config.json that "
                "save_pretrained writes, next to the weights and the tokenizer"]
    try:
        config = _read(config_file)
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (ValueError, UnicodeDecodeError) as exc:
        return [f"{key}: {where}: config.json is not a model config ({exc})"]
    problems = []
    local = found.origin != "cache"  # the cache may lack weights and tokenizer: the run fetches them
    if local and (weights := _weights_problem(directory)):
        problems.append(f"{key}: {where} {weights}")
    names = {p.name for p in directory.iterdir()}
    if local and not names & set(TOKENIZER_FILES) and not any(n.endswith(".model") for n in names):
        problems.append(f"{key}: {where} has no tokenizer: none of {', '.join(TOKENIZER_FILES)} or a "
                        "SentencePiece *.model file")
    elif (ids := _quietly(tokenizer_top_id, directory)) and (
            why := vocabulary_problem(ids[0], config.get("vocab_size"), ids[1], "config.json")):
        problems.append(f"{key}: {where}: {why}")
    limit = config_position_limit(config)
    if limit is not None:
        top, source = limit
        for where_key, value in max_lengths:
            if value > top:
                problems.append(f"{where_key}: {value} is above the position limit of {key} {model_id!r}: "
                                f"{top} ({source} in its config.json); set max_length <= {top}")
    return problems


def model_problems(models: Iterable[tuple[str, str]], plugins: Any, tasks: Iterable[Any],
                   overrides: Iterable[Any], strategies: Iterable[str], *, hub: bool = True,
                   base: Path | None = None) -> list[str]:
    """Every problem of the suite's ``models``, (key, id) pairs (``("models[0]", "org/name")``).
    ``tasks``: its task components (``label``, ``options``); ``overrides``: its ``[[overrides]]``
    (an override's ``task_options.max_length`` counts for the cells it matches); ``strategies``: its
    strategy labels; ``hub=False``: no Hub lookup (an id found nowhere locally passes); ``base``: the
    suite's folder, where relative model paths start."""
    tasks, overrides, strategies = [t for t in tasks if t is not None], list(overrides), list(strategies)
    problems: list[str] = []
    for key, model in models:
        try:
            found = resolve(model, plugins, base)
        except Exception as exc:  # noqa: BLE001 - a plugin's resolver that raises
            problems.append(f"{key}: resolving {model!r} failed: {type(exc).__name__}: {exc}")
            continue
        if found.path is None:
            problems += hub_problems([(key, model)], plugins, base) if hub else []
            continue
        problems += directory_problems(key, model, found, _max_lengths(model, tasks, overrides, strategies))
    return problems


def hub_problems(models: Iterable[tuple[str, str]], plugins: Any, base: Path | None = None) -> list[str]:
    """One message per model, (key, id), found nowhere locally that the Hub cannot provide now."""
    problems = []
    for key, model in models:
        try:
            found = resolve(model, plugins, base)
        except Exception:  # noqa: BLE001 - model_problems reports a resolver that raises
            continue
        if found.path is None and (why := hub_problem(model)):
            problems.append(f"{key}: {unresolved_message(model, found, why)}")
    return problems


def _max_lengths(model: str, tasks: list[Any], overrides: list[Any],
                 strategies: list[str]) -> list[tuple[str, int]]:
    """(key, max_length) for each value the suite sets that a cell of ``model`` tokenizes with. A
    task's default is left to the run's check (``check_max_length``, when the model loads): tlbench's
    tiny test models have fewer positions than the default, with tasks that never reach it."""
    out: dict[tuple[str, int], None] = {}
    for task in tasks:
        base = getattr(task.options, "max_length", None)
        if not isinstance(base, int):
            continue
        set_here = "max_length" in task.options.model_fields_set
        for strategy in strategies or ["*"]:
            found = (f"tasks.{task.label}.max_length", base) if set_here else None
            for j, o in enumerate(overrides):
                value = o.task_options.get("max_length")
                if (isinstance(value, int) and o.model in (None, model) and o.task in (None, task.label)
                        and o.strategy in (None, strategy)):
                    found = (f"overrides[{j}].task_options.max_length", value)
            if found:
                out[found] = None
    return list(out)


def loaded_tokenizer_problem(model_path: str, tokenizer: Any) -> str | None:
    """At the run: the loaded tokenizer's largest id against the model's ``vocab_size`` (its
    config.json in the directory or the Hugging Face cache; None when neither has it)."""
    config_file = Path(model_path) / "config.json"
    if not config_file.is_file():
        from huggingface_hub import try_to_load_from_cache

        try:
            cached = try_to_load_from_cache(model_path, "config.json")
        except ValueError:
            return None
        if not isinstance(cached, str):
            return None
        config_file = Path(cached)
    vocab = tokenizer.get_vocab()
    return vocabulary_problem(max(vocab.values()), _read(config_file).get("vocab_size"),
                              f"{type(tokenizer).__name__} of {model_path}", "config.json") if vocab else None
