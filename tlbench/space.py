"""Search spaces: what a strategy lets the tuner change, and how a suite narrows or widens it.

A strategy declares ``search_space`` (a class attribute: option name -> :class:`Float`, :class:`Int`
or :class:`Choice`). A suite may override any dimension, add one for any other option of the
strategy, or drop one, in the strategy's table::

    [strategies.full_finetune.search_space]
    lr = { low = 1e-5, high = 1e-4, log = true }   # narrows the declared range
    batch_size = { choices = [16, 32] }             # adds a dimension
    warmup_ratio = false                            # drops a declared one

Every bound and choice is checked against the strategy's own ``Options`` (a learning rate the
options would refuse is refused here, at load, naming the key). Nothing here imports optuna:
``tlbench.tuning`` turns a space into Optuna distributions.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from tlbench.interfaces import Options


class _Param(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def values(self) -> list[Any]:
        """The values whose validity against the strategy's options proves the whole range valid."""
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        """Whether the tuner could propose ``value`` (the strategy's default, say)."""
        raise NotImplementedError


class _Range(_Param):
    """``low..high`` (``log``: sampled on a log scale); ``Float(1e-5, 1e-3, log=True)``."""

    low: Any
    high: Any
    log: bool = False

    def __init__(self, low: Any = None, high: Any = None, **kw: Any):
        super().__init__(**({"low": low, "high": high} if low is not None else {}), **kw)

    @model_validator(mode="after")
    def _ordered(self) -> _Range:
        if not self.low <= self.high:
            raise ValueError(f"low <= high must hold, got low={self.low:g} high={self.high:g}")
        return self

    def values(self) -> list[Any]:
        return [self.low, self.high]

    def contains(self, value: Any) -> bool:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return number and self.low <= value <= self.high


class Float(_Range):
    low: float
    high: float

    # declared here too: pydantic's mypy plugin would otherwise give Float a keyword-only __init__
    def __init__(self, low: float | None = None, high: float | None = None, **kw: Any):
        super().__init__(low, high, **kw)

    @model_validator(mode="after")
    def _log_positive(self) -> Float:
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got low={self.low:g}")
        return self


class Int(_Range):
    low: int
    high: int
    step: int = 1

    def __init__(self, low: int | None = None, high: int | None = None, **kw: Any):  # as Float's
        super().__init__(low, high, **kw)

    @model_validator(mode="after")
    def _steps(self) -> Int:
        if self.step < 1 or (self.log and (self.low < 1 or self.step != 1)):
            raise ValueError("step must be >= 1, and a log range needs low >= 1 and step 1")
        return self


class Choice(_Param):
    choices: tuple[Any, ...]

    def __init__(self, *choices: Any, **kw: Any):
        super().__init__(**({"choices": choices} if choices else {}), **kw)

    @model_validator(mode="after")
    def _some(self) -> Choice:
        if not self.choices or len(set(map(repr, self.choices))) != len(self.choices):
            raise ValueError(f"choices must be non-empty and distinct, got {list(self.choices)}")
        if not all(isinstance(c, (str, int, float, bool)) or c is None for c in self.choices):
            raise ValueError("choices must be strings, numbers, booleans or null")
        return self

    def values(self) -> list[Any]:
        return list(self.choices)

    def contains(self, value: Any) -> bool:
        return any(type(value) is type(c) and value == c for c in self.choices)


Param = Float | Int | Choice
Space = dict[str, Param]


def _parse(value: Any, field_type: Any) -> Param:
    if isinstance(value, (Float, Int, Choice)):
        return value
    if not isinstance(value, dict):
        raise ValueError("give {low, high[, log]} or {choices = [...]}, or false to drop it")
    if "choices" in value:
        return Choice.model_validate({**value, "choices": tuple(value["choices"])})
    integral = field_type is int or (isinstance(value.get("low"), int) and isinstance(value.get("high"), int)
                                     and field_type is not float)
    return (Int if integral else Float).model_validate(value)


def _field_type(options: type[Options], name: str) -> Any:
    annotation = options.model_fields[name].annotation
    return annotation if annotation in (int, float) else None


def resolve_space(declared: Space, overrides: dict[str, Any], options: Options,
                  where: str) -> tuple[Space, list[str]]:
    """The strategy's declared space with the suite's ``overrides`` applied, and the problems found.

    Each dimension must name a field of ``options``' model, and every bound or choice must be a
    value those options accept (validated with the other options as the cell has them).
    """
    problems: list[str] = []
    model = type(options)
    space: Space = dict(declared)
    for name, value in overrides.items():
        if value is False:
            space.pop(name, None)
            continue
        try:
            space[name] = _parse(value, _field_type(model, name) if name in model.model_fields else None)
        except (ValidationError, ValueError) as exc:
            problems.append(f"{where}.{name}: {_message(exc)}")
    base = options.model_dump()
    for name, param in space.items():
        if name not in model.model_fields:
            from tlbench.errors import suggest

            close = suggest(name, list(model.model_fields))
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            problems.append(f"{where}.{name}: not an option of this strategy.{hint} "
                            f"Tunable: {', '.join(sorted(model.model_fields))}.")
            continue
        for v in param.values():
            try:
                model.model_validate({**base, name: v})
            except ValidationError as exc:
                problems.append(f"{where}.{name}: the value {v!r} is refused by the strategy's options "
                                f"({_message(exc)})")
                break
    return space, problems


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
    return str(exc)


def apply(options: Options, params: dict[str, Any]) -> Options:
    """``options`` with tuned ``params`` set, validated by the strategy's own model."""
    return type(options).model_validate({**options.model_dump(exclude_unset=True), **params})


def defaults_in(space: Space, options: Options) -> dict[str, Any] | None:
    """The options' current values of the space's dimensions, when the tuner could propose every
    one of them (None when a default lies outside a narrowed range, or an Int's step misses it)."""
    values = {name: getattr(options, name) for name in space}
    ok = all(p.contains(values[n]) and (not isinstance(p, Int) or (values[n] - p.low) % p.step == 0)
             for n, p in space.items())
    return values if ok else None


def as_json(space: Space) -> dict[str, Any]:
    return {k: {"type": type(p).__name__.lower(), **p.model_dump(mode="json")} for k, p in space.items()}
