"""The monthly scorecards as a CSV a government office can file (月度共享评价报表).

UTF-8 with a byte-order mark (so that a spreadsheet opens the Chinese headers as such), one
header row of Chinese column names, then one row per provider department, one per consumer
department and one city-wide row. A figure that cannot be computed (no probes, nothing answered)
is empty; the usage records, which the hub does not keep yet, say 未建立.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from exchange.scorecards.compute import Scorecards

__all__ = ["COLUMNS", "csv_of", "csv_report"]

COLUMNS: tuple[tuple[str, str], ...] = (
    ("month", "月份"),
    ("role", "类别"),
    ("department", "部门代码"),
    ("name", "部门名称"),
    ("corrections_received", "收到纠错请求"),
    ("corrections_answered", "答复纠错请求"),
    ("corrections_on_time", "按时答复纠错"),
    ("corrections_overdue_open", "逾期未答复纠错"),
    ("applications_received", "收到共享申请"),
    ("applications_answered", "答复共享申请"),
    ("applications_on_time", "按时答复申请"),
    ("applications_overdue_open", "逾期未答复申请"),
    ("availability", "接口可用率"),
    ("latency_p50_ms", "响应时间中位数(毫秒)"),
    ("latency_p95_ms", "响应时间95分位(毫秒)"),
    ("fetch_success_rate", "取数成功率"),
    ("fresh_rate", "按更新周期更新率"),
    ("disputed_attributes", "异议信息项数"),
    ("quality_ratings", "数据质量评价数"),
    ("quality_mean_score", "数据质量平均分"),
    ("wrong_marks", "被标记有误次数"),
    ("asked_again", "可共享仍要求提交次数"),
    ("accesses", "调用次数"),
    ("within_purpose", "按用途使用率"),
    ("anomalies", "异常访问"),
    ("usage_records", "使用记录"),
    ("citizen_ratings", "群众评价数"),
    ("citizen_mean_score", "群众评价平均分"),
)
_NOT_BUILT = "未建立"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _provider_row(month: str, card: Mapping[str, Any]) -> dict[str, Any]:
    c, a, s = card["corrections"], card["applications"], card["sources"]
    return {
        "month": month,
        "role": "提供部门",
        "department": card["department"],
        "name": card["name"],
        "corrections_received": c["received"],
        "corrections_answered": c["answered"],
        "corrections_on_time": c["on_time"],
        "corrections_overdue_open": c["overdue_open"],
        "applications_received": a["received"],
        "applications_answered": a["answered"],
        "applications_on_time": a["on_time"],
        "applications_overdue_open": a["overdue_open"],
        "availability": s["availability"],
        "latency_p50_ms": s["latency_p50_ms"],
        "latency_p95_ms": s["latency_p95_ms"],
        "fetch_success_rate": s["fetch_success_rate"],
        "fresh_rate": card["freshness"]["fresh_rate"],
        "disputed_attributes": len(card["disputed_attributes"])
        if isinstance(card["disputed_attributes"], list)
        else card["disputed_attributes"],
        "quality_ratings": card["ratings"]["count"],
        "quality_mean_score": card["ratings"]["mean_score"],
        "wrong_marks": card["ratings"]["wrong_marks"],
        "asked_again": card["ratings"]["asked_again"],
    }


def _consumer_row(month: str, card: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "month": month,
        "role": "使用部门",
        "department": card["department"],
        "name": card["name"],
        "accesses": card["use"]["accesses"],
        "within_purpose": card["use"]["within_purpose"],
        "anomalies": card["anomalies"]["total"],
        "usage_records": _NOT_BUILT,
        "citizen_ratings": card["ratings"]["count"],
        "citizen_mean_score": card["ratings"]["mean_score"],
    }


def _city_row(month: str, city: Mapping[str, Any]) -> dict[str, Any]:
    row = _provider_row(
        month,
        {
            "department": "",
            "name": "全市",
            "corrections": city["corrections"],
            "applications": city["applications"],
            "sources": city["sources"],
            "freshness": city["freshness"],
            "disputed_attributes": city["disputed_attributes"],
            "ratings": city["provider_ratings"],
        },
    )
    row.update(
        role="全市",
        accesses=city["use"]["accesses"],
        within_purpose=city["use"]["within_purpose"],
        anomalies=city["anomalies"],
        usage_records=_NOT_BUILT,
        citizen_ratings=city["citizen_ratings"]["count"],
        citizen_mean_score=city["citizen_ratings"]["mean_score"],
    )
    return row


def csv_report(cards: Scorecards) -> str:
    """The month's scorecards as CSV text, with its byte-order mark."""
    return csv_of(cards.as_json())


def csv_of(view: Mapping[str, Any]) -> str:
    """The CSV report of scorecards as :meth:`Scorecards.as_json` gives them (or as stored)."""
    month = view["month"]
    rows = [
        *(_provider_row(month, card) for card in view["providers"]),
        *(_consumer_row(month, card) for card in view["consumers"]),
        _city_row(month, view["city"]),
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([title for _, title in COLUMNS])
    for row in rows:
        writer.writerow([_cell(row.get(key)) for key, _ in COLUMNS])
    return "\ufeff" + out.getvalue()
