"""Notice to the citizen without consent (PIPL art. 35): the legal basis kind of each access,
and deferred notice where secrecy is lawful (docs/notice.md)."""
