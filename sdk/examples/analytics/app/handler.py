"""Your hosted app's webhook handler (never packaged).

`nofx ext dev` calls `handle(event)` with every verified delivery.
"""


def handle(event: dict) -> dict:
    return {"received": event.get("event")}
