"""The scheduler service: the Lambda package behind the API, the state machines, the heartbeat, the publisher
and the repair. One module a layer (docs/architecture.md): the edges (``app``, ``http_edge``, ``direct_edge``,
``entry_resource``, ``stream_edge``, ``repair_edge``), the rules (``rules``, ``validators``, ``windows``), the
store (``store``) and its neighbours (``aws``, ``push_topic``, ``observability``). The contract it shares with
the client is ``scheduler_contract``.

Empty on purpose: importing the package costs nothing on the cold path.
"""
