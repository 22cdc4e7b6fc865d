"""The leaderboard as a static site (``fsmb leaderboard --format html --out SITE/``).

``SITE/index.html`` lists the tracks; ``SITE/<track>.html`` holds, per K, a sortable
table with every leaderboard column (NLL with its 95% CI, the paired difference to the
reference, bits per token and per unit, parameters, speed, budget, and the counted cost
with estimated Raspberry Pi latencies when a row has one), the sample-quality table,
the shots curve and the Pareto plot, each method's sample previews
(`benchmark.scoring.previews`: MIDI as a piano roll with the ``.mid`` to download,
audio as a spectrogram and an ``<audio>`` player, lyrics as text) and the method card of
every submission bundle.  The pages need no server and no framework: one small script
(``site_assets/sort.js``) sorts a table when a header is clicked.

Everything taken from a record is escaped (`html.escape`), file names in the site are
made from `safe_name`, and the site is written into a staging folder that replaces
``SITE/`` whole (a folder FSMB did not write is never replaced).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Callable, Sequence

from benchmark.cost.estimate import PI_DEVICES, PI_THREADS
from benchmark.run.records import EpisodeRecord, RecordError, RunRecord, file_stem, safe_name
from benchmark.scoring.previews import (
    INDEX,
    MAX_PREVIEWS,
    SUFFIX,
    Preview,
    PreviewError,
    Previews,
    read_previews,
)
from episodes.types import track_slug
from leaderboard.aggregate import UNIT_LABELS, Row, load_runs
from leaderboard.render import (
    BEST_NOTE,
    CONVERGED_NOTE,
    Q_NOTE,
    REPRODUCED_NOTE,
    converged_mark,
    fmt_best,
    fmt_num,
    fmt_q,
    fmt_reproduced,
    row_estimates,
    table_reference,
)

ASSETS = Path(__file__).with_name("site_assets")
MARKER = ".fsmb-site"  # a folder holding this file was written by write_site and may be replaced


@dataclass(frozen=True)
class Column:
    """A table column: its header, the cell text, and the value it sorts by."""

    header: str
    text: Callable[[Row], str]
    sort: Callable[[Row], float | str | None]


def page_slug(track: str) -> str:
    """The file-name stem of a track's page: ``midi/music21`` -> ``midi-music21``."""
    return safe_name(track_slug(track))


def _num(x: float | None) -> float | None:
    return None if x is None or x != x else float(x)


def main_columns(rows: Sequence[Row], reference: str | None) -> list[Column]:
    """The leaderboard's columns for ``rows`` (one track): the cost columns only when a
    row has a counted cost."""
    unit = UNIT_LABELS.get(rows[0].unit or "", "bits/unit")
    cols = [
        Column("method", lambda r: r.method, lambda r: r.method),
        Column("K", lambda r: str(r.shots), lambda r: r.shots),
        Column(
            "episodes",
            lambda r: f"{r.episodes} of {r.manifest_episodes}"
            if r.episodes != r.manifest_episodes
            else str(r.episodes),
            lambda r: r.episodes,
        ),
        Column("nats/token", lambda r: fmt_num(r.nll_nats_per_token), lambda r: _num(r.nll_nats_per_token)),
        Column("±95% CI", lambda r: fmt_num(r.ci95), lambda r: _num(r.ci95)),
        Column(
            f"Δ vs {reference or 'reference'}, paired",
            lambda r: "–"
            if r.delta_vs_reference is None or r.method == r.reference
            else f"{r.delta_vs_reference:+.3f}"
            + (f" (vs {r.reference})" if r.reference != reference else "")
            + (" ⚠ reference not converged" if r.reference_converged is False else ""),
            lambda r: None if r.method == r.reference else _num(r.delta_vs_reference),
        ),
        Column(
            "Δ ±95% CI",
            lambda r: "–" if r.method == r.reference else fmt_num(r.delta_ci95),
            lambda r: None if r.method == r.reference else _num(r.delta_ci95),
        ),
        Column("q (BH)", lambda r: fmt_q(r.delta_q_value), lambda r: _num(r.delta_q_value)),
        Column("vs best", fmt_best, lambda r: -1.0 if r.best else _num(r.vs_best_q_value)),
        Column("bits/token", lambda r: fmt_num(r.bits_per_token), lambda r: _num(r.bits_per_token)),
        Column(unit, lambda r: fmt_num(r.bits_per_unit), lambda r: _num(r.bits_per_unit)),
        Column("params", lambda r: f"{r.params:,}", lambda r: r.params),
        Column("eval tokens/s", lambda r: fmt_num(r.eval_tokens_per_s, 0), lambda r: _num(r.eval_tokens_per_s)),
        Column("budget", lambda r: r.budget, lambda r: r.budget),
        Column("converged", converged_mark, lambda r: str(r.converged)),
        Column("reproduced", fmt_reproduced, lambda r: len(r.reproduced or [])),
        Column(
            "training steps", lambda r: "–" if r.train_steps is None else f"{r.train_steps:,}", lambda r: r.train_steps
        ),
        Column("training s", lambda r: fmt_num(r.train_seconds, 0), lambda r: _num(r.train_seconds)),
        Column(
            "training FLOPs",
            lambda r: "–" if r.train_flops is None else f"{r.train_flops:.2e}",
            lambda r: r.train_flops,
        ),
    ]
    if any(r.cost for r in rows):
        cols += [
            Column(
                "MACs/step",
                lambda r: f"{r.cost['macs']:,}" if r.cost else "–",
                lambda r: r.cost["macs"] if r.cost else None,
            ),
            Column(
                "non-zero params",
                lambda r: f"{r.cost['nonzero_params']:,}" if r.cost else "–",
                lambda r: r.cost["nonzero_params"] if r.cost else None,
            ),
        ]
        for device, label in PI_DEVICES.items():
            for threads in PI_THREADS:
                cols.append(Column(f"est. {label} ms/step, {threads} thr", *_estimate(device, threads)))
    return cols


