"""The monthly compliance report as a CSV a government office can file (月度合规情况报表).

UTF-8 with a byte-order mark (a spreadsheet opens the Chinese headers as such), one header row
of Chinese column names, one row per department of the registry, one for the data authority and
one for the whole city; a column per kind of breach (with its article), one per article, the
total and how many were still not put right at the month's end. A text cell that a spreadsheet
would read as a formula (starting ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is
written with a leading apostrophe (OWASP's advice on CSV injection): a department's name comes
from the registry, which departments write.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from exchange.compliance.articles import ARTICLES

__all__ = ["csv_of", "safe_cell"]

_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_ROLE = {"authority": "数据主管部门", "total": "全市"}


def safe_cell(value: Any) -> str:
    """*value* as a CSV cell no spreadsheet takes for a formula (numbers stay numbers)."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def _headers() -> list[str]:
    kinds = [f"{text}（{article.title}）" for article, text in ARTICLES.values()]
    articles = sorted({a for a, _ in ARTICLES.values()}, key=lambda a: a.number)
    return [
        "月份",
        "类别",
        "部门代码",
        "部门名称",
        *kinds,
        *(f"{a.title}合计" for a in articles),
        "违规合计",
        "月末仍未纠正",
    ]


def _line(month: str, row: Mapping[str, Any]) -> list[Any]:
    key = row["key"]
    role = "部门" if row["department"] else _ROLE.get(key, key)
    name = row["name"] if row["department"] else _ROLE.get(key, key)
    return [
        month,
        role,
        row["department"] or "",
        name,
        *(row["by_kind"][kind.value] for kind in ARTICLES),
        *(row["by_article"][n] for n in sorted(row["by_article"], key=int)),
        row["total"],
        row["unresolved_at_end"],
    ]


def csv_of(report: Mapping[str, Any]) -> str:
    """The report (:func:`exchange.compliance.service.monthly_report`) as CSV text, with BOM."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_headers())
    for row in [*report["rows"], report["total"]]:
        writer.writerow([safe_cell(cell) for cell in _line(report["month"], row)])
    return "\ufeff" + out.getvalue()
