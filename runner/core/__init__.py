"""The core: statuses and their transitions, metric rules and shapes, the ``.runner/``
tree as path arithmetic, the error tree, address rules.

Pure decisions and data, no I/O. Standard library only. Imports nothing else of
``runner``: every other layer may import it.
"""
