"""Small synthetic report tables for the insight tests (the Teddy data is used only by the few
shared-data tests, which skip when ../shared is absent)."""

from __future__ import annotations

import csv
import io
import json
import random
import zipfile
from pathlib import Path

PLACES = ["幸福小区", "阳光花园", "金桥路", "红星村", "实验小学", "滨江苑", "东风路", "和平广场"]
PROBLEMS = {
    "环境噪音": [
        ("{p}附近工地夜间施工噪音扰民", "{p}旁边的工地每天晚上施工到凌晨，噪音很大，居民无法休息。"),
        ("投诉{p}广场舞音响太吵", "{p}每天晚上广场舞音响声音巨大，严重扰民，希望管一管噪音。"),
        ("{p}商铺夜间噪音污染", "{p}楼下商铺营业到深夜，音响和叫卖噪音很吵，影响睡眠。"),
    ],
    "停车管理": [
        ("{p}车辆乱停乱放堵塞通道", "{p}门口车辆乱停，占用消防通道和人行道，停车秩序混乱。"),
        ("{p}停车位不够用", "{p}停车位严重不足，车主只能在路边违停，请规划停车场。"),
        ("{p}僵尸车长期占用车位", "{p}有几辆僵尸车长期占用公共车位，停车更难了。"),
    ],
    "垃圾清运": [
        ("{p}垃圾堆积无人清运", "{p}垃圾桶满了好几天没人清运，垃圾堆在路边，臭味很大。"),
        ("{p}建筑垃圾乱倒", "{p}有人半夜乱倒建筑垃圾，堆成小山，希望清理垃圾。"),
        ("{p}垃圾站臭气熏天", "{p}旁边的垃圾站清运不及时，夏天臭气熏天，蚊蝇很多。"),
    ],
}
# What a district's category tree would say about each category.
CATEGORIES = {
    "环境噪音": ["施工噪音", "社会生活噪音", "商业噪音", "噪声扰民"],
    "停车管理": ["违章停车", "停车位规划", "占用车位", "乱停乱放"],
    "垃圾清运": ["生活垃圾清运", "建筑垃圾", "垃圾站管理", "卫生保洁"],
}


def labelled_rows(per_class: int = 16, seed: int = 1) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for label, templates in PROBLEMS.items():
        for k in range(per_class):
            title, body = templates[k % len(templates)]
            place = rng.choice(PLACES)
            rows.append(
                {
                    "编号": f"{label[:1]}{k}",
                    "标题": title.format(p=place),
                    "内容": body.format(p=place),
                    "类别": label,
                }
            )
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def rewrite_header(path: Path, **changes: object) -> None:
    """Change fields of a model file's header, as a model from another version would have them."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    header = json.loads(members["header.json"])
    header.update(changes)
    members["header.json"] = json.dumps(header).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    path.write_bytes(buffer.getvalue())
