"""Hotspots: many reports about one problem at one place (or of one group), ranked by heat.

``find_hotspots(reports)`` is a pure function, used by ``cityloop hotspots`` on a CSV and by the
worker on cases. How reports group (docs/insight/hotspots.md has the reasoning and what we checked):

1. Each report becomes a TF-IDF vector of character bigrams of its title and the opening of its body.
2. Candidate pairs: reports sharing a *distinctive* bigram (one in few reports: 丽发, 搅拌), found by a
   sparse product restricted to those bigrams — linear in the number of reports, not quadratic.
3. A pair links when its cosine similarity is high enough and its places do not contradict: both name
   places and no name of one contains a name of the other → never the same hotspot (also when their
   categories, if known, differ).
4. Linked groups are split by average-linkage clustering, so one loose chain of pairs cannot glue two
   problems together; a group needs ``min_reports`` reports to count as a hotspot.

Heat = (reports + distinct days + 2·log2(1 + supporters)) × (0.5 + 0.5·recency), recency halving
every ``half_life_days`` before ``now``: many reports, many "me too"s and a long-lasting problem all
count, and a recent problem counts up to twice an old one.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

import numpy as np
import scipy.sparse as sp
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from cityloop.core.errors import ValidationFailed
from cityloop.insight import places as place_names
from cityloop.insight import textio
from cityloop.insight.features import clean
from cityloop.insight.textio import Table

BODY_CHARS = 200
BODY_WEIGHT = 0.6
LINK_SIMILARITY = 0.45  # similarity at which two reports are "the same problem"
PLACE_BONUS = 0.2  # added to the problem words' similarity when two reports name the same place
GROUP_SIMILARITY = 0.30  # average cosine that keeps a linked group together
DISTINCTIVE_SHARE = 0.01  # a bigram in at most 1 % of reports (and at least ...) is distinctive
DISTINCTIVE_MIN = 30
DISTINCTIVE_MAX = 120  # …and in at most this many: pairs grow with the square of a bigram's reports
_AREAS = ("街道", "镇", "乡")
CONFLICT_DISTANCE = 1000.0
AREA_SHARE = 0.05
AREA_MIN = 50
PLACE_ALL_PAIRS = 200  # a place named by more reports pairs each only with its next PLACE_WINDOW
PLACE_WINDOW = 30
CANDIDATE = 0.1  # cosine over distinctive bigrams alone that makes a pair worth a full comparison
BLOCK = 2000
MAX_GROUP = 1500  # larger linked groups are re-linked with stricter links before clustering


@dataclass(frozen=True)
class Report:
    """One report as hotspot detection sees it. ``time`` is timezone-aware."""

    id: str
    title: str
    body: str
    time: datetime
    support: int = 0
    places: tuple[str, ...] = ()  # names known from elsewhere (address, grid), added to extracted ones
    category: str = ""  # when known, reports of different categories never group


@dataclass
class Hotspot:
    hotspot_id: str
    heat: float
    start: datetime
    end: datetime
    place: str
    summary: str
    members: list[str]
    reports: int
    days: int
    support: int
    rank: int = 0
    places: list[str] = field(default_factory=list)


def find_hotspots(
    reports: Sequence[Report],
    *,
    now: datetime | None = None,
    known_places: Sequence[str] = (),
    min_reports: int = 2,
    half_life_days: float = 90.0,
    zone: tzinfo = UTC,
) -> list[Hotspot]:
    """Hotspots among ``reports``, hottest first (rank 1). ``now`` defaults to the latest report;
    ``zone`` is where calendar days are counted (the district's)."""
    if not reports:
        return []
    names = _shared_names(
        [
            tuple(dict.fromkeys([*r.places, *place_names.extract(r.body, title=r.title, known=known_places)]))
            for r in reports
        ]
    )
    # Only the opening of a body counts (a report states its problem first); cut before normalising.
    titles, bodies = [r.title[:BODY_CHARS] for r in reports], [r.body[: 2 * BODY_CHARS] for r in reports]
    ctx = _Context.build(
        vectors=_vectors(titles, bodies),
        problems=_vectors(_masked(titles, names), _masked(bodies, names), title_words=True),
        names=names,
        categories=[r.category for r in reports],
    )
    reference = now or max(r.time for r in reports)
    spots = [
        _hotspot(reports, ctx, g, reference, half_life_days, zone)
        for g in _groups(ctx, np.argsort([r.time.timestamp() for r in reports], kind="stable"))
        if len(g) >= min_reports
    ]
    spots.sort(key=lambda h: (-h.heat, h.start, h.hotspot_id))
    for rank, spot in enumerate(spots, start=1):
        spot.rank = rank
    return spots


@dataclass(frozen=True)
class _Context:
    """What grouping needs, as matrices: similarity and place checks are vectorised, not per pair."""

    vectors: sp.csr_matrix  # whole text
    problems: sp.csr_matrix  # text without place names
    places: sp.csr_matrix  # report × place name (1 = mentions)
    related: sp.csr_matrix  # report × place name: names related to the report's (containing/contained)
    named: np.ndarray  # report has at least one place name
    category: np.ndarray  # category code, -1 when unknown
    names: list[tuple[str, ...]]

    @classmethod
    def build(
        cls,
        *,
        vectors: sp.csr_matrix,
        problems: sp.csr_matrix,
        names: list[tuple[str, ...]],
        categories: list[str],
    ) -> _Context:
        index = {n: k for k, n in enumerate(dict.fromkeys(n for own in names for n in own))}
        rows = [i for i, own in enumerate(names) for _ in own]
        cols = [index[n] for own in names for n in own]
        shape = (len(names), max(1, len(index)))
        places = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
        codes = {c: k for k, c in enumerate(sorted({c for c in categories if c}))}
        return cls(
            vectors=vectors,
            problems=problems,
            places=places,
            related=sp.csr_matrix(places @ _containment(index)),
            named=np.array([bool(own) for own in names]),
            category=np.array([codes.get(c, -1) for c in categories]),
            names=names,
        )

    def similarity(
        self, rows: np.ndarray, cols: np.ndarray, full: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(similarity, conflict) per pair. Same place: the problem words' cosine + PLACE_BONUS; no place
        on one side: the whole text's cosine. Conflict: both name places and none matches, or their
        categories differ — such a pair never shares a hotspot."""
        problem = np.asarray(self.problems[rows].multiply(self.problems[cols]).sum(axis=1)).ravel()
        same_place = np.asarray(self.related[rows].multiply(self.places[cols]).sum(axis=1)).ravel() > 0
        both = self.named[rows] & self.named[cols]
        known = (self.category[rows] >= 0) & (self.category[cols] >= 0)
        conflict = (both & ~same_place) | (known & (self.category[rows] != self.category[cols]))
        sims = np.where(both, problem + PLACE_BONUS, full)
        sims[conflict] = 0.0
        return np.asarray(sims), conflict


def _containment(index: dict[str, int]) -> sp.csr_matrix:
    """Name × name: 1 where one name contains the other (``places.contained``), and on the diagonal."""
    pairs = [(k, k) for k in index.values()]
    for name, k in index.items():
        for part in place_names.contained(name):
            other = index.get(part)
            if other is not None:
                pairs += [(k, other), (other, k)]
    size = max(1, len(index))
    rows, cols = zip(*pairs, strict=True) if pairs else ((), ())
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))
    matrix.data[:] = 1.0
    return matrix


def _shared_names(names: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Keep names that two or more reports share and that are not area-wide (in > AREA_SHARE of them).

    A name only one report uses cannot tie reports together, and is often a mis-cut phrase; a name in
    a large share of reports is the district or a whole area, which says nothing about "same place".
    """
    df = Counter(name for own in names for name in set(own))
    cap = max(AREA_MIN, AREA_SHARE * len(names))
    return [tuple(n for n in own if 2 <= df[n] <= cap) for own in names]


def _masked(texts: list[str], names: list[tuple[str, ...]]) -> list[str]:
    """Texts without their place names (and the 小区/社区 after them): what is left is the problem."""
    out = []
    for text, own in zip(texts, names, strict=True):
        text = place_names.normalise(text)
        if own:
            pattern = "(?:" + "|".join(map(re.escape, own)) + ")" + place_names.TAILS
            text = re.sub(pattern, " ", text)
        out.append(text)
    return out


def _vectors(title_texts: list[str], body_texts: list[str], *, title_words: bool = False) -> sp.csr_matrix:
    """Rows: L2-normalised [title bigrams (or words) | BODY_WEIGHT × body-opening bigrams].

    For "same problem?" the title's words beat its character bigrams: bigrams across word boundaries
    (近工, 地夜 in 附近工地夜间) are noise that dilutes the shared words (工地, 施工, 噪音). jieba's
    segmentation of titles is cached and shared with place extraction, so words cost little there.
    """
    bodies = [clean(b)[:BODY_CHARS] for b in body_texts]
    titles = [clean(t) or b[:30] for t, b in zip(title_texts, bodies, strict=True)]
    blocks = []
    for texts, weight, words in ((titles, 1.0, title_words), (bodies, BODY_WEIGHT, False)):
        vec = (
            TfidfVectorizer(analyzer=place_names.words, sublinear_tf=True)
            if words
            else TfidfVectorizer(analyzer="char", ngram_range=(2, 2), sublinear_tf=True, min_df=1)
        )
        try:
            blocks.append(weight * vec.fit_transform(texts))
        except ValueError:  # every text shorter than two characters
            blocks.append(sp.csr_matrix((len(texts), 1)))
    return sp.csr_matrix(normalize(sp.hstack(blocks, format="csr")))


def _groups(ctx: _Context, order: np.ndarray) -> list[list[int]]:
    rows, cols, full = _candidate_pairs(ctx.vectors)
    extra_rows, extra_cols = _place_pairs(ctx, order)
    n = ctx.vectors.shape[0]
    keys, first = np.unique(
        np.concatenate([pair_keys(rows, cols, n), pair_keys(extra_rows, extra_cols, n)]), return_index=True
    )
    rows, cols = keys // n, keys % n
    known = np.concatenate([full, np.full(len(extra_rows), np.nan)])[first]
    missing = np.isnan(known)
    known[missing] = _row_dots(ctx.vectors, rows[missing], cols[missing])
    sims, _ = ctx.similarity(rows, cols, known)
    keep = sims >= LINK_SIMILARITY
    return _linked(ctx, rows[keep], cols[keep], sims[keep], LINK_SIMILARITY)


def pair_keys(rows: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
    """One int64 key per pair: scipy hands out int32 indices, and row·n overflows them past ~46k reports."""
    return rows.astype(np.int64) * n + cols.astype(np.int64)


def _row_dots(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    out = np.empty(len(rows))
    for start in range(0, len(rows), 200_000):  # bounded memory on big inputs
        a, b = rows[start : start + 200_000], cols[start : start + 200_000]
        out[start : start + len(a)] = np.asarray(matrix[a].multiply(matrix[b]).sum(axis=1)).ravel()
    return out


def _linked(
    ctx: _Context, rows: np.ndarray, cols: np.ndarray, sims: np.ndarray, level: float
) -> list[list[int]]:
    """Connected groups of links at ``level``; groups too big to cluster are re-linked more strictly,
    and a group that stricter links cannot break (hundreds of near-identical reports) is kept whole."""
    n = ctx.vectors.shape[0]
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels)
    groups: list[list[int]] = []
    for label in np.flatnonzero(sizes >= 2):
        members = np.flatnonzero(labels == label)
        if len(members) <= MAX_GROUP:
            groups.extend(_split(ctx, members.tolist()))
            continue
        inside = labels[rows] == label
        stricter = inside & (sims >= level + 0.05)
        if not stricter.any() or level + 0.05 > sims[inside].max():
            groups.append(members.tolist())
            continue
        groups.extend(_linked(ctx, rows[stricter], cols[stricter], sims[stricter], level + 0.05))
    return groups


def _place_pairs(ctx: _Context, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (i < j) naming the same place. A place named by few reports pairs them all; a busy one
    pairs each report with its ``PLACE_WINDOW`` successors in time, so the work stays linear while
    a problem that keeps being reported there still chains together."""
    by_name = ctx.places.T.tocsr()
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    found_i: list[np.ndarray] = []
    found_j: list[np.ndarray] = []
    for name in range(by_name.shape[0]):
        members = by_name.indices[by_name.indptr[name] : by_name.indptr[name + 1]]
        if len(members) < 2:
            continue
        members = members[np.argsort(rank[members], kind="stable")]
        if len(members) <= PLACE_ALL_PAIRS:
            a, b = np.triu_indices(len(members), k=1)
        else:
            a = np.repeat(np.arange(len(members)), PLACE_WINDOW)
            b = a + np.tile(np.arange(1, PLACE_WINDOW + 1), len(members))
            a, b = a[b < len(members)], b[b < len(members)]
        found_i.append(members[a])
        found_j.append(members[b])
    if not found_i:
        empty = np.array([], dtype=np.int64)
        return empty, empty
    i, j = np.concatenate(found_i), np.concatenate(found_j)
    return np.minimum(i, j), np.maximum(i, j)


def _candidate_pairs(vectors: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i < j) whose distinctive bigrams alone give a cosine ≥ CANDIDATE, with their full cosine.

    The distinctive part of a cosine never exceeds the whole (all weights are positive), and bigrams in
    more than ``DISTINCTIVE_SHARE`` of the reports (的, 小区, 问题) add much work and little evidence.
    """
    n = vectors.shape[0]
    df = np.bincount(vectors.indices, minlength=vectors.shape[1])
    cap = max(DISTINCTIVE_MIN, min(int(DISTINCTIVE_SHARE * n), DISTINCTIVE_MAX))
    distinctive = sp.csr_matrix(vectors[:, np.flatnonzero((df >= 2) & (df <= cap))])
    at_t = distinctive.T.tocsr()
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for start in range(0, n, BLOCK):
        shared = sp.coo_matrix(distinctive[start : start + BLOCK] @ at_t)
        i = shared.row + start
        keep = (shared.col > i) & (shared.data >= CANDIDATE)
        rows, cols = shared.row[keep] + start, shared.col[keep]
        found.append((rows, cols, _row_dots(vectors, rows, cols)))
    if not found:
        empty = np.array([], dtype=int)
        return empty, empty, np.array([])
    return tuple(np.concatenate(parts) for parts in zip(*found, strict=True))  # type: ignore[return-value]


def _split(ctx: _Context, component: list[int]) -> list[list[int]]:
    """Average-linkage clusters of a linked group, so that one chain of pairs cannot glue two problems.

    A conflicting pair gets a distance so large that no average over fewer than a thousand pairs can
    hide it: reports without a place may join either of two places, but never bridge them.
    """
    if len(component) == 2:
        return [component]
    a, b = np.triu_indices(len(component), k=1)
    members = np.asarray(component)
    sub = ctx.vectors[members]
    full = np.asarray((sub @ sub.T).todense())[a, b]
    sims, conflict = ctx.similarity(members[a], members[b], full)
    condensed = np.where(conflict, CONFLICT_DISTANCE, np.clip(1.0 - sims, 0.0, 1.0))
    labels = fcluster(linkage(condensed, method="average"), t=1.0 - GROUP_SIMILARITY, criterion="distance")
    out: dict[int, list[int]] = {}
    for idx, label in zip(component, labels, strict=True):
        out.setdefault(int(label), []).append(idx)
    return list(out.values())


def _hotspot(
    reports: Sequence[Report],
    ctx: _Context,
    group: list[int],
    reference: datetime,
    half_life_days: float,
    zone: tzinfo,
) -> Hotspot:
    members = sorted(group, key=lambda i: (reports[i].time, reports[i].id))
    times = [reports[i].time for i in members]
    support = sum(max(0, reports[i].support) for i in members)
    days = len({t.astimezone(zone).date() for t in times})
    age_days = max(0.0, (reference - times[-1]).total_seconds() / 86400)
    recency = 0.5 ** (age_days / half_life_days)
    heat = (len(members) + days + 2 * math.log2(1 + support)) * (0.5 + 0.5 * recency)
    first = reports[members[0]].id
    return Hotspot(
        hotspot_id="H" + hashlib.sha1(first.encode("utf-8")).hexdigest()[:10],
        heat=round(heat, 2),
        start=times[0],
        end=times[-1],
        place=_place(ctx.names, members),
        summary=_summary(reports, ctx.vectors, members),
        members=[reports[i].id for i in members],
        reports=len(members),
        days=days,
        support=support,
        places=_ranked_places(ctx.names, members),
    )


def _ranked_places(names: list[tuple[str, ...]], members: list[int]) -> list[str]:
    """Names by how many members mention them; among equals the longer (more specific) first."""
    counts: Counter[str] = Counter()
    for i in members:
        counts.update(set(names[i]))
    return sorted(counts, key=lambda n: (-counts[n], -len(n), n))


def _place(names: list[tuple[str, ...]], members: list[int]) -> str:
    """The most specific of the names at least half as common as the commonest: 伊景园滨河苑, not 滨河;
    茶场村, not 西湖街道 (a street or town is an area, not a place)."""
    counts: Counter[str] = Counter()
    for i in members:
        counts.update(set(names[i]))
    if not counts:
        return ""
    top = max(counts.values())
    common = [n for n, c in counts.items() if 2 * c >= top]
    return max(common, key=lambda n: (not n.endswith(_AREAS), len(n), counts[n], n))


def _summary(reports: Sequence[Report], vectors: sp.csr_matrix, members: list[int]) -> str:
    """The title of the most typical member (highest mean similarity to the others)."""
    sub = vectors[members]
    centrality = np.asarray((sub @ sub.T).sum(axis=1)).ravel()
    best = reports[members[int(np.argmax(centrality))]]
    return clean(best.title) or clean(best.body)[:60]


def reports_from_table(
    table: Table,
    *,
    id_column: str,
    text_columns: Sequence[str],
    time_column: str,
    support_column: str | None,
    zone: tzinfo,
) -> list[Report]:
    """Reports from a table; the first of several text columns is the title. Checks every row first."""
    textio.require_columns(table, [id_column, time_column, *([support_column] if support_column else [])])
    textio.require_text(table, text_columns)
    reports: list[Report] = []
    for line, row in enumerate(table.rows, start=2):  # line 1 is the header
        report_id = row.get(id_column, "").strip()
        if not report_id:
            raise ValidationFailed("insight.error.empty_id", column=id_column, row=line)
        raw_time = row.get(time_column, "")
        when = textio.parse_time(raw_time, zone=zone)
        if when is None:
            raise ValidationFailed(
                "insight.error.bad_time", column=time_column, row=line, value=raw_time[:30]
            )
        fields = [row.get(c, "") for c in text_columns]
        title, body = (fields[0], " ".join(fields[1:])) if len(fields) > 1 else ("", fields[0])
        reports.append(
            Report(
                id=report_id,
                title=title,
                body=body,
                time=when,
                support=_count(row.get(support_column, ""), support_column, line) if support_column else 0,
            )
        )
    return reports


def _count(value: str, column: str, line: int) -> int:
    text = value.strip()
    if not text:
        return 0
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number != int(number):
        raise ValidationFailed("insight.error.bad_support", column=column, row=line, value=text[:30])
    return max(0, int(number))
