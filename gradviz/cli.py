"""The command line, for a training machine with no browser:

    python -m gradviz diagnose run.csv [--lang zh]

prints what was read, the verdict and the symptoms it rests on, the checklist (yes/no and the evidence of each
symptom the run can show) and what to try first, in the page's words; exit code 0 when the run is healthy,
1 when it shows a symptom, 2 when the file cannot be read (one sentence says why).
"""

from __future__ import annotations

import argparse
import sys

from gradviz.experiments.your_run import RunFileError, load_run
from gradviz.page.checklist import lines, unchecked, verdict_text
from gradviz.page.i18n import LANGUAGES, Words
from gradviz.page.sections.run import error_text, read_line

HEALTHY, SYMPTOM, UNREADABLE = 0, 1, 2


def unmarked(text: str) -> str:
    """Catalogue text without its Markdown emphasis and code marks, for a terminal."""
    return text.replace("**", "").replace("`", "")


def report(path: str, words: Words) -> tuple[str, int]:
    """(the report on the log at path, the exit code)."""
    try:
        run = load_run(path)
    except RunFileError as error:
        return words("cli.unreadable", file=path, message=unmarked(error_text(error, words, str))), UNREADABLE
    except OSError:
        return words("cli.missing", file=path), UNREADABLE
    checklist = run.history.symptoms
    verdict, because = verdict_text(checklist, words)
    out = [unmarked(read_line(run, "upload", words, str)), "", words("cli.verdict", verdict=verdict)]
    if because:
        out.append(words("cli.because", symptoms=because))
    out.append("")
    width = max(len(words("cli.yes")), len(words("cli.no")))
    for line in lines(checklist, words):
        state = words("cli.yes") if line.present else words("cli.no")
        out.append(f"{state:<{width}}  {line.name}: {line.evidence}")
    missing = unchecked(checklist)
    if missing:
        out += ["", words("checklist.unchecked", symptoms=words("common.separator").join(
            words(f"checklist.symptom.{s.key}") for s in missing))]
    out += ["", unmarked(words(f"run.advice.{checklist.verdict}"))]
    return "\n".join(out), HEALTHY if checklist.verdict == "healthy" else SYMPTOM


def main(argv: list[str] | None = None) -> int:
    english = Words("en")
    parser = argparse.ArgumentParser(prog="python -m gradviz", description=english("cli.description"))
    commands = parser.add_subparsers(dest="command", required=True)
    diagnose = commands.add_parser("diagnose", help=english("cli.diagnose"), description=english("cli.diagnose"))
    diagnose.add_argument("file", help=english("cli.file"))
    diagnose.add_argument("--lang", choices=LANGUAGES, default="en", help=english("cli.lang"))
    arguments = parser.parse_args(argv)
    text, code = report(arguments.file, Words(arguments.lang))
    print(text, file=sys.stdout if code != UNREADABLE else sys.stderr)
    return code
