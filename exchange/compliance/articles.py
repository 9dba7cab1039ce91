"""The kinds of breach the compliance view derives, and the article of 《政务数据共享条例》
(国务院令第809号) each one is reported under.

The mapping is the hub's reading of the regulation's chapter on legal responsibility, in one
table so that an office reading it differently changes one line: art. 39 for a department's
duties as a provider of data (catalogue updates, answers, delivery, no stopping or changing a
service without notice: 未按时答复, 未按时共享, 擅自终止或者变更), art. 40 for its duties as a
user of shared data (usage records, disposal), art. 41 for the data authority's own clocks
(catalogue review, extensions, routing requests, coordinating disputes).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ARTICLES", "Article", "BreachKind", "Party", "article_of"]


class Party(StrEnum):
    """Who a clock waits for, or whom a breach is charged to."""

    DEPARTMENT = "department"  # a department of the hub (提供部门 or 使用部门)
    AUTHORITY = "authority"  # the data authority (数据主管部门)
    SUPERIOR = "superior"  # the common superior, outside the hub (上级共同主管部门)
    GOVERNMENT = "government"  # the government at that level, outside the hub (本级人民政府)


class BreachKind(StrEnum):
    LATE_REPLY = "late_reply"  # 未按时答复共享申请
    LATE_DELIVERY = "late_delivery"  # 未按时共享（交付）
    LATE_CATALOGUE_UPDATE = "late_catalogue_update"  # 未按时更新目录
    LATE_DEMAND_REPLY = "late_demand_reply"  # 未按时答复供需对接
    LATE_CORRECTION = "late_correction"  # 未按时校核
    SERVICE_CHANGED_WITHOUT_NOTICE = "service_changed_without_notice"  # 擅自终止或者变更
    MISSING_USAGE_RECORDS = "missing_usage_records"  # 未记录使用情况
    UNATTESTED_DISPOSAL = "unattested_disposal"  # 未按规定销毁（未出具销毁说明）
    LATE_REVIEW = "late_review"  # 主管部门未按时审核目录
    LATE_EXTENSION_DECISION = "late_extension_decision"  # 主管部门未按时审批延期
    LATE_ROUTING = "late_routing"  # 主管部门未按时分派供需请求
    LATE_DISPUTE_COORDINATION = "late_dispute_coordination"  # 主管部门未按时协调争议


@dataclass(frozen=True)
class Article:
    """An article of the regulation as a report cites it."""

    number: int
    title: str  # e.g. 第三十九条

    def as_json(self) -> dict[str, object]:
        return {"number": self.number, "title": self.title}


ART_39 = Article(39, "第三十九条")
ART_40 = Article(40, "第四十条")
ART_41 = Article(41, "第四十一条")

ARTICLES: dict[BreachKind, tuple[Article, str]] = {
    BreachKind.LATE_REPLY: (ART_39, "未按时答复共享申请"),
    BreachKind.LATE_DELIVERY: (ART_39, "未按时共享数据"),
    BreachKind.LATE_CATALOGUE_UPDATE: (ART_39, "未按时更新目录"),
    BreachKind.LATE_DEMAND_REPLY: (ART_39, "未按时答复供需对接请求"),
    BreachKind.LATE_CORRECTION: (ART_39, "未按时校核数据"),
    BreachKind.SERVICE_CHANGED_WITHOUT_NOTICE: (ART_39, "擅自终止或者变更共享服务"),
    BreachKind.MISSING_USAGE_RECORDS: (ART_40, "未记录共享数据使用情况"),
    BreachKind.UNATTESTED_DISPOSAL: (ART_40, "未按规定销毁共享数据"),
    BreachKind.LATE_REVIEW: (ART_41, "未按时审核目录"),
    BreachKind.LATE_EXTENSION_DECISION: (ART_41, "未按时审批答复延期"),
    BreachKind.LATE_ROUTING: (ART_41, "未按时分派供需对接请求"),
    BreachKind.LATE_DISPUTE_COORDINATION: (ART_41, "未按时协调共享争议"),
}
"""Each kind's article and its name in the report (Chinese, as filed)."""


def article_of(kind: BreachKind) -> Article:
    return ARTICLES[kind][0]
