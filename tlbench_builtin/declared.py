"""What every declared task shares: its options (files or a Hub dataset, the column mapping, the
labels, the split roles, the primary metric), validation from headers and samples, and loading
into the canonical columns the task classes read. Not a plugin: :mod:`tlbench_builtin.kinds`
registers the kinds built on it.

A suite declares a task with ``kind = "<kind>"`` (sugar for ``task = "<kind>"``); relative paths
are relative to the suite file (``load_suite`` passes its folder in the validation context).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from tlbench import DataError, DataSource, HeadKind, HeadSpec, Role, TaskData, cap, did_you_mean
from tlbench.data import sha256_file
from tlbench.tabular import Sample, expand, file_format, load_files, peek, read_column
from tlbench_builtin.declared_options import DeclaredOptions

__all__ = ["Declared", "DeclaredOptions", "LazyHead", "infer_labels", "label_ids"]


def infer_labels(values: list[Any]) -> tuple[str, ...]:
    """Label names from a column's values: integers sorted as numbers, else strings sorted."""
    distinct = {v for v in values if v is not None and v != ""}
    if distinct and all(isinstance(v, int) and not isinstance(v, bool) for v in distinct):
        return tuple(str(v) for v in sorted(distinct))
    return tuple(sorted(str(v) for v in distinct))


def label_ids(values: list[Any], names: tuple[str, ...], where: str) -> list[int]:
    """Class ids of ``values`` (matched to ``names`` as text); an unknown value names its row."""
    index = {n: i for i, n in enumerate(names)}
    out = []
    for row, value in enumerate(values, 1):
        found = index.get(str(value))
        if found is None:
            raise DataError(f"{where}, row {row}: label {value!r} is not one of the labels "
                            f"({', '.join(names)})")
        out.append(found)
    return out


@lru_cache(maxsize=32)
def _sha256(path: Path, size: int, mtime: float) -> str:
    """``sha256_file``, kept while the file's size and modification time stay the same."""
    return sha256_file(path)


@lru_cache(maxsize=16)
def _column(paths: tuple[Path, ...], stamps: tuple[tuple[int, float], ...], column: str) -> tuple[Any, ...]:
    return tuple(read_column(list(paths), column))


def class_label_names(feature: Any) -> tuple[str, ...] | None:
    """A ClassLabel's names in id order (or a sequence of ClassLabel's); None for other features."""
    inner = getattr(feature, "feature", feature)
    names = getattr(inner, "names", None)
    return tuple(names) if names is not None and hasattr(inner, "int2str") else None


def _named(ds: Any) -> Any:
    """``ds`` with ClassLabel columns (and sequences of them) turned into their label names."""
    for column, feature in ds.features.items():
        inner = getattr(feature, "feature", feature)
        names = class_label_names(feature)
        if names is None:
            continue
        values = ds[column]
        nested = inner is not feature
        named = [[names[v] for v in row] for row in values] if nested else [names[v] for v in values]
        ds = ds.remove_columns(column).add_column(column, named)
    return ds


class LazyHead(HeadSpec):
    """A head whose number of labels is counted when first read: validation needs only the kind
    (which strategies serve it) and reads no whole file; the engine reads ``num_labels`` when it
    builds the head, once the data is there."""

    def __init__(self, kind: HeadKind, count: Callable[[], int]):
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "_count", count)
        self.__post_init__()

    @property
    def num_labels(self) -> int:
        return self._count()  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HeadSpec) and (self.kind, self.num_labels) == (other.kind, other.num_labels)

    def __hash__(self) -> int:
        return hash((self.kind, self.num_labels))

    def __repr__(self) -> str:
        return f"LazyHead(kind={self.kind!r})"


