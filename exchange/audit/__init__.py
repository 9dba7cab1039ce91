"""The audit log: every exchange decision, released or denied, as a canonical entry that names
the subject only by a keyed pseudonym and never holds an attribute value."""
