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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import scipy.sparse as sp
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from cityloop.insight import places as place_names
from cityloop.insight.features import clean

BODY_CHARS = 200
BODY_WEIGHT = 0.6
LINK_SIMILARITY = 0.45  # similarity at which two reports are "the same problem"
PLACE_BONUS = 0.2  # added to the problem words' similarity when two reports name the same place
GROUP_SIMILARITY = 0.30  # average cosine that keeps a linked group together
DISTINCTIVE_SHARE = 0.01  # a bigram in at most 1 % of reports (and at least ...) is distinctive
DISTINCTIVE_MIN = 30
AREA_SHARE = 0.05
AREA_MIN = 50
CANDIDATE = 0.1  # cosine over distinctive bigrams alone that makes a pair worth a full comparison
BLOCK = 2000
MAX_GROUP = 4000  # larger linked groups are split by their strongest links only


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
) -> list[Hotspot]:
    """Hotspots among ``reports``, hottest first (rank 1). ``now`` defaults to the latest report."""
    if not reports:
        return []
    names = _shared_names(
        [
            tuple(dict.fromkeys([*r.places, *place_names.extract(r.body, title=r.title, known=known_places)]))
            for r in reports
        ]
    )
    vectors = _vectors([r.title for r in reports], [r.body for r in reports])
    problems = _vectors(_masked([r.title for r in reports], names), _masked([r.body for r in reports], names))
    groups = _groups(vectors, problems, names, [r.category for r in reports])
    reference = now or max(r.time for r in reports)
    spots = [
        _hotspot(reports, vectors, names, g, reference, half_life_days)
        for g in groups
        if len(g) >= min_reports
    ]
    spots.sort(key=lambda h: (-h.heat, h.start, h.hotspot_id))
    for rank, spot in enumerate(spots, start=1):
        spot.rank = rank
    return spots


