"""LEADERBOARD.html (tlbench/html_report.py): escaped, self-contained, byte-identical across renders."""

from __future__ import annotations

import base64
import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.records import record
from tlbench.analysis import analyse
from tlbench.html_assets import CSP
from tlbench.html_build import el, inline
from tlbench.html_report import page, write_html
from tlbench.plots import draw
from tlbench.record import RunRecord
from tlbench.report import write_report

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "<script>alert('x')</script>"
#: an element a browser would load (and the page's CSP refuse, with a console error) if it were not escaped
HOSTILE_IMG = '<img src=x onerror="alert(1)">'
BASE = [1.0] * 60 + [0.0] * 40


def shifted(gains: int, losses: int) -> list[float]:
    x = list(BASE)
    x[60: 60 + gains] = [1.0] * gains
    x[:losses] = [0.0] * losses
    return x


def leaderboard_records() -> list[RunRecord]:
    """2 tasks x 3 strategies x 3 seeds with item statistics (so every comparison is tested), one
    strategy tuned with two trials; a strategy's name, an option and a tuned value hold markup."""
    recs: list[RunRecord] = []
    for t, k in (("sst2", 0), ("imdb", 6)):
        for seed in range(3):
            recs.append(record("linear_probe", t, seed, items=shifted(seed, 0)))
            recs.append(record("full_finetune", t, seed, items=shifted(8 + k + seed, 2),
                               train_seconds=30.0 + seed, trainable_params=1000, stored_bytes=4000))
            hostile = record(HOSTILE_IMG, t, seed, items=shifted(0, 10 + k + seed), train_seconds=5.0)
            recs.append(hostile.but(params={"strategy": {"name": "x", "options": {"note": HOSTILE}}}))
            recs.append(record("lora", t, seed, items=shifted(4, 1)).but(
                variant="tuned", tuning_key="abc", tuned_params={"lr": 1e-4, "tag": HOSTILE},
                run_id=f"lora-{t}-tuned-s{seed}",
                tuning={"trials": 2, "complete": 2, "pruned": 0, "failed": 0, "seconds": 12.5,
                        "best_trial": 1, "best_select": 0.7, "select_scores": [0.6, 0.7],
                        "select_spread": {"min": 0.6, "max": 0.7, "sd": 0.07}}))
        for n, lr in enumerate((1e-3, 1e-4)):
            recs.append(record("lora", t, 10000, score=0.6 + 0.1 * n).but(
                variant="trial", trial_number=n, tuned_params={"lr": lr}, run_id=f"lora-{t}-trial{n}",
                tuning_seconds=6.0 + n))
    return recs


def render(tmp_path: Path, name: str, records: list[RunRecord] | None = None) -> bytes:
    records = leaderboard_records() if records is None else records
    a = analyse(records, baseline="linear_probe", n_resamples=500)
    out = tmp_path / name
    path = write_html(records, f"suite {HOSTILE}", out, analysis=a, figures=draw(a, out / "plots"))
    return path.read_bytes()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> str:
    return render(tmp_path_factory.mktemp("html"), "a").decode("utf-8")


def test_the_builder_escapes_text_and_attributes_and_keeps_markup():
    assert el("td", HOSTILE, data_sort='1"><b') == ('<td data-sort="1&quot;&gt;&lt;b">&lt;script&gt;alert('
                                                    '&#x27;x&#x27;)&lt;/script&gt;</td>')
    assert el("p", el("b", "<i>"), None, ["a", "&"]) == "<p><b>&lt;i&gt;</b>a&amp;</p>"
    assert inline("**better** `<x>` *still improving*") == (
        "<strong>better</strong> <code>&lt;x&gt;</code> <em>still improving</em>")


def test_every_string_from_suites_and_plugins_is_escaped(rendered):
    # the page's only script is its own, and no element comes from a record's strings
    assert rendered.count("<script") == 1 and "<img src=x" not in rendered
    assert "alert('x')</script>" not in rendered
    # the suite, an option, a tuned value; the strategy, everywhere it is named
    assert rendered.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;") >= 4
    assert rendered.count("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;") >= 6
    # and the page's own markup is never escaped twice (shown as text)
    assert not re.search(r"&lt;/?(h\d|td|tr|th|table|div|p|ul|li|code|small|strong|em|details|summary)\b",
                         rendered)
    assert rendered.count("<img ") == len(re.findall(r'<img src="data:image/png;base64,', rendered))


def test_self_contained_no_external_url(rendered):
    sources = re.findall(r'\s(?:src|href)="([^"]*)"', rendered)
    assert sources and all(s.startswith(("data:", "#")) for s in sources)
    assert not re.search(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}", re.sub(r'data:[^"]*', "", rendered))
    assert "<link" not in rendered and "@import" not in rendered and "url(" not in rendered
    # and a Content-Security-Policy that refuses any network load, should one slip in
    assert f'<meta http-equiv="Content-Security-Policy" content="{html.escape(CSP)}">' in rendered
    assert CSP.startswith("default-src 'none'; img-src data:;")