def _estimate(device: str, threads: int) -> tuple[Callable[[Row], str], Callable[[Row], float | None]]:
    """The cell text and sort value of the estimated latency on ``device`` at ``threads``."""

    def value(r: Row) -> float | None:
        found = [e.latency_ms for e in row_estimates(r) if e.device == device and e.threads == threads]
        return found[0] if found else None

    def text(r: Row) -> str:
        ms = value(r)
        return "–" if ms is None else f"{ms:.3f}"

    return text, value


def quality_columns(rows: Sequence[Row]) -> list[Column]:
    """A column per sample-quality figure any row has, headed with its direction."""
    from benchmark.scoring.quality import directions

    better = directions()
    names = sorted({k for r in rows for k in (r.quality or {}) if k in better or k.endswith("_reference")})
    cols = [
        Column("method", lambda r: r.method, lambda r: r.method),
        Column("K", lambda r: str(r.shots), lambda r: r.shots),
    ]
    for k in names:
        cols.append(Column(f"{k} ({better.get(k, 'target')})", *_quality_cell(k)))
    return cols


def _quality_cell(name: str) -> tuple[Callable[[Row], str], Callable[[Row], float | None]]:
    """The cell text and sort value of the sample-quality figure ``name``."""

    def value(r: Row) -> float | None:
        return _num((r.quality or {}).get(name))

    return lambda r: fmt_num(value(r)), value


