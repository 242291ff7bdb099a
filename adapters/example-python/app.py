"""The component's entry: componentize-py exports this module's `Adapter`
as `interlink:adapter/adapter`. The adapter itself is `adapter.py`."""

from interlink_sdk import export

from adapter import ExamplePython

Adapter = export(ExamplePython)
