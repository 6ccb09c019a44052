"""A task's own data files: formats, globs, a cheap look at headers and a sample, one column read
whole, and loading through the Hugging Face ``datasets`` builders (csv, json, parquet).

Formats are told by the file name: ``.csv``, ``.tsv``, ``.json``, ``.jsonl`` (or ``.ndjson``),
``.parquet``, each optionally gzipped (``.gz``; Parquet compresses itself). :func:`peek` reads the
header and the first :data:`SAMPLE_ROWS` rows only (``tlbench validate`` must stay fast on large
files and import no torch); :func:`load_files` loads everything with ``datasets.load_dataset`` and,
when a builder fails, finds the file and the row that broke it (:func:`diagnose`). A private
module: task plugins use it through ``tlbench_builtin``'s declared kinds.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tlbench.errors import DataError

__all__ = ["FORMATS", "SAMPLE_ROWS", "Sample", "diagnose", "expand", "file_format", "load_files", "peek",
           "read_column"]

#: file name ending (before an optional ``.gz``) -> format
FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "json", ".ndjson": "json",
           ".parquet": "parquet"}
#: rows :func:`peek` reads from the top of a file
SAMPLE_ROWS = 1000


def file_format(path: str | Path) -> str | None:
    """``csv``, ``tsv``, ``json`` or ``parquet`` from the file name; None for an unknown ending."""
    name = str(path).lower().removesuffix(".gz")
    return next((fmt for end, fmt in FORMATS.items() if name.endswith(end)), None)


def expand(pattern: str, base: Path) -> list[Path]:
    """The files ``pattern`` names (a path or a glob, relative to ``base`` unless absolute), sorted."""
    full = Path(pattern).expanduser()
    full = full if full.is_absolute() else base / full
    if glob.has_magic(str(full)):
        return sorted(Path(p) for p in glob.glob(str(full), recursive=True) if Path(p).is_file())
    return [full] if full.is_file() else []


@dataclass
class Sample:
    """The columns of a file and its first rows (row numbers count data rows from 1)."""

    path: Path
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: whether values are text as written (CSV, TSV) rather than typed (JSON, Parquet)
    text: bool = False


def _open_text(path: Path) -> IO[str]:
    raw: Any = gzip.open(path, "rb") if str(path).lower().endswith(".gz") else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def _csv_rows(path: Path, fmt: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of a CSV or TSV file, header first."""
    csv.field_size_limit(1 << 30)  # long texts (the default limit is 128 KiB per field)
    with _open_text(path) as fh:
        reader = csv.reader(fh, delimiter="\t" if fmt == "tsv" else ",")
        for cells in reader:
            yield reader.line_num, cells


