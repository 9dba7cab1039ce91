"""Moving a hub from one crypto profile to the other (docs/gm.md, "Moving an `intl` hub to
`gm`"): :mod:`.plan` reads what the move would meet. The log archive it starts with is
:mod:`exchange.audit.archive`."""
