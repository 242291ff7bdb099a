"""The Python example as a next version, for the hot-swap test: 0.2.0, and
it sizes pages with `count=` instead of `limit=` (which the demo API takes
too), so the test sees which version sent a request. `pyproject.toml` puts
the example's folder on the path."""

from interlink_sdk import Manifest, export

from adapter import ExamplePython


class Next(ExamplePython):
    page_size_parameter = "count"

    @classmethod
    def manifest(cls) -> Manifest:
        manifest = super().manifest()
        manifest.version = "0.2.0"
        return manifest


Adapter = export(Next)
