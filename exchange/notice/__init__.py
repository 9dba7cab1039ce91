"""Notice without consent (告知, PIPL art. 35): the kind of legal basis of each access, and
deferred notice (延迟告知) where secrecy is lawful (docs/notice.md).

Modules: ``basis`` (the kind each audit entry records, from the decision), ``models`` (the
deferrals table), ``errors``, ``service`` (request, approve or refuse, end; each an audit entry),
``reading`` (what the citizen's views leave out, the deferred mark, the auditor's checks),
``jobs`` (``notice.deferrals``: end those whose day has come).
"""
