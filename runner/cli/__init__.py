"""The ``runner`` command line (click): thin commands over the public API, and the
one place where errors become exit codes.

May import anything below the shell; imports ``runner.studio`` and
``runner.server`` only inside the commands that serve them.
"""
