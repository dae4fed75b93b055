"""First-party platform plugins (import name ``utvm.platforms``).

Each registers through the ``utvm`` entry-point group exactly as a third-party
plugin does; nothing in utvm's core names them.
"""
