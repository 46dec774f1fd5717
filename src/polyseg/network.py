"""The network: an OpenVINO IR, its parameters from the IR's rt_info, and thread-safe inference.

The IR takes ``(N, 4, S, S)`` float32 (R, G, B 0-255; point channel 0/255) and returns ``(N, 1, S, S)``
foreground probabilities. Its parameters are stored in the IR under ``rt_info["model_info"]`` by
``training/export.py``, and read back here, so the code never assumes a crop margin or point radius that the
weights were not trained with.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import numpy as np

#: File name of the bundled IR (its .bin lies beside it).
BUNDLED_MODEL = "polyseg_unet.xml"
#: Inputs per inference in :meth:`Network.run_many`. Batches of 4 run ~20 % more objects per second than single
#: inputs on a 2-core CPU (``benchmarks/``); the batch dimension is dynamic (1..4), so a result does not depend
#: on which batch, or which position in it, its input had.
BATCH = 4


@dataclass(frozen=True)
class ModelInfo:
    """Model parameters stored in the IR's ``rt_info["model_info"]``.

    Attributes
    ----------
    input_size : int
        Side of the square network input, px.
    margin : float
        Crop margin on each side of the prompt's box, as a fraction of the box side.
    min_margin : float
        Smallest crop margin, image px.
    point_radius : float
        Radius of the extreme-point discs, input px.
    threshold : float
        Probability above which a pixel is foreground.
    channel_order : str
        Colour order of the network's first three channels ("RGB").
    version : str
        Weights version.
    """

    input_size: int = 128
    margin: float = 0.1
    min_margin: float = 3.0
    point_radius: float = 3.0
    threshold: float = 0.5
    channel_order: str = "RGB"
    version: str = "unknown"


def bundled_model_path() -> Path:
    """Path of the IR bundled with the package: inside the installed wheel (``polyseg/weights``), or the
    repository's ``weights/`` folder in a source checkout."""
    packaged = resources.files("polyseg") / "weights" / BUNDLED_MODEL
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "weights" / BUNDLED_MODEL


def _read_model_info(model) -> ModelInfo:  # model: ov.Model
    values = {}
    for f in fields(ModelInfo):
        if model.has_rt_info(["model_info", f.name]):
            raw = model.get_rt_info(["model_info", f.name]).astype(str)
            values[f.name] = type(f.default)(raw)
    return ModelInfo(**values)