def test_plots_are_embedded_as_png_data(rendered):
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', rendered)
    # per task the Pareto and seed plots, and the critical-difference diagram across tasks
    assert sorted(alt for _, alt in images) == sorted(
        ["pareto_sst2", "seeds_sst2", "pareto_imdb", "seeds_imdb", "critical_difference"])
    assert all(base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n") for data, _ in images)


def test_sections_details_and_sortable_tables(rendered):
    for heading in ("Findings", "Summary", "sst2", "imdb", "Across tasks", "Provenance"):
        assert f"<h2>{heading}</h2>" in rendered
    # per cell: every seed's run, the tuning and its trials, the options and the provenance
    assert rendered.count("<details>") == 8
    lora = rendered.split("<summary>lora × sst2")[1].split("</details>")[0]
    assert "Tuning trials (2)" in lora and "lora-sst2-tuned-s2" in lora and "&quot;lr&quot;: 0.001" in lora
    assert "0123456789abcdef00" in lora and "version: torch" in lora and "suites/s.toml" in lora
    hostile = rendered.split("<summary>&lt;img src=x")[1].split("</details>")[0]
    assert "<td>strategy.options.note</td><td><code>&lt;script&gt;" in hostile
    assert '<th scope="col"><button type="button">strategy</button></th>' in rendered
    assert 'class="sortable"' in rendered and 'data-sort="0.' in rendered


def test_findings_are_grouped_by_scope(monkeypatch, tmp_path):
    import tlbench.html_report as html_report
    from tlbench.findings import Finding

    monkeypatch.setattr(html_report, "findings", lambda a: [
        Finding("across tasks", "nothing separates the strategies"), Finding("sst2", f"best {HOSTILE}"),
        Finding("imdb", "a tie"), Finding("sst2", "second")])
    records = leaderboard_records()
    text = page(records, "s", analyse(records, baseline="linear_probe", n_resamples=200), {})
    found = text.split('<section id="findings"')[1].split("</section>")[0]
    assert found.index("<h3>sst2</h3>") < found.index("<h3>imdb</h3>") < found.index("<h3>across tasks</h3>")
    assert "<li>best &lt;script&gt;" in found
    assert found.index("best &lt;") < found.index("second") < found.index("a tie")


def test_two_renders_give_identical_bytes(tmp_path):
    """Two renders of the same records, each in its own Python process with its own hash seed (so no
    order may come from set iteration), write the same bytes, the embedded plots included."""
    code = ("import sys; from pathlib import Path; from tests.unit.test_html_report import render; "
            "render(Path(sys.argv[1]), 'page')")
    for seed in ("1", "2"):
        subprocess.run([sys.executable, "-c", code, str(tmp_path / seed)], check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONHASHSEED": seed})
    assert (tmp_path / "1" / "page" / "LEADERBOARD.html").read_bytes() == (
        tmp_path / "2" / "page" / "LEADERBOARD.html").read_bytes()


def test_report_html_flag(tmp_path):
    records = [record(seed=s, score=v) for s, v in enumerate([0.80, 0.82, 0.84])]
    assert "LEADERBOARD.html" not in [p.name for p in write_report(records, "s", tmp_path, baseline="x")]
    paths = write_report(records, "s", tmp_path, baseline="full_finetune", html=True)
    assert [p.name for p in paths][:4] == ["LEADERBOARD.md", "leaderboard.json", "leaderboard.csv",
                                           "LEADERBOARD.html"]
    assert (tmp_path / "LEADERBOARD.html").read_text().startswith("<!DOCTYPE html>")


def test_tlbench_report_html(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tlbench.cli import app
    from tlbench.config import load_suite
    from tlbench.grid import build_grid
    from tlbench.plugins import get_plugins
    from tlbench.records import export_jsonl

    suite = tmp_path / "s.toml"
    suite.write_text('models = ["m"]\nseeds = [0, 1]\n[tasks.sst2]\n[strategies.full_finetune]\n')
    (cell,) = build_grid(load_suite(suite, get_plugins(), check_data=False))
    export_jsonl([record(seed=s, score=0.8 + s / 100).but(cell_id=cell.id, run_id=f"{cell.id}-s{s}")
                  for s in (0, 1)], tmp_path / "results" / "s" / "runs.jsonl")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TLBENCH_DATA_DIR", str(tmp_path / "no-such-mirror"))
    out = CliRunner().invoke(app, ["report", str(suite), "--html"])
    assert out.exit_code == 0, out.output
    assert "LEADERBOARD.html" in out.output
    page = (tmp_path / "results" / "s" / "LEADERBOARD.html").read_text()
    assert "<title>s: leaderboard</title>" in page and "0.805 ± " in page


def test_every_member_of_the_family_is_printed_in_the_pairwise_matrix(rendered):
    """Each task's "Every pair" table holds every pair of the family, row minus column, each way round,
    with its Δ and verdict (names escaped like everywhere else)."""
    from tlbench.analysis import versus
    from tlbench.report_stats import pair_cell

    a = analyse(leaderboard_records(), baseline="linear_probe", n_resamples=500)
    sections = rendered.split("<h3>Every pair (row − column)</h3>")[1:]
    assert len(sections) == len(a["tasks"]) == 2
    members = 0
    for (t, e), section in zip(a["tasks"].items(), sections, strict=True):
        assert rendered.index(f"<h2>{t}</h2>") < rendered.index(section)
        table_html = section.split("</table>", 1)[0]
        def text(markup: str) -> str:
            return html.unescape(re.sub(r"<[^>]+>", "", markup))

        head = [text(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", table_html)]
        rows = [[text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
                for tr in re.findall(r"<tr>(.*?)</tr>", table_html)[1:]]
        shown = {(r[0], col): v for r in rows for col, v in zip(head[1:], r[1:], strict=True)}
        assert len(shown) == len(e["strategies"]) ** 2
        for x, row in e["pairwise"].items():
            for y, c in row.items():
                members += c["p_holm"] is not None
                assert shown[(x, y)] == pair_cell(c).replace("**", "")
                assert shown[(y, x)] == pair_cell(versus(e, y, x)).replace("**", "")
                assert shown[(x, y)].startswith(f"{c['delta']:+.3f} {c['verdict']}")
    assert members == a["statistics"]["family"]["size"] == 12
    assert "<strong>better</strong>" in sections[0].split("</table>")[0]
