"""The contract the scheduler service and its clients share, written once (docs/protocol.md).

Standard library only, and small: the function's Lambda package includes it (functions/scheduler/Makefile)
and the client package ships it, so both run this same code.

- ``tags``: the entity-tag grammar, its parsing, and which state supersedes which;
- ``message``: the push message, built and read;
- ``actors``: through what a change was made (``via``), from how its author is recorded;
- ``reasons``: what a reason for a change may hold.

Empty on purpose: importing the package costs nothing on the function's cold path.
"""
