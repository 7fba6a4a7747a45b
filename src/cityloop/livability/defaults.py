"""Default facility types for the 15-minute life-service circle, loaded on request and then edited
by the district as data.

Thresholds are walking minutes at the default 4.5 km/h (75 m/min), rounded up from the service
radii that GB 50180-2018 (城市居住区规划设计标准) and the community-life-circle guidance commonly
give: 5-minute circle ≈ 300 m, 10-minute ≈ 500 m, 15-minute ≈ 800–1,000 m. A district that uses
other radii edits the rows; nothing reads these constants after loading.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TypeDefault:
    code: str
    name: str
    name_en: str
    threshold_minutes: float
    category: str
    for_elderly: bool
    basis: str


DEFAULT_TYPES = [
    TypeDefault(
        "elderly_station",
        "社区养老服务站",
        "Elderly service station",
        5,
        "basic",
        True,
        "5-minute circle, ≈300 m (老年人日间照料/养老服务站)",
    ),
    TypeDefault(
        "elderly_canteen",
        "老年食堂",
        "Elderly canteen",
        10,
        "basic",
        True,
        "5–10-minute walk (社区/老年食堂)",
    ),
    TypeDefault(
        "clinic",
        "社区卫生服务站",
        "Community clinic",
        10,
        "basic",
        True,
        "卫生服务站 ≈300–500 m; 卫生服务中心 one per street ≈1,000 m",
    ),
    TypeDefault("kindergarten", "幼儿园", "Kindergarten", 5, "basic", False, "≤300 m (5-minute circle)"),
    TypeDefault("primary_school", "小学", "Primary school", 10, "basic", False, "≤500 m (10-minute circle)"),
    TypeDefault(
        "market", "菜市场/生鲜超市", "Market / supermarket", 10, "basic", False, "≤500 m (10-minute circle)"
    ),
    TypeDefault("park", "社区公园/游园", "Park", 15, "quality", False, "15-minute circle, ≈1,000 m"),
    TypeDefault("bus_stop", "公交站", "Bus stop", 7, "basic", False, "≤500 m"),
    TypeDefault("rail_station", "轨道站点", "Rail station", 11, "quality", False, "≤800 m"),
]