def table_html(rows: Sequence[Row], columns: Sequence[Column], *, table_id: str) -> str:
    """A sortable table; every cell escaped, its sort key in ``data-sort``."""
    head = "".join(f'<th scope="col">{escape(c.header)}</th>' for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            key = c.sort(r)
            cells.append(f'<td data-sort="{escape("" if key is None else str(key))}">{escape(c.text(r))}</td>')
        css = ' class="reference"' if r.method == r.reference else ""
        body.append(f"<tr{css}>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table class="sortable" id="{escape(table_id)}"><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def page(title: str, body: str, *, nav: str = "") -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="style.css"></head><body>'
        f'<nav>{nav}</nav><h1>{escape(title)}</h1>{body}<script src="sort.js"></script></body></html>\n'
    )


def find_previews(results: Sequence[Path]) -> tuple[dict[str, Previews], list[str]]:
    """The previews under ``results`` by run key, and a line per preview folder skipped
    (malformed: `benchmark.scoring.previews.read_previews`)."""
    found: dict[str, Previews] = {}
    skipped = []
    for folder in results:
        for index in sorted(Path(folder).rglob(f"*{SUFFIX}/{INDEX}")):
            try:
                previews = read_previews(index.parent)
            except PreviewError as exc:
                skipped.append(str(exc))
                continue
            found.setdefault(previews.run_key, previews)
    return found, skipped


def record_previews(run: RunRecord, episodes: Sequence[EpisodeRecord]) -> Previews | None:
    """Previews from the samples a run's first episode record keeps (lyrics texts, MIDI
    tokens), for runs scored before preview folders existed; ``None`` without any."""
    import numpy as np

    modality = run.track_spec.get("modality")
    quality = episodes[0].quality if episodes else None
    samples = (quality or {}).get("samples")
    if modality not in ("lyrics", "midi") or not isinstance(samples, list) or not samples:
        return None
    kept = samples[:MAX_PREVIEWS]
    try:
        items = tuple(
            Preview(None, text=str(x)) if modality == "lyrics" else Preview(None, tokens=np.asarray(x, dtype=np.int64))
            for x in kept
        )
    except (TypeError, ValueError):
        return None
    first = episodes[0]
    return Previews(run.run_key, run.method, run.track, run.shots, modality, first.episode_id, first.artist, items)


def find_cards(results: Sequence[Path]) -> dict[str, dict]:
    """The method card of every submission bundle under ``results``, by run key."""
    from benchmark.run.records import read_json, read_run
    from leaderboard.submission import BUNDLE_FILE, CARD_FILE

    cards = {}
    for folder in results:
        for index in sorted(Path(folder).rglob(BUNDLE_FILE)):
            for run_path in index.parent.glob("*.run.json"):
                cards[read_run(run_path).run_key] = read_json(index.parent / CARD_FILE)
    return cards


def preview_html(previews: Previews, site: Path, slug: str) -> str:
    """Copy (or, for MIDI kept only as tokens, write) the previews' files into
    ``site/samples/<slug>/``, draw their pictures, and return their HTML."""
    from episodes.encoding import decode, write_midi
    from leaderboard.preview_images import piano_roll_png, spectrogram_png

    folder = site / "samples" / slug
    href = f"samples/{slug}"
    items = []
    for i, s in enumerate(previews.samples):
        parts = []
        if s.text is None:
            folder.mkdir(parents=True, exist_ok=True)
        if s.tokens is not None:
            piano_roll_png(s.tokens, folder / f"sample-{i}.png")
            parts.append(f'<img src="{href}/sample-{i}.png" alt="piano roll of sample {i}">')
        if s.levels is not None:
            spectrogram_png(s.levels, folder / f"sample-{i}.png")
            parts.append(f'<img src="{href}/sample-{i}.png" alt="log-mel spectrogram of sample {i}">')
        name: str | None = None
        if s.file is not None:
            name = s.file.name
            shutil.copyfile(s.file, folder / name)
        elif s.tokens is not None:
            name = f"sample-{i}.mid"
            write_midi(decode(s.tokens, strict=False), folder / name)
        if name is not None:
            if name.endswith(".wav"):
                parts.append(f'<audio controls preload="none" src="{href}/{name}"></audio>')
            parts.append(f'<a href="{href}/{name}" download>{name}</a>')
        if s.text is not None:
            parts.append(f"<pre>{escape(s.text)}</pre>")
        items.append('<div class="preview">' + "".join(parts) + "</div>")
    return (
        f'<h4>{escape(previews.method)}</h4><p class="note">samples adapted to the support set of episode '
        f"{escape(previews.episode_id)} (artist {escape(previews.artist)})</p>"
        f'<div class="previews">{"".join(items)}</div>'
    )


def track_page(
    track: str, rows: Sequence[Row], site: Path, *, previews: dict[str, Previews], cards: dict[str, dict]
) -> str:
    """The body of one track's page (its plots and previews written into ``site``)."""
    from leaderboard.pareto import plot_pareto
    from leaderboard.plot import plot_shots

    slug = page_slug(track)
    parts = []
    if rows[0].stand_in:
        parts.append('<p class="note">stand-in data: not the published corpus.</p>')
    for shots in sorted({r.shots for r in rows}):
        sub = [r for r in rows if r.shots == shots]
        reference = table_reference(sub)
        parts.append(
            f'<h2>K = {shots}</h2><p class="note">manifest sha256 <code>{escape(sub[0].manifest_sha256)}'
            f"</code>; paired differences are episode by episode against {escape(str(reference))}; "
            f'click a column header to sort.</p><p class="note">{escape(CONVERGED_NOTE)}</p>'
            f'<p class="note">{escape(Q_NOTE)}</p><p class="note">{escape(BEST_NOTE)}</p>'
            f'<p class="note">{escape(REPRODUCED_NOTE)}</p>'
        )
        parts.append(table_html(sub, main_columns(sub, reference), table_id=f"results-K{shots}"))
        sampled = [r for r in sub if r.quality]
        if sampled:
            parts.append(
                '<h3>Sample quality</h3><p class="note">means over episodes; the header says which way '
                "is better.</p>" + table_html(sampled, quality_columns(sampled), table_id=f"quality-K{shots}")
            )
    if len({r.shots for r in rows}) > 1:
        plot_shots(rows, site / f"{slug}-shots.png")
        parts.append(f'<h2>NLL against K</h2><figure><img src="{slug}-shots.png" alt="NLL against K"></figure>')
    if any(r.cost for r in rows):
        plot_pareto(rows, site / f"{slug}-pareto.png")
        parts.append(
            f'<h2>NLL against estimated Raspberry Pi 4 latency</h2><figure><img src="{slug}-pareto.png" '
            'alt="NLL against estimated Pi 4 latency per step, Pareto frontier marked"></figure>'
        )
    shown = [previews[r.run_key] for r in rows if r.run_key in previews]
    if shown:
        parts.append(
            "<h2>Samples</h2>"
            + "".join(preview_html(p, site, f"{slug}/{file_stem(p.method, p.track, p.shots)}") for p in shown)
        )
    carded = [(r, cards[r.run_key]) for r in rows if r.run_key in cards]
    if carded:
        parts.append(
            "<h2>Method cards</h2>"
            + "".join(
                f'<details id="card-{escape(safe_name(r.method))}"><summary>{escape(r.method)} (K = {r.shots})</summary>'
                f"<pre>{escape(json.dumps(card, indent=1, sort_keys=True))}</pre></details>"
                for r, card in carded
            )
        )
    return "".join(parts)


def index_page(by_track: dict[str, list[Row]]) -> str:
    """The body of the index: a row per track with its best method."""
    lines = [
        '<table class="sortable" id="tracks"><thead><tr><th>track</th><th>runs</th><th>K</th>'
        "<th>best method (nats/token)</th></tr></thead><tbody>"
    ]
    for track, rows in by_track.items():
        best = min(rows, key=lambda r: r.nll_nats_per_token)
        slug = page_slug(track)
        shots = ", ".join(str(k) for k in sorted({r.shots for r in rows}))
        lines.append(
            f'<tr><td data-sort="{escape(track)}"><a href="{slug}.html">{escape(track)}</a></td>'
            f'<td data-sort="{len(rows)}">{len(rows)}</td><td data-sort="{escape(shots)}">{escape(shots)}'
            f'</td><td data-sort="{best.nll_nats_per_token}">{escape(best.method)} (K = {best.shots}: '
            f"{fmt_num(best.nll_nats_per_token)})</td></tr>"
        )
    lines.append(
        '</tbody></table><p class="note">Written by <code>fsmb leaderboard --format html</code> from the '
        "run records; every figure is recomputed from the per-episode records.</p>"
    )
    return "".join(lines)


def write_site(rows: Sequence[Row], results: Sequence[Path], out: Path) -> list[str]:
    """Write the site of ``rows`` (from the result folders ``results``) to ``out``; returns
    a line per preview folder that was skipped as malformed."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise RecordError(f"--out {out} exists and is not a site fsmb wrote; name a new or empty folder")
    if not rows:
        raise RecordError("no leaderboard rows to publish (the result folders hold no scored episodes)")
    previews, skipped = find_previews(results)
    for run, episodes in load_runs(list(results)):
        if run.run_key not in previews and (kept := record_previews(run, episodes)):
            previews[run.run_key] = kept
    cards = find_cards(results)
    by_track: dict[str, list[Row]] = {}
    for r in rows:
        by_track.setdefault(r.track, []).append(r)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for asset in ("sort.js", "style.css"):
            shutil.copyfile(ASSETS / asset, staging / asset)
        nav = '<a href="index.html">all tracks</a>' + "".join(
            f'<a href="{page_slug(t)}.html">{escape(t)}</a>' for t in by_track
        )
        (staging / "index.html").write_text(page("FSMB leaderboard", index_page(by_track), nav=nav), encoding="utf-8")
        for track, track_rows in by_track.items():
            body = track_page(track, track_rows, staging, previews=previews, cards=cards)
            (staging / f"{page_slug(track)}.html").write_text(
                page(f"FSMB leaderboard: {track}", body, nav=nav), encoding="utf-8"
            )
        (staging / MARKER).write_text("written by fsmb leaderboard --format html\n", encoding="utf-8")
        staging.chmod(0o755)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            out.rename(old / "site")
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return skipped
