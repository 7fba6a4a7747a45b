"""Place and organisation names in Chinese report text: roads, 小区, villages, schools, companies.

Three sources:

1. Names the district already knows (its gazetteer: streets, communities, grid names …), matched
   exactly, longest first.
2. jieba words (dictionary only, no HMM: ≈ 0.1 ms for a title) grouped into names that end in a place
   word (…路, …小区, …村, …小学, …公司 — ``SUFFIXES``) at a word boundary, so 路面 and 城市 are not
   places. A name reaches left over name-like words and stops at punctuation, administrative units
   (A市, 九龙坡区), function words and verbs (投诉, 附近, 在, 的 …). Generic tails are trimmed, so
   丽发新城小区 and 丽发新城 are one place, and a bare common noun (搅拌站, 幼儿园) is no place at all.
3. Dictionary places and organisations (jieba tags ns, nt) without a suffix (杨家坪, 解放碑).

The title is read first; the body's opening only when the title names no place, because segmenting
whole messages costs 2–4 ms each (MEASURED.md). Segmentations are cached per distinct text.
``compatible`` says whether two reports' names can be the same place (one name contains the other).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any


def _words(text: str) -> list[str]:
    return text.split()


SUFFIXES = tuple(
    _words(
        """
        小区 花园 家园 公寓 新城 新村 社区 大厦 广场 山庄 公馆 庭院 苑 府 庭 湾 城 园 坊
        大道 大街 路口 街 路 巷 桥 隧道 高速 立交 站 码头 机场 号线 村 镇 乡 街道
        幼儿园 小学 中学 学校 大学 学院 职院 中专 技校 医院 卫生院 诊所
        公司 集团 物业 银行 驾校 超市 酒店 宾馆 商场 市场 工厂 厂 店 馆 中心 公园 景区
        """
    )
)
# Tails that say what kind of place it is, not which one: trimmed so that names compare.
TAILS = "(?:" + "|".join(_words("小区 社区 居民区 住宅区 片区 项目 楼盘 一期 二期 三期 四期 五期")) + ")*"
_TAIL_RE = re.compile(TAILS.replace(")*", ")+") + "$")
# Words that end a name on the left although jieba may tag them as nouns.
_BOUNDARY = frozenset(
    _words(
        """
        投诉 举报 反映 建议 咨询 请问 关于 希望 要求 请求 恳请 业主 居民 市民 群众 家长 学生
        附近 旁边 周边 周围 对面 门口 一带 交汇处 路段 沿线 领导 政府 部门 问题 情况 现象
        老板 我们 本人 你们 跑路 城市 全市 全省 全国
        东北 西北 东南 西南 东部 西部 南部 北部 中部 华北 华南 华东 华中 西北方向
        """
    )
)
# One-character words that never belong to a name (others — 发, 中, 之 — often do: 丽发新城).
_FUNCTION_CHARS = frozenset(
    "的在和与及或从到至对把被给让是了向于为将要请吗呢吧啊我你他她您该其这那个每各也都就很太最又"
)
# Multi-character words that end a name: conjunctions, prepositions, pronouns, particles always; verbs,
# adverbs, time and direction words only when common (jieba frequency ≥ 1000) — rarer ones are often
# parts of names that jieba mis-tags (可可/v in 可可小城, 东来/t in 东来苑).
_FUNCTION_FLAGS = frozenset(_words("c p r u uj ul uz uv ud ug y e o"))
_STOP_FLAGS = frozenset(_words("v vd vn d f t q l i ad an a b z zg m"))
_COMMON = 1000
_PROPER_MAX_FREQ = 80
_PROPER_FLAGS = frozenset({"ns", "nt", "nz", "nr", "nrt", "nrfg"})
_ROADS = ("路", "街", "大道", "巷")
_NAMING_FLAGS = frozenset(_words("a an n nz nt ns nr"))
_FACILITIES = ("站", "厂", "场", "店", "馆", "中心", "市场", "公司")
# Bodies open by addressing the government; such names are whom a report is sent to, not where.
_ADDRESSEE = re.compile("政府|市委|党委|人大|政协|国务院|领导")
# Teddy data anonymises districts as A市, A3区, K9县; real text has 重庆市, 九龙坡区, 西地省.
_ADMIN = re.compile(
    r"[A-Za-z]\d{0,2}(?:省|市|区|县)"
    r"|[\u4e00-\u9fff]{2,4}(?:省|自治区)"
    r"|[\u4e00-\u9fff]{2,3}市(?=[\u4e00-\u9fff]{2,4}[区县])"
    r"|[\u4e00-\u9fff]{2,3}(?<![小社片园景城郊校厂营])[区县]"
)
_DOTS = re.compile(r"(?<=[\u4e00-\u9fff])[·•.．・](?=[\u4e00-\u9fff])")
_NAME_CHAR = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]")
MAX_NAME = 12
BODY_CHARS = 120


def normalise(text: str) -> str:
    """NFKC, and the dots inside names (伊景园·滨河苑) removed."""
    return _DOTS.sub("", unicodedata.normalize("NFKC", text or ""))


def extract(body: str, *, title: str = "", known: Sequence[str] = ()) -> list[str]:
    """Place and organisation names of a report, most specific (longest) first."""
    found: dict[str, None] = dict.fromkeys(_known_names(title + " " + body[: 2 * BODY_CHARS], tuple(known)))
    found.update(dict.fromkeys(_names(normalise(title))))
    if not found:
        found.update(dict.fromkeys(_names(normalise(body[: 2 * BODY_CHARS])[:BODY_CHARS])))
    return sorted(found, key=len, reverse=True)


def compatible(a: Iterable[str], b: Iterable[str]) -> bool:
    """True when some name of one contains, or is contained in, some name of the other."""
    bs = list(b)
    return any(x == y or x in contained(y) or y in contained(x) for x in a for y in bs)


def contained(name: str) -> set[str]:
    """The shorter names that may mean the same place: any part of three or more characters, and a
    two-character start (丽发 → 丽发新城) but not a two-character middle (滨江 is no 润和滨江府)."""
    parts = {
        name[start : start + size] for size in range(3, len(name)) for start in range(len(name) - size + 1)
    }
    if len(name) > 2:
        parts.add(name[:2])
    return parts


@lru_cache(maxsize=500_000)
def _names(text: str) -> tuple[str, ...]:
    names: list[str] = []
    run: list[str] = []
    before = ("", "x")  # the word that ended the previous run
    tokens = _tokens(_ADMIN.sub("，", text))
    for k, (word, flag) in enumerate(tokens):
        if _breaks(word, flag):
            run, before = [], (word, flag)
            continue
        # A dictionary place of three or more characters (杨家坪); two (滨江, 南山) are too often just part
        # of an estate's name (万润滨江天著, 润和滨江府) to say "same place".
        if flag == "ns" and len(word) >= 3 and not word.endswith(SUFFIXES) and _frequency(word) < _COMMON:
            names.append(word)
        if word.endswith(SUFFIXES) and not (len("".join(run) + word) <= 2 and _continues(tokens, k)):
            name = _name([*run, word], before)
            if name:
                names.append(name)
                run, before = [], ("", "x")
                continue
            if _TAIL_RE.fullmatch(word):  # a name never runs on past 小区, 社区 …
                run, before = [], (word, flag)
                continue
        run.append(word)
    return tuple(dict.fromkeys(n for n in names if _keep(n)))


def words(text: str) -> list[str]:
    """The content words of a short text (a title): no punctuation, particles or pronouns."""
    return [
        w
        for w, flag in _tokens(normalise(text))
        if _NAME_CHAR.search(w) and flag not in _FUNCTION_FLAGS and w not in _FUNCTION_CHARS
    ]


def _continues(tokens: tuple[tuple[str, str], ...], k: int) -> bool:
    """The next word is a kind of place that completes a too-short name: 楚府|中学, 北城|菜市场."""
    if k + 1 >= len(tokens):
        return False
    word = tokens[k + 1][0]
    if _TAIL_RE.fullmatch(word) or not word.endswith(SUFFIXES):
        return False
    return word in SUFFIXES or _is_common_word(word)  # 北城|菜市场, but not 凉塘路|旧城(改造)


def _keep(name: str) -> bool:
    return not _ADDRESSEE.search(name)


def _breaks(word: str, flag: str) -> bool:
    if not _NAME_CHAR.search(word):
        return True
    if len(word) == 1:
        return word in _FUNCTION_CHARS
    if word in _BOUNDARY or flag in _FUNCTION_FLAGS:
        return True
    return flag in _STOP_FLAGS and not word.endswith(SUFFIXES) and _frequency(word) >= _COMMON


def _frequency(word: str) -> int:
    return int(_jieba()[0].FREQ.get(word, 0) or 0)


def _name(words: list[str], before: tuple[str, str]) -> str:
    """The name a run of words ending in a place word makes, or "" if it is no proper name."""
    name = "".join(words)[-MAX_NAME:]
    # A bare road word (路, 东路), not the ordinary noun 道路 (目前|道路 is no road's name).
    road = name.endswith(_ROADS) and len(name) < 3 and (name in _ROADS or not _is_ordinary_word(name))
    # Roads take almost any word as their name (青年路, 解放路); an estate or a school only a noun or an
    # adjective (幸福小区, not 增加|幼儿园).
    naming = before[1] not in _FUNCTION_FLAGS if road else before[1] in _NAMING_FLAGS
    bare = road or name in SUFFIXES
    plain = before[0] not in _BOUNDARY and before[0] not in SUFFIXES and not _TAIL_RE.fullmatch(before[0])
    if bare and naming and len(before[0]) >= 2 and plain:
        name = before[0] + name  # named after an ordinary word: 解放路, 劳动东路, 幸福小区, 光明村
    elif len(words) > 1 and all(w in SUFFIXES for w in words):
        return ""  # kinds of places only: 小学学校
    trimmed = _TAIL_RE.sub("", name)
    if len(trimmed) >= 2 and not _is_common_word(trimmed):  # 丽发新城小区 → 丽发新城; 幸福小区 stays
        name = trimmed
    if len(name) < 2 or name in SUFFIXES or _is_common_word(name) or _generic_kind(name):
        return ""
    return name


def _generic_kind(name: str) -> bool:
    """A kind of thing, not a named one: 社区搅拌站, 违建搅拌站, 小区临街, 搅拌厂, 建搅拌站."""
    last = _common_ending(name)
    if last and last not in SUFFIXES:
        rest = name[: -len(last)]
        if len(rest) < 2 or rest in _BOUNDARY or _TAIL_RE.fullmatch(rest):
            return True
        return _is_ordinary_word(rest) and not name.endswith(_ROADS)  # 劳动东路 is a road's name
    if name.endswith(_FACILITIES):
        return _is_ordinary_word(_without_suffix(name))
    return False


def _common_ending(name: str) -> str:
    """The longest ordinary dictionary word (two or more characters) that ends the name."""
    for size in range(len(name) - 1, 1, -1):
        if _is_common_word(name[-size:]):
            return name[-size:]
    return ""


def _without_suffix(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _is_ordinary_word(word: str) -> bool:
    """In the dictionary and not tagged as a proper noun, however rare: 搅拌, 违建, 社区 (not 北城)."""
    tokenizer, tags = _jieba()
    return bool(tokenizer.FREQ.get(word, 0)) and tags.get(word, "n") not in _PROPER_FLAGS


@lru_cache(maxsize=200_000)
def _is_common_word(name: str) -> bool:
    """A dictionary word that is no proper noun (搅拌站, 幼儿园), or one jieba tags as a place but that
    is too frequent to name one (临街, 新城, 旧城: frequency ≥ 80, where 杨家坪 has 5, 朝天门 50)."""
    tokenizer, tags = _jieba()
    freq = int(tokenizer.FREQ.get(name, 0) or 0)
    return freq > 0 and (tags.get(name, "n") not in _PROPER_FLAGS or freq >= _PROPER_MAX_FREQ)


@lru_cache(maxsize=500_000)
def _tokens(text: str) -> tuple[tuple[str, str], ...]:
    import jieba.posseg

    _jieba()
    return tuple((p.word, p.flag) for p in jieba.posseg.cut(text, HMM=False))


def _known_names(text: str, known: tuple[str, ...]) -> tuple[str, ...]:
    if not known:
        return ()
    pattern = _known_pattern(known)
    return tuple(dict.fromkeys(m.group(0) for m in pattern.finditer(normalise(text))))


@lru_cache(maxsize=8)
def _known_pattern(known: tuple[str, ...]) -> re.Pattern[str]:
    names = sorted({normalise(k) for k in known if len(k.strip()) >= 2}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, names))) if names else re.compile(r"(?!)")


@lru_cache(maxsize=1)
def _jieba() -> tuple[Any, dict[str, str]]:
    """jieba's dictionary (≈ 1–2 s to load, once per process) and its part-of-speech table."""
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba.dt, jieba.posseg.dt.word_tag_tab
