"""The query pipeline: resolve, decide, fetch, release, audit, sign (see ``pipeline``)."""
