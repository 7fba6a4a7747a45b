"""Turning report text into numbers: character n-gram TF-IDF, the report's lead, category-name similarity.

Why characters and not words: Chinese has no spaces, and jieba segmentation costs 2–4 ms per message
(MEASURED.md and our bench), which alone would break "10,000 messages in under 10 s". Character 1–2-grams
cover most Chinese words (two characters) and needed no segmentation; adding jieba word features moved
5-fold macro-F1 on the Teddy sample by +0.005, within the noise (see docs/insight/classifier.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

# A report is one text, or several fields of which the first is the title (e.g. 留言主题, 留言详情).
Record = str | Sequence[str]
# Without a title field, the lead is the opening of the text: a Teddy title is 13–26 characters.
LEAD_CHARS = 25
# Category names that carry no meaning of their own.
VOID_NAMES = frozenset({"其他", "其它", "other", "others", ""})
_SPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    """NFKC (full-width letters and digits to ASCII) and one space for any run of white space."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text or "")).strip()


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
    """Character n-gram TF-IDF whose whole state is a vocabulary and an IDF array (no pickles)."""

    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray, ngram: tuple[int, int]) -> None:
        self.ngram = ngram
        self.vocabulary = list(vocabulary)
        self._vec = TfidfVectorizer(
            analyzer="char", ngram_range=ngram, vocabulary=self.vocabulary, dtype=np.float64
        )
        self._vec.idf_ = np.asarray(idf, dtype=np.float64)  # public setter; validates the length

    @classmethod
    def fit(cls, texts: Sequence[str], *, ngram: tuple[int, int], min_df: int = 1) -> CharTfidf:
        vec = TfidfVectorizer(analyzer="char", ngram_range=ngram, min_df=min_df, dtype=np.float64)
        vec.fit(texts)
        terms = [""] * len(vec.vocabulary_)
        for term, index in vec.vocabulary_.items():
            terms[index] = term
        return cls(terms, vec.idf_, ngram)

    @property
    def idf(self) -> np.ndarray:
        return np.asarray(self._vec.idf_)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        return sp.csr_matrix(self._vec.transform(texts))


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
        self._vec = TfidfVectorizer(analyzer="char", ngram_range=(2, 2), dtype=np.float64)
        try:
            matrix = self._vec.fit_transform(docs)
        except ValueError:  # only one-character names: nothing to match on
            self._centroids = None
        else:
            self._centroids = sp.csr_matrix(normalize(matrix)).T.tocsc()

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        if self._centroids is None:
            return np.zeros((len(texts), len(self.classes)))
        return np.asarray((self._vec.transform(texts) @ self._centroids).todense())