def _json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, object) of a JSON Lines file, or of each element of a JSON array file."""
    with _open_text(path) as fh:
        first = fh.read(1)
        while first.isspace():
            first = fh.read(1)
        if first == "[":  # a JSON array: read whole (use JSON Lines for large files)
            try:
                items = json.loads(first + fh.read())
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg})") from None
            yield from ((i, item) for i, item in enumerate(items, 1))
            return
        for number, line in enumerate(_chain(first, fh), 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None


def _chain(first: str, fh: IO[str]) -> Iterator[str]:
    line = first + fh.readline()
    while line:
        yield line
        line = fh.readline()


#: what reading bytes raises: not UTF-8, not gzip, a truncated or corrupt gzip stream
READ_ERRORS = (UnicodeDecodeError, gzip.BadGzipFile, EOFError, zlib.error)


def _byte_problem(path: Path) -> str:
    """The line where reading ``path`` as (gzipped) UTF-8 fails, read line by line as bytes (a
    text reader decodes ahead in blocks, so its position is not the bad line's)."""
    line = 0
    try:
        with gzip.open(path, "rb") if str(path).lower().endswith(".gz") else open(path, "rb") as fh:
            for line, raw in enumerate(fh, 1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return (f"{path}, line {line}: not UTF-8 text (byte {raw[exc.start]:#04x} at column "
                            f"{exc.start + 1}); save the file as UTF-8")
    except gzip.BadGzipFile:
        return f"{path} ends in .gz but is not a gzip file"
    except (EOFError, zlib.error) as exc:
        return f"{path}, after line {line}: the gzip file is truncated or corrupt ({exc})"
    return f"{path}: cannot be read as UTF-8 text"


def peek(path: Path, rows: int = SAMPLE_ROWS) -> Sample:
    """The header (or the keys of the first rows) and the first ``rows`` rows of one file."""
    fmt = file_format(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow's errors have no common base
            raise DataError(f"{path}: not a Parquet file ({exc})") from None
        batch = next(pf.iter_batches(batch_size=rows), None)
        return Sample(path, list(pf.schema_arrow.names), batch.to_pylist() if batch is not None else [])
    where = "line 1"
    try:
        if fmt in ("csv", "tsv"):
            lines = _csv_rows(path, fmt)
            header = next(lines, (1, []))[1]
            out = Sample(path, header, text=True)
            for line, cells in lines:
                where = f"line {line}"
                if len(cells) != len(header) and cells:
                    raise DataError(f"{path}, row {len(out.rows) + 1} (line {line}): {len(cells)} fields, "
                                    f"the header has {len(header)}")
                if cells:
                    out.rows.append(dict(zip(header, cells, strict=True)))
                if len(out.rows) >= rows:
                    break
            return out
        out = Sample(path, [])
        for line, item in _json_rows(path):
            where = f"line {line}"
            if not isinstance(item, dict):
                raise DataError(f"{path}, line {line}: a row must be a JSON object, "
                                f"got {type(item).__name__}")
            out.columns += [k for k in item if k not in out.columns]
            out.rows.append(item)
            if len(out.rows) >= rows:
                break
        return out
    except csv.Error as exc:
        raise DataError(f"{path}, {where}: malformed row ({exc})") from None
    except READ_ERRORS:
        raise DataError(_byte_problem(path)) from None


def diagnose(path: Path) -> str | None:
    """The first problem reading the whole of ``path`` row by row finds (file and row), or None."""
    fmt = file_format(path)
    if fmt == "parquet":
        try:
            import pyarrow.parquet as pq

            pq.read_table(path)
        except Exception as exc:  # noqa: BLE001
            return f"{path}: not a readable Parquet file ({exc})"
        return None
    last, width = 0, None
    try:
        if fmt in ("csv", "tsv"):
            for n, (line, cells) in enumerate(_csv_rows(path, fmt)):
                last = line
                if width is None:
                    width = len(cells)
                elif cells and len(cells) != width:
                    return f"{path}, row {n} (line {line}): {len(cells)} fields, the header has {width}"
        else:
            for line, item in _json_rows(path):
                if not isinstance(item, dict):
                    return f"{path}, line {line}: a row must be a JSON object, got {type(item).__name__}"
    except DataError as exc:
        return str(exc)
    except csv.Error as exc:
        return f"{path}, line {last + 1}: malformed row ({exc})"
    except READ_ERRORS:
        return _byte_problem(path)
    return None


def read_column(paths: Sequence[Path], column: str) -> list[Any]:
    """Every value of ``column`` in ``paths``, read with pyarrow (only that column is converted)."""
    import pyarrow as pa

    values: list[Any] = []
    for path in paths:
        fmt = file_format(path)
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                table = pq.read_table(path, columns=[column])
            elif fmt in ("csv", "tsv"):
                import pyarrow.csv as pc

                parse = pc.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
                table = pc.read_csv(path, parse_options=parse,
                                    convert_options=pc.ConvertOptions(include_columns=[column]))
            else:
                table = pa.Table.from_pylist([{column: row.get(column)} for _, row in _json_rows(path)])
        except (pa.ArrowInvalid, pa.ArrowKeyError, OSError) as exc:
            raise DataError(diagnose(path) or f"{path}: cannot read column {column!r} ({exc})") from None
        values += table.column(column).to_pylist()
    return values


def load_files(paths: Sequence[Path], text_columns: Sequence[str] = ()) -> Any:
    """All rows of ``paths`` (one format) as one ``datasets.Dataset``, in file order, through the
    ``datasets`` csv, json or parquet builder. CSV and TSV cells stay as written (``NA`` is text, an
    empty cell is ""), and ``text_columns`` stay strings even when they look like numbers."""
    import datasets

    fmt = file_format(paths[0])
    builder = {"tsv": "csv"}.get(fmt or "", fmt or "")
    kwargs: dict[str, Any] = {}
    if fmt in ("csv", "tsv"):
        kwargs = {"keep_default_na": False, "converters": dict.fromkeys(text_columns, str)}
        if fmt == "tsv":
            kwargs["sep"] = "\t"
    try:
        return datasets.load_dataset(builder, data_files=[str(p) for p in paths], split="train", **kwargs)
    except Exception as exc:  # noqa: BLE001 - the builders raise many kinds; name the file and row
        for path in paths:
            found = diagnose(path)
            if found:
                raise DataError(found) from None
        cause = exc.__cause__ or exc
        raise DataError(f"{', '.join(map(str, paths))}: {type(cause).__name__}: {cause}") from None