class Declared:
    """Mixin of the declared kinds (put before the task base): the options' files, validation and
    loading. A kind sets :attr:`canonical` (role -> the column name its base class reads)."""

    name: str
    options: Any
    canonical: ClassVar[dict[str, str]] = {}
    label_role: ClassVar[str | None] = None
    #: a Hub dataset's ClassLabel names by canonical column (filled when a split is loaded)
    _hub_classes: dict[str, tuple[str, ...]]
    #: a kind has no fixed source: each declared task's are the suite's ``source_datasets``
    source_datasets: ClassVar[tuple[str, ...]] = ()
    is_kind: ClassVar[bool] = True

    def __init__(self, name: str, options: Any):
        super().__init__(name, options)  # type: ignore[call-arg]
        self.source_datasets = tuple(options.source_datasets)  # type: ignore[misc]
        self._hub_classes = {}

    # -- files --------------------------------------------------------------------------------
    def _base(self) -> Path:
        return self.options._suite_dir or Path.cwd()

    def _patterns(self, split: str) -> list[str]:
        files = (self.options.data_files or {})[split]
        return [files] if isinstance(files, str) else list(files)

    def files(self, split: str) -> list[Path]:
        found: list[Path] = []
        for pattern in self._patterns(split):
            paths = expand(pattern, self._base())
            if not paths:
                raise DataError(self._missing(split, pattern))
            found += paths
        return found

    def _missing(self, split: str, pattern: str) -> str:
        full = Path(pattern).expanduser()
        full = full if full.is_absolute() else self._base() / full
        return f"data_files.{split}: no file {pattern!r} (resolved: {full.resolve()})"

    def required_files(self, data_dir: Path) -> list[Path]:
        return []  # not the mirror's: data_problems checks the declared files

    def data_label(self, n_report: int, capped: bool) -> str:
        """How the leaderboard names the data: the suite's label for the task (empty: the runner
        uses it), with the report split and its size when capped, e.g. ``reviews[test:300]``."""
        label = self.options._label or self.name
        return f"{label}[{self.options.report}:{n_report}]" if capped else self.options._label

    def capped(self, loaded: dict[Role, tuple[Any, DataSource]], names: tuple[str, ...] = ()) -> TaskData:
        """The task's data from its loaded splits by role, with the options' caps (seeded)."""
        o = self.options
        sizes = {"train": o.max_train_examples, "select": o.max_eval_examples, "report": o.max_eval_examples}
        # the training rows with the subset's seed (subset 0: split_seed); select and report split_seed's
        splits = {role: cap(ds, sizes[role], o.train_seed if role == "train" else o.split_seed)
                  for role, (ds, _) in loaded.items()}
        n, full = len(splits["report"]), len(loaded["report"][0])
        return TaskData(splits=splits, sources={role: src for role, (_, src) in loaded.items()},
                        label_names=names, label=self.data_label(n, capped=n != full))

    def splits(self) -> list[str]:
        o = self.options
        return list(dict.fromkeys(s for s in (o.train_split, o.select_split, o.report) if s))

    # -- labels -------------------------------------------------------------------------------
    def label_names(self) -> tuple[str, ...]:
        """The suite's ``labels``; else a Hub dataset's ClassLabel names, in the dataset's own id
        order; else the sorted distinct values of the training split's label column (read whole,
        once per process)."""
        if self.options.labels is not None:
            return tuple(str(v) for v in self.options.labels)
        if self.label_role is None:
            return ()
        if self.options.hub is not None:
            raw, _ = self.raw_split(self.options.train_split)
            column = self.canonical[self.label_role]
            return self._hub_classes.get(column) or infer_labels(self.flatten(list(raw[column])))
        paths = tuple(self.files(self.options.train_split))
        stamps = tuple((p.stat().st_size, p.stat().st_mtime) for p in paths)
        values = _column(paths, stamps, self.options.column(self.label_role))
        return infer_labels(self.flatten(list(values)))

    def flatten(self, values: list[Any]) -> list[Any]:
        """A label column's values one by one (token kinds: every tag of every row)."""
        return values

    # -- validation ---------------------------------------------------------------------------
    def data_problems(self) -> list[str]:
        """What a look at each file's header and first rows finds (nothing is loaded whole)."""
        o = self.options
        if o.hub is not None:
            return []  # checked when loaded: validation touches no network
        problems: list[str] = []
        samples: dict[str, list[Sample]] = {}
        for split in o.data_files or {}:
            try:
                paths = self.files(split)
            except DataError as exc:
                problems.append(str(exc))
                continue
            if len({file_format(p) for p in paths}) > 1:
                problems.append(f"data_files.{split}: files of different formats: "
                                f"{', '.join(map(str, paths))}")
                continue
            try:
                samples[split] = [peek(p) for p in paths]
            except DataError as exc:
                problems.append(str(exc))
        for split, found in samples.items():
            for sample in found:
                problems += self._column_problems(split, sample)
        if problems:
            return problems
        for split, found in samples.items():
            for sample in found:
                problems += self.sample_problems(split, sample)
        return problems or self.label_problems(samples)

    def _column_problems(self, split: str, sample: Sample) -> list[str]:
        out = []
        for role in self.required_roles():
            column = self.options.column(role)
            if column in sample.columns:
                continue
            close = did_you_mean(column, sample.columns)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            out.append(f"data_files.{split}: {sample.path} has no column {column!r} "
                       f"(the {role} column).{hint} "
                       f"Its columns: {', '.join(sample.columns) or '(none)'}; map it with "
                       f"columns = {{ {role} = \"<column>\" }}")
        return out

    def sample_problems(self, split: str, sample: Sample) -> list[str]:
        """A kind's checks of one file's sample (label types, numeric targets, ...)."""
        return []

    def label_problems(self, samples: dict[str, list[Sample]]) -> list[str]:
        """Labels of the sampled select and report rows that training never has."""
        o = self.options
        if self.label_role is None:
            return []
        column = o.column(self.label_role)

        def seen(split: str) -> set[str]:
            rows = [r.get(column) for s in samples.get(split, []) for r in s.rows]
            return {str(v) for v in self.flatten(rows)}

        known = {str(v) for v in o.labels} if o.labels is not None else seen(o.train_split)
        out = []
        for split in self.splits()[1:]:
            new = seen(split) - known
            if new and o.labels is None:  # not in the sample of train: read train's column whole
                new -= set(self.label_names())
            if new:
                where = "the labels listed in the suite" if o.labels is not None else \
                    f"the training split ({o.train_split})"
                out.append(f"data_files.{split}: labels {', '.join(sorted(new))} never appear in {where}")
        return out

    # -- loading ------------------------------------------------------------------------------
    def load_declared(self, split: str) -> tuple[Any, DataSource]:
        """One split in the kind's canonical columns, normalized (label ids, token lists), with its
        files' sha256 (or the Hub dataset's revision)."""
        ds, source = self.raw_split(split)
        return self.normalize(ds, source.location), source

    def raw_split(self, split: str) -> tuple[Any, DataSource]:
        """One split's columns as loaded, renamed to the kind's canonical names; a Hub dataset's
        ClassLabel columns as their names (labels are matched by name)."""
        o = self.options
        wanted = {o.column(role): canon for role, canon in self.canonical.items()}
        if o.hub is not None:
            import datasets

            try:
                ds = datasets.load_dataset(o.hub, o.config, split=split, revision=o.revision)
            except ValueError as exc:
                raise DataError(f"{o.hub} ({o.config}) has no split {split!r}: {exc}") from None
            source = DataSource(f"hf://datasets/{o.hub}" + (f"/{o.config}" if o.config else "") + f":{split}",
                                ds._fingerprint, f"{o.hub} {split} revision {o.revision}")
            classes = {wanted[c]: n for c, f in ds.features.items()
                       if c in wanted and (n := class_label_names(f)) is not None}
            self._hub_classes = {**classes, **self._hub_classes}  # the first split loaded wins
        else:
            paths = self.files(split)
            text = [c for c, canon in wanted.items() if canon in self.text_like]
            ds = load_files(paths, text)
            hashes = [_sha256(p, p.stat().st_size, p.stat().st_mtime) for p in paths]
            listed = "; ".join(f"{p.name} sha256 {h}" for p, h in zip(paths, hashes, strict=True))
            joint = hashes[0] if len(hashes) == 1 else hashlib.sha256("\n".join(hashes).encode()).hexdigest()
            source = DataSource(", ".join(self._patterns(split)), joint, f"{split}: {listed}")
        present = {c: canon for c, canon in wanted.items() if c in ds.column_names}
        missing = [o.column(r) for r in self.required_roles() if o.column(r) not in ds.column_names]
        if missing:
            raise DataError(f"{source.location}: no column {missing[0]!r}; "
                            f"it has {', '.join(ds.column_names)}")
        ds = ds.select_columns(list(present)).rename_columns({c: k for c, k in present.items() if c != k})
        return _named(ds), source

    #: canonical columns that keep their text as written (CSV cells that look like numbers)
    text_like: ClassVar[tuple[str, ...]] = ()

    def required_roles(self) -> list[str]:
        """The roles whose columns must exist: the kind's required ones and every mapped one."""
        o = self.options
        return [r for r, required in o.roles.items() if required or r in o.columns]

    def normalize(self, ds: Any, where: str) -> Any:
        """A kind's conversion of the loaded columns (labels to ids, whitespace tokens to lists)."""
        return ds
