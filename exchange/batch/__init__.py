"""The batch channel (批量交换, 《政务数据共享条例》 art. 22): signed, encrypted, audited extracts
of an agreement's fields for the people a consumer names (``service``), encrypted to a key the
consumer registered (``jwe``), downloadable chunk by chunk until they expire (``jobs``)."""
