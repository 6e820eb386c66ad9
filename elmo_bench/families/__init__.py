"""Task families: what tasks of one kind share (example type, head, batching, metric).

A task module subclasses one family and adds its metadata and a ``read`` method.
"""
