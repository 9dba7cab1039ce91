"""Use, disposal and suspension of shared data (《政务数据共享条例》 art. 25, 27, 29).

Modules: ``models`` (tables), ``errors``, ``service`` (usage records, disposal attestations,
suspensions, each step an audit entry of kind ``stewardship``), ``suspended`` (which agreements
are suspended or terminated: the one question the exchange asks, ``AgreementCheck``).
"""
