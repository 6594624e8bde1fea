"""The AcceleratorSpawner package (entry point ``accelerator``)."""

from .spawner import AcceleratorSpawner

__all__ = ["AcceleratorSpawner"]
