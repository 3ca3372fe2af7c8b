"""Adapters between the `Session` and the outside: web (FastAPI), OSC (python-osc), MIDI (mido).

Adapters translate messages into `Command`s and `Step` events into messages; nothing here
decides what is generated.
"""
