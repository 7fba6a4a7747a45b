"""Turning report text into numbers: character n-gram TF-IDF, the report's lead, category-name similarity.

Why characters and not words: Chinese has no spaces, and jieba segmentation costs 2–4 ms per message
(MEASURED.md and our bench), which alone would break "10,000 messages in under 10 s". Character 1–2-grams
cover most Chinese words (two characters) and needed no segmentation; adding jieba word features moved
5-fold macro-F1 on the Teddy sample by +0.005, within the noise (see docs/insight/classifier.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

# A report is one text, or several fields of which the first is the title (e.g. 留言主题, 留言详情).
Record = str | Sequence[str]
# Without a title field, the lead is the opening of the text: a Teddy title is 13–26 characters.
LEAD_CHARS = 25
# Category names that carry no meaning of their own.
VOID_NAMES = frozenset({"其他", "其它", "other", "others", ""})
_SPACE = re.compile(r"\s+")


# Full-width ASCII forms (Ａ１！) and the ideographic space to their ASCII equivalents: the part of NFKC
# that matters for report text, at a fraction of its cost on long messages.
_HALF_WIDTH = {0x3000: " ", **{cp: chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5F)}}


def clean(text: str) -> str:
    """Full-width letters and digits to ASCII, and one space for any run of white space."""
    return _SPACE.sub(" ", (text or "").translate(_HALF_WIDTH)).strip()


def document(record: Record) -> tuple[str, str]:
    """(full text, lead) of a report: the lead is the title field, or the opening of a lone text."""
    if isinstance(record, str):
        full = clean(record)
        return full, full[:LEAD_CHARS]
    fields = [clean(f) for f in record]
    full = " ".join(f for f in fields if f)
    lead = fields[0] if len(fields) > 1 and fields[0] else full[:LEAD_CHARS]
    return full, lead


class CharTfidf:
    """Character 1–2-gram TF-IDF whose whole state is a vocabulary and an IDF array (no pickles).

    ``fit`` is scikit-learn's ``TfidfVectorizer(analyzer="char")``; ``transform`` gives the same matrix
    (a test checks) but looks n-grams up with numpy — characters through a code-point table, bigrams
    as sorted integer keys — instead of a Python loop per n-gram, and without per-call scipy overhead.
    That is what lets 10,000 messages be classified in seconds and one report in about a millisecond.
    """

    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray, ngram: tuple[int, int]) -> None:
        if not 1 <= ngram[0] <= ngram[1] <= 2:
            raise ValueError(f"n-gram range {ngram} not supported (1 ≤ n ≤ 2)")
        self.ngram = (int(ngram[0]), int(ngram[1]))
        self.vocabulary = list(vocabulary)
        self.idf = np.asarray(idf, dtype=np.float64)
        if len(self.idf) != len(self.vocabulary) or any(not 1 <= len(t) <= 2 for t in self.vocabulary):
            raise ValueError("vocabulary and idf do not match")
        chars = sorted({ch for term in self.vocabulary for ch in term})
        self._char_id = {ch: k for k, ch in enumerate(chars, start=1)}  # 0 = a character never seen
        self._table = np.zeros(max((ord(c) for c in chars), default=0) + 1, dtype=np.int64)
        for ch, k in self._char_id.items():
            self._table[ord(ch)] = k
        self._size = len(chars) + 1
        self._unigram = np.full(self._size, -1, dtype=np.int64)
        bigram_keys: list[int] = []
        bigram_index: list[int] = []
        for index, term in enumerate(self.vocabulary):
            if len(term) == 1:
                self._unigram[self._char_id[term]] = index
            else:
                bigram_keys.append(self._char_id[term[0]] * self._size + self._char_id[term[1]])
                bigram_index.append(index)
        self._index = {term: index for index, term in enumerate(self.vocabulary)}
        order = np.argsort(np.array(bigram_keys, dtype=np.int64), kind="stable")
        self._bigram_keys = np.array(bigram_keys, dtype=np.int64)[order]
        self._bigram_index = np.array(bigram_index, dtype=np.int64)[order]

    @classmethod
    def fit(cls, texts: Sequence[str], *, ngram: tuple[int, int], min_df: int = 1) -> CharTfidf:
        vec = TfidfVectorizer(analyzer="char", ngram_range=ngram, min_df=min_df, dtype=np.float64)
        vec.fit(texts)
        terms = [""] * len(vec.vocabulary_)
        for term, index in vec.vocabulary_.items():
            terms[index] = term
        return cls(terms, vec.idf_, ngram)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """L2-normalised TF-IDF rows, one per text (all zeros for a text with no known n-gram)."""
        rows, cols, values = self.entries(texts)
        return sp.csr_matrix((values, (rows, cols)), shape=(len(texts), len(self.vocabulary)))

    def entries(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The non-zero entries (row, column, value) of ``transform(texts)``, computed with numpy only."""
        if len(texts) == 1 and len(texts[0]) <= ONE_TEXT_CHARS:
            return self._entries_of_one(texts[0])
        docs = [_WHITE_RUNS.sub(" ", t.lower()) for t in texts]
        points = np.frombuffer("".join(docs).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        inside = points < len(self._table)
        ids = np.where(inside, self._table[np.where(inside, points, 0)], 0)
        owner = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
        rows_parts, cols_parts = [], []
        if self.ngram[0] == 1:
            col = self._unigram[ids]
            rows_parts.append(owner[col >= 0])
            cols_parts.append(col[col >= 0])
        if self.ngram[1] == 2 and len(ids) > 1 and len(self._bigram_keys):
            same_text = owner[1:] == owner[:-1]
            keys = ids[:-1][same_text] * self._size + ids[1:][same_text]
            where = np.minimum(np.searchsorted(self._bigram_keys, keys), len(self._bigram_keys) - 1)
            found = self._bigram_keys[where] == keys
            rows_parts.append(owner[:-1][same_text][found])
            cols_parts.append(self._bigram_index[where[found]])
        rows = np.concatenate(rows_parts) if rows_parts else np.array([], dtype=np.int64)
        cols = np.concatenate(cols_parts) if cols_parts else np.array([], dtype=np.int64)
        cells, counts = np.unique(rows * len(self.vocabulary) + cols, return_counts=True)
        rows, cols = cells // len(self.vocabulary), cells % len(self.vocabulary)
        values = counts * self.idf[cols]
        norms = np.sqrt(np.bincount(rows, weights=values**2, minlength=len(docs)))
        return rows, cols, values / norms[rows]

    def _entries_of_one(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # The same entries for a lone short text (a report at intake) by dictionary look-ups: the dozen
        # numpy calls of the batch path cost more than the text itself (a profile of bench/cases_intake.py
        # put classification at a fifth of a report's CPU before this path).
        doc = _WHITE_RUNS.sub(" ", text.lower())
        index = self._index
        counts: dict[int, int] = {}
        if self.ngram[0] == 1:
            for ch in doc:
                col = index.get(ch)
                if col is not None:
                    counts[col] = counts.get(col, 0) + 1
        if self.ngram[1] == 2:
            for k in range(len(doc) - 1):
                col = index.get(doc[k : k + 2])
                if col is not None:
                    counts[col] = counts.get(col, 0) + 1
        cols = np.fromiter(sorted(counts), dtype=np.int64, count=len(counts))
        values = np.fromiter((counts[c] for c in cols.tolist()), dtype=np.float64, count=len(counts))
        values *= self.idf[cols]
        if len(values):
            values /= np.sqrt(values @ values)
        return np.zeros(len(cols), dtype=np.int64), cols, values


_WHITE_RUNS = re.compile(r"\s\s+")  # what scikit-learn's char analyzer collapses
# Up to this length a lone text takes the look-up path (longer ones: numpy's per-character speed wins).
ONE_TEXT_CHARS = 2000
# Category-name centroids up to this many cells (n-grams × classes) are kept dense as well (8 MB).
DENSE_CELLS = 1_000_000


@dataclass(frozen=True)
class CategoryPrior:
    """What the category names say about each class: one short document per sub-category.

    ``names`` maps a class to descriptive names (its sub-categories, e.g. the Teddy tree's 二级/三级
    分类). Scoring a text is a cosine between its character bigrams and each class's names, weighted by
    how few classes share a bigram, so "噪音污染" points to 环境保护 while "管理" points nowhere.
    """

    names: Mapping[str, Sequence[str]]

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[str]]) -> CategoryPrior:
        """Rows of a category tree: the class first, then its descriptive names (blank cells skipped)."""
        names: dict[str, list[str]] = {}
        for row in rows:
            if not row or not row[0].strip():
                continue
            bucket = names.setdefault(row[0].strip(), [])
            for cell in row[1:]:
                name = cell.strip()
                if name.lower() not in VOID_NAMES and name not in bucket:
                    bucket.append(name)
        return cls(names)

    @classmethod
    def from_names(cls, classes: Sequence[str]) -> CategoryPrior:
        """Nothing but the category names themselves (a platform with a flat category list)."""
        return cls({c: [] for c in classes})

    def restricted(self, classes: Sequence[str]) -> CategoryPrior:
        return CategoryPrior({c: list(self.names.get(c, ())) for c in classes})

    @property
    def classes(self) -> list[str]:
        return list(self.names)

    def class_documents(self) -> list[str]:
        return [" ".join([c, *self.names[c]]) for c in self.names]

    def pseudo_documents(self) -> tuple[list[str], list[str]]:
        """One training document per descriptive name, labelled with its class."""
        docs: list[str] = []
        labels: list[str] = []
        for c, names in self.names.items():
            for name in [c, *names]:
                docs.append(clean(name))
                labels.append(c)
        return docs, labels

    def scorer(self) -> PriorScorer:
        return PriorScorer(self)


class PriorScorer:
    """Cosine similarity of texts to each class's names (rows: texts, columns: classes)."""

    def __init__(self, prior: CategoryPrior) -> None:
        docs = [clean(d) for d in prior.class_documents()]
        self.classes = prior.classes
        try:
            self._vec: CharTfidf | None = CharTfidf.fit(docs, ngram=(2, 2))
        except ValueError:  # only one-character names: nothing to match on
            self._vec = None
        else:
            self._centroids = self._vec.transform(docs).T.tocsc()
            # Rows of the centroids by n-gram, dense when that is small, for one text at a time (``scores``).
            rows = self._centroids.tocsr()
            self._rows = rows.toarray() if rows.shape[0] * rows.shape[1] <= DENSE_CELLS else rows

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        if self._vec is None:
            return np.zeros((len(texts), len(self.classes)))
        if len(texts) == 1:  # intake: a dot product over the text's few n-grams, no sparse product
            _, cols, values = self._vec.entries(texts)
            if not len(cols):
                return np.zeros((1, len(self.classes)))
            return np.asarray(values @ self._rows[cols]).reshape(1, -1)
        return np.asarray((self._vec.transform(texts) @ self._centroids).todense())
