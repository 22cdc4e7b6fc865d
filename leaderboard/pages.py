"""Pages made from the records: the docs site's result tables and the README's headline.

A Markdown page holds markers where generated text belongs; `expand` replaces each by
what the records say now, so no table on the site is copied by hand:

    <!-- fsmb:leaderboard FOLDER TRACK -->   `fsmb leaderboard --results FOLDER --format md`, TRACK's part
    <!-- fsmb:include FILE -->               a Markdown file a command wrote (e.g. results/jsb/result.md)

The README keeps a short headline table between ``<!-- fsmb:headline FOLDER TRACK -->``
and ``<!-- /fsmb:headline -->``; ``python -m leaderboard.pages --readme README.md``
rewrites it from the records, and ``--check`` says whether it is current (the tests do).
FOLDER and FILE are paths inside the repository; one that leaves it is refused.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Sequence

from leaderboard.aggregate import Row, leaderboard_rows
from leaderboard.render import converged_mark, fmt_delta, fmt_num, fmt_training, table_reference, to_markdown

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!-- fsmb:(leaderboard|include) (\S+)(?: (\S+))? -->")
HEADLINE = re.compile(r"(<!-- fsmb:headline (\S+) (\S+) -->\n)(.*?)(<!-- /fsmb:headline -->)", re.S)


def inside(root: Path, relative: str) -> Path:
    """``root / relative``, refused (``ValueError``) when it resolves outside ``root``."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ValueError(f"{relative}: outside the repository {root}")
    return path


def track_rows(root: Path, folder: str, track: str) -> list[Row]:
    """The leaderboard rows of ``track`` in ``root/folder``; none is an error (a marker
    naming a track the folder lacks is a typo, not an empty table)."""
    rows = [r for r in leaderboard_rows(inside(root, folder)) if r.track == track]
    if not rows:
        raise ValueError(f"{folder}: no rows of track {track}")
    return rows


def expand(text: str, root: Path = ROOT) -> str:
    """``text`` with every marker replaced by its generated Markdown."""

    def generated(m: re.Match[str]) -> str:
        kind, path, track = m.group(1), m.group(2), m.group(3)
        if kind == "include":  # its title, if any, becomes a bold line: the page has its own headings
            text = inside(root, path).read_text().strip()
            return re.sub(r"^#+ (.*)$", r"**\1**", text, flags=re.M)
        if track is None:
            raise ValueError(f"{m.group(0)}: a leaderboard marker names FOLDER and TRACK")
        return to_markdown(track_rows(root, path, track)).strip()

    return MARKER.sub(generated, text)


def headline(rows: Sequence[Row]) -> str:
    """The README's short table: method, NLL with its CI, the paired Δ against the
    table's reference, the convergence mark and the training compute, best NLL first."""
    reference = table_reference(rows)
    lines = [
        f"| method | nats/token (±95% CI) | Δ vs {reference}, paired | converged | training |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.method} | {fmt_num(r.nll_nats_per_token)} ± {fmt_num(r.ci95)} | "
            f"{fmt_delta(r, reference)} | {converged_mark(r)} | {fmt_training(r)} |"
        )
    return "\n".join(lines) + "\n"


def refresh_headlines(text: str, root: Path = ROOT) -> str:
    """``text`` with each headline block rewritten from its records."""
    return HEADLINE.sub(lambda m: m.group(1) + headline(track_rows(root, m.group(2), m.group(3))) + m.group(5), text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leaderboard.pages", description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md", help="the page with headline blocks")
    parser.add_argument("--check", action="store_true", help="exit 1 if a headline is not what the records say")
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    if not HEADLINE.search(text):
        parser.error(f"{args.readme}: no <!-- fsmb:headline FOLDER TRACK --> block")
    new = refresh_headlines(text)
    if args.check:
        if new != text:
            print(
                f"{args.readme}: a headline table differs from the records; run python -m leaderboard.pages",
                file=sys.stderr,
            )
            return 1
        return 0
    if new != text:
        tmp = args.readme.with_suffix(".tmp")
        tmp.write_text(new)
        tmp.replace(args.readme)
    print(f"{args.readme}: headline tables {'rewritten' if new != text else 'current'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
