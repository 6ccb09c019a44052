"""The grid is pure and deterministic; ids follow the resolved configuration."""

from __future__ import annotations

from tlbench import build_grid, build_runs, load_suite

SUITE = """
models = ["m1", "m2"]
seeds = [3, 1]
[tasks.fake_task]
[strategies.fake_strategy]
lr = 0.01
[strategies.constant]
strategy = "fake_strategy"
mode = "constant"
"""


def grid(tmp_path, plugins, text=SUITE):
    path = tmp_path / "s.toml"
    path.write_text(text)
    return build_grid(load_suite(path, plugins), plugins)


def test_order_and_size(tmp_path, with_fakes):
    cells = grid(tmp_path, with_fakes)
    assert [(c.model, c.strategy) for c in cells] == [
        ("m1", "fake_strategy"), ("m1", "constant"), ("m2", "fake_strategy"), ("m2", "constant")]
    runs = build_runs(cells)
    assert [r.seed for r in runs[:2]] == [3, 1] and len(runs) == 8
    assert len({r.id for r in runs}) == 8


def test_ids_are_stable_and_follow_options(tmp_path, with_fakes):
    a = grid(tmp_path, with_fakes)
    assert [c.id for c in a] == [c.id for c in grid(tmp_path, with_fakes)]
    # renaming a label keeps the id (the configuration is the same) ...
    renamed = grid(tmp_path, with_fakes, SUITE.replace("[strategies.constant]", "[strategies.const]"))
    assert renamed[1].id == a[1].id and renamed[1].strategy == "const"
    # ... and an option that matters gives a new one
    changed = grid(tmp_path, with_fakes, SUITE.replace("lr = 0.01", "lr = 0.02"))
    assert changed[0].id != a[0].id and changed[1].id == a[1].id


def test_overrides_apply_to_matching_cells_only(tmp_path, with_fakes):
    text = SUITE + '\n[[overrides]]\nstrategy = "constant"\nmodel = "m2"\noptions = { lr = 0.5 }\n' \
                   'task_options = { rows = 7 }\n'
    cells = grid(tmp_path, with_fakes, text)
    lrs = {(c.model, c.strategy): (c.strategy_options.lr, c.task_options.rows) for c in cells}
    assert lrs[("m2", "constant")] == (0.5, 7)
    assert lrs[("m1", "constant")] == (1e-3, 20) and lrs[("m2", "fake_strategy")] == (0.01, 20)


def test_a_skip_override_leaves_its_cells_out_and_keeps_the_others_ids(tmp_path, with_fakes):
    full = {(c.model, c.strategy): c.id for c in grid(tmp_path, with_fakes)}
    text = SUITE + '\n[[overrides]]\nstrategy = "constant"\nmodel = "m2"\nskip = true\n'
    cells = grid(tmp_path, with_fakes, text)
    kept = {k: v for k, v in full.items() if k != ("m2", "constant")}
    assert {(c.model, c.strategy): c.id for c in cells} == kept
    path = tmp_path / "s.toml"
    path.write_text(text)
    suite = load_suite(path, with_fakes)
    assert suite.skips("constant", "fake_task", "m2") and not suite.skips("constant", "fake_task", "m1")
    assert suite.skipped() == ()  # m1 still runs it: no (strategy, task) is skipped for every model
    path.write_text(SUITE + '\n[[overrides]]\nstrategy = "constant"\nskip = true\n')
    assert load_suite(path, with_fakes).skipped() == (("constant", "fake_task"),)


def test_a_skip_override_names_what_it_skips_and_sets_nothing(tmp_path, with_fakes):
    import pytest

    from tlbench.errors import ConfigError

    path = tmp_path / "s.toml"
    for extra, want in (('strategy = "constant"\nskip = true\noptions = { lr = 0.5 }',
                         "overrides[0]: skip = true runs none of its cells; give it no options"),
                        ("skip = true", "overrides[0]: skip = true with no strategy, task or model")):
        path.write_text(SUITE + "\n[[overrides]]\n" + extra + "\n")
        with pytest.raises(ConfigError) as err:
            load_suite(path, with_fakes)
        assert want in str(err.value)


def test_an_option_added_with_a_neutral_default_keeps_the_ids_it_had():
    """Options marked NEUTRAL_DEFAULT (the engine's max_steps, min_evals, checkpoint: added after
    records existed, their defaults train what was trained before) stay out of ids at their default,
    so stored records keep matching their cells; set to anything else, they count."""
    from pydantic import Field

    from tlbench.interfaces import NEUTRAL_DEFAULT, StrategyOptions

    class Before(StrategyOptions):
        lr: float = 0.1

    class After(StrategyOptions):
        lr: float = 0.1
        extra: int = Field(4, json_schema_extra=NEUTRAL_DEFAULT)
        plain: int = 7

    assert After().identity() == {"lr": 0.1, "plain": 7}
    assert {k: v for k, v in After().identity().items() if k != "plain"} == Before().identity()
    assert After(extra=5).identity() == {"lr": 0.1, "extra": 5, "plain": 7}


def test_a_descriptive_option_is_never_part_of_ids():
    """Options marked DESCRIPTIVE (a declared task's source_datasets) describe the data and change
    nothing that runs: ids ignore them at any value, so editing one keeps the cell's records."""
    from pydantic import Field

    from tlbench import DESCRIPTIVE, TaskOptions

    class Described(TaskOptions):
        note: list[str] = Field(default_factory=list, json_schema_extra=DESCRIPTIVE)

    assert Described(note=["sst2"]).identity() == Described().identity() == TaskOptions().identity()
    assert Described(note=["sst2"], max_length=64).identity() != Described().identity()
