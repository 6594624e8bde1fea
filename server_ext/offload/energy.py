"""GPU energy of a job from NVML power samples (nothing when NVML is absent)."""

from __future__ import annotations

import contextlib
import threading
import time
from types import TracebackType
from typing import Any


class EnergyMeter:
    """Samples the power of every visible GPU in a thread; `watt_hours` when stopped.

    Power is integrated with the trapezoid rule over `period`-second samples. Without
    nvidia-ml-py or a driver, `watt_hours` stays None.
    """

    def __init__(self, period: float = 0.5) -> None:
        self.period = period
        self.watt_hours: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._nvml: Any = None
        self._handles: list[Any] = []

    def __enter__(self) -> EnergyMeter:
        try:
            import pynvml

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self._nvml = pynvml
        except Exception:  # no bindings, no driver, no devices: no energy figure
            return self
        if self._handles:
            self.watt_hours = 0.0
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def _power(self) -> float:
        total = 0.0
        for handle in self._handles:
            try:
                total += self._nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
            except Exception:
                continue
        return total

    def _run(self) -> None:
        last_t, last_p = time.monotonic(), self._power()
        while True:
            stopped = self._stop.wait(self.period)
            now, power = time.monotonic(), self._power()
            assert self.watt_hours is not None
            self.watt_hours += (last_p + power) / 2 * (now - last_t) / 3600.0
            last_t, last_p = now, power
            if stopped:
                return

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