class Network:
    """A compiled IR with a pool of infer requests: safe to call from several threads at once.

    Parameters
    ----------
    path : Path
        The IR's ``.xml`` (its ``.bin`` beside it).
    device : str
        OpenVINO device, "CPU" by default.
    num_threads : int or None
        ``INFERENCE_NUM_THREADS`` (a whole number >= 1); None lets OpenVINO decide.
    config : dict
        Further OpenVINO properties (e.g. ``{"EXECUTION_MODE_HINT": "ACCURACY"}``), passed to ``compile_model``.

    Raises
    ------
    TypeError
        If ``num_threads`` is not a whole number.
    FileNotFoundError
        If the ``.xml`` or its ``.bin`` is missing.
    ValueError
        If the file is not a readable IR, or its input is not ``(N, 4, S, S)``, or ``num_threads`` is below 1.
    """

    def __init__(
        self,
        path: Path | str,
        device: str = "CPU",
        num_threads: int | None = None,
        config: dict[str, str] | None = None,
    ) -> None:
        import openvino as ov

        if num_threads is not None:
            if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)):
                raise TypeError(f"num_threads must be a whole number of threads, got {type(num_threads).__name__} "
                                f"{num_threads!r}")
            if num_threads < 1:
                raise ValueError(f"num_threads must be at least 1, got {num_threads}")
        path = Path(path)
        if path.suffix != ".xml":
            raise ValueError(f"expected an OpenVINO IR .xml file, got {path}")
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        if not path.with_suffix(".bin").is_file():
            raise FileNotFoundError(f"model weights not found: {path.with_suffix('.bin')} (must lie beside {path.name})")
        self.path = path
        with open(path, "rb") as f:  # OpenVINO's other frontends would try the file too, and log their failures
            if b"<net" not in f.read(4096):
                raise ValueError(f"cannot read the OpenVINO IR {path}: it is corrupt or not an IR (no <net> element "
                                 "in its first 4096 bytes)")
        core = ov.Core()
        try:
            model = core.read_model(path)
        except RuntimeError as exc:
            raise ValueError(f"cannot read the OpenVINO IR {path}: it is corrupt or not an IR "
                             f"({' '.join(str(exc).split())})") from None
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError(
                f"{path}: expected a network with 1 input and 1 output, got {len(model.inputs)} and {len(model.outputs)}"
            )
        self.info = _read_model_info(model)
        if self.info.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"{path}: model_info channel_order must be 'RGB' or 'BGR', got {self.info.channel_order!r}")
        shape = model.input(0).get_partial_shape()
        s = self.info.input_size
        if shape.rank.get_length() != 4 or str(shape[1]) != "4" or str(shape[2]) != str(s) or str(shape[3]) != str(s):
            raise ValueError(f"{path}: expected a network input of shape (N, 4, {s}, {s}), got {shape}")
        props: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
        if num_threads is not None:
            props["INFERENCE_NUM_THREADS"] = int(num_threads)
        props.update(config or {})
        self._core, self._model, self._device, self._props = core, model, device, props
        self._single = self._compile()
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._queue = None  # AsyncInferQueue for run_many, made on first use
        self._batch = BATCH  # of run_many's compilation
        self._lock = threading.Lock()

    def _compile(self, extra: dict[str, object] | None = None, batch: int = 1):
        """Compile the network for ``(1, 4, S, S)`` inputs, or ``(1..batch, 4, S, S)`` if ``batch > 1``, with
        ``extra`` properties over the user's."""
        import openvino as ov

        model = self._model.clone()
        s = self.info.input_size
        model.reshape({model.input(0): ov.PartialShape([ov.Dimension(1, batch), 4, s, s])})  # (1, 1) is static 1
        try:
            return self._core.compile_model(model, self._device, {**self._props, **(extra or {})})
        except RuntimeError as exc:
            raise ValueError(f"cannot compile {self.path} for device {self._device!r}: {' '.join(str(exc).split())}"
                             ) from None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Run one input ``(4, S, S)`` float32 -> ``(S, S)`` float32 probabilities. Thread-safe."""
        try:
            request = self._requests.get_nowait()
        except queue.Empty:
            request = self._single.create_infer_request()
        try:
            out = request.infer({0: x[None]}, share_inputs=True)[0]
            return np.array(out[0, 0], dtype=np.float32)
        finally:
            self._requests.put(request)

    def run_many(self, inputs: Iterable[np.ndarray], count: int | None) -> Iterator[tuple[int, np.ndarray]]:
        """Run ``count`` inputs (None: as many as ``inputs`` gives), each ``(4, S, S)`` float32; yields
        ``(index, (S, S) probabilities)`` in the order the results arrive. Thread-safe; consume the generator to
        the end.

        Uses a second compilation of the network with the THROUGHPUT hint (several CPU streams), a batch
        dimension of 1 to :data:`BATCH`, and an ``AsyncInferQueue``: inputs go in batches of :data:`BATCH` (the
        last one smaller). The caller's work overlaps with the streams: ``inputs`` may be a generator that builds
        the next input while earlier batches run, and results are handed out as soon as they are ready.
        """
        import openvino as ov

        done: queue.SimpleQueue = queue.SimpleQueue()
        n = 0
        group: list[np.ndarray] = []
        with self._lock:  # one queue, used by one caller at a time
            if self._queue is None:
                compiled = self._compile({"PERFORMANCE_HINT": "THROUGHPUT"}, batch=self._batch)
                # Two requests per stream, so a stream never waits while Python builds or finishes an object.
                jobs = 2 * int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
                self._queue = ov.AsyncInferQueue(compiled, jobs)
                self._queue.set_callback(_store_outputs)
            for x in inputs:
                group.append(x)
                n += 1
                if len(group) == self._batch:
                    self._queue.start_async({0: np.stack(group)}, (done, n - self._batch))
                    group = []
                while not done.empty():
                    yield done.get()
            if group:
                self._queue.start_async({0: np.stack(group)}, (done, n - len(group)))
            self._queue.wait_all()
        while not done.empty():
            yield done.get()
        if count is not None and n != count:
            raise ValueError(f"run_many: expected {count} inputs, got {n}")


def _store_outputs(request, userdata: tuple[queue.SimpleQueue, int]) -> None:
    """AsyncInferQueue callback: hand out each output of a batch whose first input had index ``first``."""
    done, first = userdata
    out = request.get_output_tensor(0).data
    for k in range(out.shape[0]):
        done.put((first + k, np.array(out[k, 0], dtype=np.float32)))
