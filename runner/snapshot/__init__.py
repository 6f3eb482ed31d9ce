"""Snapshots: selecting the files of a source directory (ignore rules), the
content-addressed blob store, browsable snapshot folders, working copies, diffs.

May import ``runner.core``. Third-party ``pathspec`` is imported where it is used.
"""