def _shared_names(names: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Keep names that two or more reports share and that are not area-wide (in > AREA_SHARE of them).

    A name only one report uses cannot tie reports together, and is often a mis-cut phrase; a name in
    a large share of reports is the district or a whole area, which says nothing about "same place".
    """
    df = Counter(name for own in names for name in set(own))
    cap = max(AREA_MIN, AREA_SHARE * len(names))
    return [tuple(n for n in own if 2 <= df[n] <= cap) for own in names]


def _masked(texts: list[str], names: list[tuple[str, ...]]) -> list[str]:
    """Texts without their place names: what is left says what the problem is."""
    out = []
    for text, own in zip(texts, names, strict=True):
        text = place_names.normalise(text)
        for name in own:
            text = text.replace(name, " ")
        out.append(text)
    return out


def _vectors(title_texts: list[str], body_texts: list[str]) -> sp.csr_matrix:
    """Rows: L2-normalised [title bigrams | BODY_WEIGHT × body-opening bigrams]."""
    bodies = [clean(b)[:BODY_CHARS] for b in body_texts]
    titles = [clean(t) or b[:30] for t, b in zip(title_texts, bodies, strict=True)]
    blocks = []
    for texts, weight in ((titles, 1.0), (bodies, BODY_WEIGHT)):
        vec = TfidfVectorizer(analyzer="char", ngram_range=(2, 2), sublinear_tf=True, min_df=1)
        try:
            blocks.append(weight * vec.fit_transform(texts))
        except ValueError:  # every text shorter than two characters
            blocks.append(sp.csr_matrix((len(texts), 1)))
    return sp.csr_matrix(normalize(sp.hstack(blocks, format="csr")))


def _groups(
    vectors: sp.csr_matrix, problems: sp.csr_matrix, names: list[tuple[str, ...]], categories: list[str]
) -> list[list[int]]:
    rows, cols, full = _candidate_pairs(vectors)
    sims = _pair_similarity(rows, cols, full, problems, names, categories)
    keep = sims >= LINK_SIMILARITY
    n = vectors.shape[0]
    graph = sp.coo_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    members: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        members.setdefault(int(label), []).append(i)
    groups: list[list[int]] = []
    for component in members.values():
        if len(component) >= 2:
            groups.extend(_split(component, vectors, problems, names, categories))
    return groups


def _pair_similarity(
    rows: np.ndarray,
    cols: np.ndarray,
    full: np.ndarray,
    problems: sp.csr_matrix,
    names: list[tuple[str, ...]],
    categories: list[str],
) -> np.ndarray:
    """Same place: similarity of the problem words plus PLACE_BONUS; no place known: of the whole text;
    contradicting places or categories: 0."""
    problem = np.asarray(problems[rows].multiply(problems[cols]).sum(axis=1)).ravel()
    out = np.empty(len(rows))
    for k, (i, j) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        out[k] = _similarity(i, j, full[k], problem[k], names, categories)
    return out


def _similarity(
    i: int, j: int, full: float, problem: float, names: list[tuple[str, ...]], categories: list[str]
) -> float:
    if categories[i] and categories[j] and categories[i] != categories[j]:
        return 0.0
    if names[i] and names[j]:
        return problem + PLACE_BONUS if place_names.compatible(names[i], names[j]) else 0.0
    return full


def _candidate_pairs(vectors: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i < j) whose distinctive bigrams alone give a cosine ≥ CANDIDATE, with their full cosine.

    The distinctive part of a cosine never exceeds the whole (all weights are positive), and bigrams in
    more than ``DISTINCTIVE_SHARE`` of the reports (的, 小区, 问题) add much work and little evidence.
    """
    n = vectors.shape[0]
    df = np.bincount(vectors.indices, minlength=vectors.shape[1])
    cap = max(DISTINCTIVE_MIN, int(DISTINCTIVE_SHARE * n))
    distinctive = sp.csr_matrix(vectors[:, np.flatnonzero((df >= 2) & (df <= cap))])
    at_t = distinctive.T.tocsr()
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for start in range(0, n, BLOCK):
        block = vectors[start : start + BLOCK]
        shared = sp.coo_matrix(distinctive[start : start + BLOCK] @ at_t)
        i = shared.row + start
        keep = (shared.col > i) & (shared.data >= CANDIDATE)
        rows, cols = shared.row[keep], shared.col[keep]
        full = np.asarray(block[rows].multiply(vectors[cols]).sum(axis=1)).ravel()
        found.append((rows + start, cols, full))
    if not found:
        empty = np.array([], dtype=int)
        return empty, empty, np.array([])
    return tuple(np.concatenate(parts) for parts in zip(*found, strict=True))  # type: ignore[return-value]


def _split(
    component: list[int],
    vectors: sp.csr_matrix,
    problems: sp.csr_matrix,
    names: list[tuple[str, ...]],
    categories: list[str],
) -> list[list[int]]:
    """Average-linkage clusters of a linked group, so that one chain of pairs cannot glue two problems."""
    if len(component) == 2:
        return [component]
    if len(component) > MAX_GROUP:
        half = len(component) // 2
        return _split(component[:half], vectors, problems, names, categories) + _split(
            component[half:], vectors, problems, names, categories
        )
    full = np.asarray((vectors[component] @ vectors[component].T).todense())
    problem = np.asarray((problems[component] @ problems[component].T).todense())
    size = len(component)
    a, b = np.triu_indices(size, k=1)
    sims = np.array(
        [
            _similarity(component[x], component[y], full[x, y], problem[x, y], names, categories)
            for x, y in zip(a.tolist(), b.tolist(), strict=True)
        ]
    )
    condensed = np.clip(1.0 - sims, 0.0, 1.0)
    labels = fcluster(linkage(condensed, method="average"), t=1.0 - GROUP_SIMILARITY, criterion="distance")
    out: dict[int, list[int]] = {}
    for idx, label in zip(component, labels, strict=True):
        out.setdefault(int(label), []).append(idx)
    return list(out.values())


def _hotspot(
    reports: Sequence[Report],
    vectors: sp.csr_matrix,
    names: list[tuple[str, ...]],
    group: list[int],
    reference: datetime,
    half_life_days: float,
) -> Hotspot:
    members = sorted(group, key=lambda i: (reports[i].time, reports[i].id))
    times = [reports[i].time for i in members]
    support = sum(max(0, reports[i].support) for i in members)
    days = len({t.date() for t in times})
    age_days = max(0.0, (reference - times[-1]).total_seconds() / 86400)
    recency = 0.5 ** (age_days / half_life_days)
    heat = (len(members) + days + 2 * math.log2(1 + support)) * (0.5 + 0.5 * recency)
    first = reports[members[0]].id
    return Hotspot(
        hotspot_id="H" + hashlib.sha1(first.encode("utf-8")).hexdigest()[:10],
        heat=round(heat, 2),
        start=times[0],
        end=times[-1],
        place=_place(names, members),
        summary=_summary(reports, vectors, members),
        members=[reports[i].id for i in members],
        reports=len(members),
        days=days,
        support=support,
        places=_ranked_places(names, members),
    )


def _ranked_places(names: list[tuple[str, ...]], members: list[int]) -> list[str]:
    """Names by how many members mention them; among equals the longer (more specific) first."""
    counts: Counter[str] = Counter()
    for i in members:
        counts.update(set(names[i]))
    return sorted(counts, key=lambda n: (-counts[n], -len(n), n))


def _place(names: list[tuple[str, ...]], members: list[int]) -> str:
    """The most specific of the names at least half as common as the commonest (伊景园滨河苑, not 滨河)."""
    counts: Counter[str] = Counter()
    for i in members:
        counts.update(set(names[i]))
    if not counts:
        return ""
    top = max(counts.values())
    return max((n for n, c in counts.items() if 2 * c >= top), key=lambda n: (len(n), counts[n], n))


def _summary(reports: Sequence[Report], vectors: sp.csr_matrix, members: list[int]) -> str:
    """The title of the most typical member (highest mean similarity to the others)."""
    sub = vectors[members]
    centrality = np.asarray((sub @ sub.T).sum(axis=1)).ravel()
    best = reports[members[int(np.argmax(centrality))]]
    return clean(best.title) or clean(best.body)[:60]
