"""The data authority's compliance view (《政务数据共享条例》 art. 38-41; docs/lifecycle.md,
"The compliance view"): every open clock of the sharing lifecycle, every breach derived from the
lifecycle's own records and mapped to its article, per department, with a monthly report.

Nothing here is a second source of truth: clocks and breaches are read, at the moment asked,
from the tables the lifecycle's services write (applications, update duties, submissions,
supply-demand requests, corrections, disputes, usage records, disposal attestations,
suspensions, service-change notices, the catalogue's versions)."""

from __future__ import annotations
