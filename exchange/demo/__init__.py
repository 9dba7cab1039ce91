"""The demo world: the demo city's departments, catalogue, service items and case systems."""

from exchange.demo.build import DemoWorld, build_demo

__all__ = ["DemoWorld", "build_demo"]
