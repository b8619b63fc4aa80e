"""bench/targets.py's verdicts: each target judged from the benchmarks' JSON as the issue
states it (the figures here are made up; the benchmarks measure the real ones)."""

from __future__ import annotations

from typing import Any

from bench.targets import burst_verdicts, import_verdicts, send_verdicts, startup_verdicts


def _run(db: str, send: bool, posts: int, baseline: str | None = None,
         **over: Any) -> dict[str, Any]:
    base = {"database": db, "label": "x", "send": send, "baseline": baseline, "posts": posts,
            "req_per_s": 100.0, "non_200": 0, "locked": 0, "p50_ms": 50.0, "p95_ms": 90.0,
            "p99_ms": 150.0, "max_ms": 300.0, "not_committed": 0, "mailed_after_200": 0,
            "send_rate_during": 950.0 if send else None,
            "send_rate_overall": 1000.0 if send else None}
    return {**base, **over}


def _by_name(verdicts: list[Any]) -> dict[str, bool | None]:
    return {v[0]: v[4] for v in verdicts}


def test_burst_passes_only_when_every_part_holds() -> None:
    runs = [_run("sqlite", False, 2000), _run("sqlite", True, 2000),
            _run("sqlite", True, 1, send_rate_during=1000.0),
            _run("postgresql", False, 2000),
            _run("postgresql", True, 2000, p99_ms=250.0, mailed_after_200=1,
                 send_rate_during=800.0),
            _run("postgresql", True, 1, send_rate_during=1000.0),
            _run("postgresql", True, 2000, baseline="old", p99_ms=2000.0)]
    got = _by_name(burst_verdicts({"runs": runs}, "100k"))
    assert got["T5 sqlite, 100k: p99 latency"] is True
    assert got["T5 sqlite, 100k: the send's rate during the burst"] is True  # 95% ≥ 90%
    assert got["T5 postgresql, 100k: p99 latency"] is False
    assert got["T5 postgresql, 100k: not committed / mailed after their 200"] is False
    assert got["T5 postgresql, 100k: the send's rate during the burst"] is False  # 80%
    assert got["T5 postgresql, 100k: non-200 / \"database is locked\""] is True


def test_a_failed_or_missing_benchmark_is_not_a_pass() -> None:
    for verdicts in (burst_verdicts(None, "x"), send_verdicts(None, True),
                     startup_verdicts(None), import_verdicts(None, True),
                     import_verdicts({"rows": []}, True), burst_verdicts({"runs": []}, "x")):
        assert verdicts and all(v[4] is None for v in verdicts)


def test_import_rate_is_judged_on_the_million_line_file() -> None:
    rows = [{"code": "this tree", "database": "sqlite", "lines": 100_000, "wall_s": 1.0,
             "phase_s": 0.5, "rss_mb": 90.0},
            {"code": "this tree", "database": "sqlite", "lines": 1_000_000, "wall_s": 9.0,
             "phase_s": 6.0, "rss_mb": 110.0}]
    got = _by_name(import_verdicts({"rows": rows}, True))
    assert got["T3 import of 1,000,000 lines, sqlite: rows/s (CLI wall)"] is True  # 111,111
    assert got["T3 import of 1,000,000 lines, sqlite: peak RSS"] is False  # +22%
    slow = [dict(r, wall_s=11.0) if r["lines"] == 1_000_000 else r for r in rows]
    assert _by_name(import_verdicts({"rows": slow}, True))[
        "T3 import of 1,000,000 lines, sqlite: rows/s (CLI wall)"] is False


def test_startup_judges_time_and_memory_apart() -> None:
    got = startup_verdicts({"send_s": 0.3, "send_mb": 60.0, "floor_s": 0.2, "floor_mb": 40.0,
                            "baseline_s": None, "baseline_mb": None, "ok_s": True,
                            "ok_mb": False})
    assert [v[4] for v in got] == [True, False]


def test_send_targets_keep_the_issue_numbering_and_flag_the_missing_million() -> None:
    targets = [{"name": "T1 a", "measured": "m", "needed": "n", "ok": True},
               {"name": "assembly", "measured": "m", "needed": "n", "ok": True}]
    got = send_verdicts({"targets": targets}, million=False)
    assert [v[0][:2] for v in got] == ["T1", "T3"]
    assert got[-1][4] is None


def test_resume_takes_a_step_only_if_it_was_measured_on_this_code(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from bench.report import code_sha
    from bench.targets import run_step

    out = tmp_path / "step.json"
    out.write_text(json.dumps({"figure": 1}), encoding="utf-8")
    out.with_suffix(".sha").write_text(code_sha() + "\n", encoding="utf-8")
    reused: list[str] = []
    assert run_step("step", "no-such-bench.py", [], out, reused) == {"figure": 1}
    assert reused and reused[0].startswith("step (step.json")
    out.with_suffix(".sha").write_text("000000000000\n", encoding="utf-8")  # other code
    reused = []
    assert run_step("step", "no-such-bench.py", [], out, reused) is None  # run again: fails
    assert reused == [] and not out.exists()
