"""Hotspots: ``cityloop hotspots`` on 附件3 (4,326 real messages; target < 60 s) with its top 10, and
``find_hotspots`` on 100,000 synthetic reports (target < 120 s), checking that planted hotspots come out.

    .venv/bin/python bench/hotspots.py [--synthetic 100000] [--skip-real]
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from typer.testing import CliRunner  # noqa: E402

from cityloop.cli import app  # noqa: E402
from cityloop.insight.hotspots import Report, find_hotspots  # noqa: E402

A3 = ROOT.parent / "shared" / "data" / "complaints" / "teddy2020c_a3_hotspot_messages_full_4326.csv"

# Made-up places and problems: names are random two-character stems, as real estate names are.
STEMS = "金银华富贵祥瑞和平安康泰乐福星月阳光明新丰茂盛兴旺龙凤麒麟桂兰梅竹松柏枫桃李杏荷莲江河湖海山川峰岭"
KINDS = ["小区", "花园", "家园", "路", "村", "小学", "中学", "公司", "大厦", "新村", "广场", "市场"]
PROBLEMS = [
    ("夜间施工噪音扰民", "旁边工地每天晚上施工到凌晨，噪音很大，无法休息"),
    ("车辆乱停堵塞消防通道", "门口车辆乱停乱放，消防通道被堵，出行困难"),
    ("垃圾堆积无人清运", "垃圾好几天没人清运，堆在路边臭气熏天"),
    ("路灯损坏晚上漆黑", "路灯坏了很久，晚上一片漆黑，行人容易摔倒"),
    ("餐馆油烟直排扰民", "楼下餐馆油烟直接排放，家里窗户都不敢开"),
    ("自来水水压不足", "最近自来水水压很低，高层住户经常没水"),
    ("物业乱收停车费", "物业擅自提高停车费，还不出示收费依据"),
    ("违章搭建侵占绿地", "有住户违章搭建，把公共绿地围起来自己用"),
    ("广场舞音响太吵", "每天晚上广场舞音响开得很大，严重扰民"),
    ("道路破损坑洼积水", "路面破损严重，下雨就积水，车辆经过溅人一身"),
    ("电梯频繁故障困人", "电梯经常出故障，已经发生好几次困人事件"),
    ("学校周边摊贩占道", "上下学时间摊贩占道经营，学生安全没有保障"),
    ("井盖缺失存在隐患", "路上井盖丢失很久了，晚上行人容易掉下去"),
    ("化粪池堵塞污水外溢", "化粪池堵塞，污水流到路面，气味难闻"),
    ("空中飞线私拉乱接", "楼道里电线私拉乱接，像蜘蛛网一样，有火灾隐患"),
    ("拖欠工人工资", "老板拖欠几十名工人工资半年了，一直不给"),
]
OPENERS = ["", "投诉", "反映", "关于", "请求解决"]
CLOSERS = ["，请尽快处理！", "，希望相关部门管一管。", "，多次反映无果。", "。"]


def bench_real() -> None:
    if not A3.exists():
        print(f"skipped 附件3: {A3} not present")
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "a3"
        args = ["hotspots", "--csv", str(A3), "--id", "留言编号", "--text", "留言主题,留言详情"]
        started = time.perf_counter()
        result = CliRunner().invoke(
            app, [*args, "--time", "留言时间", "--support", "点赞数", "--out", str(out)]
        )
        elapsed = time.perf_counter() - started
        if result.exit_code != 0:
            print(result.output)
            raise SystemExit(1)
        with (out / "hotspots.csv").open(encoding="utf-8") as fh:
            spots = list(csv.DictReader(fh))
        with (out / "members.csv").open(encoding="utf-8") as fh:
            sizes = Counter(row["hotspot_id"] for row in csv.DictReader(fh))
    print(f"附件3: {result.output.strip()}")
    print(f"附件3: whole command (read, extract, group, write) {elapsed:.1f} s (target < 60 s)")
    for spot in spots[:10]:
        print(
            f"  #{spot['rank']:<2} heat {float(spot['heat']):6.2f}  {sizes[spot['hotspot_id']]:3d} reports  "
            f"{spot['start'][:10]}..{spot['end'][:10]}  {spot['place'] or '-'}: {spot['summary']}"
        )


def synthetic(n: int, seed: int = 7) -> tuple[list[Report], dict[str, str]]:
    """``n`` reports: 60 planted hotspots (one problem at one place, 40–400 reports each) in a background
    of reports spread over 3,000 places, 16 problems and two years. Returns reports and planted labels."""
    rng = random.Random(seed)
    places = sorted({rng.choice(STEMS) + rng.choice(STEMS) + rng.choice(KINDS) for _ in range(4000)})[:3000]
    start = datetime(2023, 1, 1, tzinfo=UTC)
    planted: dict[str, str] = {}
    reports: list[Report] = []
    for _ in range(60):
        place, (title, body) = rng.choice(places), rng.choice(PROBLEMS)
        first = start + timedelta(days=rng.randrange(600))
        for _ in range(rng.randint(40, 400)):
            report = _report(
                rng, len(reports), place, title, body, first + timedelta(hours=rng.randrange(24 * 60))
            )
            planted[report.id] = f"{place}/{title}"
            reports.append(report)
    while len(reports) < n:
        place, (title, body) = rng.choice(places), rng.choice(PROBLEMS)
        when = start + timedelta(hours=rng.randrange(24 * 730))
        reports.append(_report(rng, len(reports), place, title, body, when))
    rng.shuffle(reports)
    return reports[:n], planted


def _report(rng: random.Random, k: int, place: str, title: str, body: str, when: datetime) -> Report:
    return Report(
        id=f"s{k}",
        title=f"{rng.choice(OPENERS)}{place}{title}",
        body=f"我是{place}的居民，{body}{rng.choice(CLOSERS)}",
        time=when,
        support=rng.choice([0, 0, 0, 1, 2, 5]),
    )


def bench_synthetic(n: int) -> None:
    reports, planted = synthetic(n)
    started = time.perf_counter()
    spots = find_hotspots(reports)
    elapsed = time.perf_counter() - started
    print(
        f"synthetic: {len(reports):,} reports → {len(spots):,} hotspots in {elapsed:.1f} s (target < 120 s)"
    )
    # Each planted hotspot should come out as one hotspot holding (nearly) only its own reports.
    found = 0
    for label in sorted(set(planted.values())):
        ids = {i for i, lab in planted.items() if lab == label}
        best = max(spots, key=lambda s: len(ids & set(s.members)))
        overlap = len(ids & set(best.members))
        purity = sum(planted.get(m) == label for m in best.members) / len(best.members)
        found += overlap >= 0.8 * len(ids) and purity >= 0.9
    print(
        f"synthetic: {found} of {len(set(planted.values()))} planted hotspots found whole (≥80 % of their "
        "reports in one hotspot that is ≥90 % theirs)"
    )
    top = spots[:3]
    print("synthetic top 3: " + "; ".join(f"{s.place} {s.summary} ({s.reports})" for s in top))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--synthetic", type=int, default=100_000)
    parser.add_argument("--skip-real", action="store_true")
    args = parser.parse_args()
    if not args.skip_real:
        bench_real()
    if args.synthetic:
        bench_synthetic(args.synthetic)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
