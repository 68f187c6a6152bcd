"""The command line for a training machine with no browser: python -m gradviz diagnose run.csv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import gradviz
from gradviz.cli import main
from gradviz.page.i18n import t

ROOT = Path(__file__).resolve().parents[1]
RUNS = Path(gradviz.__file__).parent / "data" / "runs"


@pytest.mark.parametrize("name, code, verdict", [("healthy", 0, "healthy"), ("vanishing", 1, "vanishing"),
                                                 ("exploding_clipped", 1, "exploding_clipped")])
def test_the_verdict_and_its_exit_code(name, code, verdict, capsys):
    assert main(["diagnose", str(RUNS / f"{name}.csv")]) == code
    out = capsys.readouterr().out
    assert t("cli.verdict", "en", verdict=t(f"checklist.verdict.{verdict}", "en")) in out
    assert t("checklist.symptom.early_stuck", "en") in out and "**" not in out and "`" not in out
    assert t(f"run.advice.{verdict}", "en").replace("**", "").replace("`", "") in out


def test_each_listed_symptom_is_a_line_with_its_answer(capsys):
    main(["diagnose", str(RUNS / "vanishing.csv")])
    lines = capsys.readouterr().out.splitlines()
    answered = [line for line in lines if line.startswith((t("cli.yes", "en"), t("cli.no", "en")))]
    assert len(answered) == 9  # ten symptoms, clipping left out: the run never clipped
    assert answered[0].startswith("yes") and t("checklist.symptom.not_converging", "en") in answered[0]


def test_an_unreadable_file_exits_2_with_one_sentence(tmp_path, capsys):
    bad = tmp_path / "run.csv"
    bad.write_text("step,layer\n0,a\n", encoding="utf-8")
    assert main(["diagnose", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == t("cli.unreadable", "en", file=str(bad),
                            message=t("run.missing_column", "en", column="grad_norm"))
    assert main(["diagnose", str(tmp_path / "absent.csv")]) == 2
    assert t("cli.missing", "en", file=str(tmp_path / "absent.csv")) in capsys.readouterr().err


def test_in_chinese_and_as_a_module(tmp_path):
    done = subprocess.run([sys.executable, "-m", "gradviz", "diagnose", str(RUNS / "healthy.csv"), "--lang", "zh"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0
    assert t("cli.verdict", "zh", verdict=t("checklist.verdict.healthy", "zh")) in done.stdout
