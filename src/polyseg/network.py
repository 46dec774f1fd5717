"""The network: an OpenVINO IR, its parameters from the IR's rt_info, and thread-safe inference.

The IR takes ``(N, C, S, S)`` float32 and returns ``(N, 1, S, S)`` foreground probabilities; an
``"extreme_points"`` model (the bundled one) takes C = 4 channels: R, G, B 0-255 and the point channel 0/255. Its parameters are stored in the IR under ``rt_info["model_info"]`` by
:func:`write_model_info` (``training/export.py`` calls it) and read back here, each as the type of its
:class:`ModelInfo` field, so the code never assumes a crop margin or point radius that the weights were not
trained with.
"""

from __future__ import annotations

import math
import queue
import re
import threading
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

#: File name of the bundled IR (its .bin lies beside it).
BUNDLED_MODEL = "polyseg_unet.xml"
#: File name of the bundled correction network's IR (loaded on the first :meth:`polyseg.Segmenter.refine`).
BUNDLED_REFINER = "polyseg_refine.xml"
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
    kind : str
        What the model is, and so how its inputs are built: "extreme_points" (the colour crop and a channel of
        extreme-point discs, :func:`polyseg.crop.network_input`; an IR that does not say is one of these) or
        "correction" (colour, positive clicks, negative clicks and the previous answer,
        :func:`polyseg.crop.correction_input`).
    input_channels : int
        Channels of the network input (C of ``(N, C, S, S)``), checked against the IR's input.
    click_radius : float
        Radius of the corrective-click discs, input px (correction models).
    previous_mask : str
        How the previous answer enters a correction model: "probability" (its foreground probability over the
        window at network resolution, scaled to 0-255); "none" for models that take none.
    """

    input_size: int = 128
    margin: float = 0.1
    min_margin: float = 3.0
    point_radius: float = 3.0
    threshold: float = 0.5
    channel_order: str = "RGB"
    version: str = "unknown"
    kind: str = "extreme_points"
    input_channels: int = 4
    click_radius: float = 3.0
    previous_mask: str = "none"


def bundled_model_path(name: str = BUNDLED_MODEL) -> Path:
    """Path of an IR bundled with the package (default: the extreme-points network; :data:`BUNDLED_REFINER` for
    the correction network): inside the installed wheel (``polyseg/weights``), or the repository's ``weights/``
    folder in a source checkout."""
    packaged = resources.files("polyseg") / "weights" / name
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "weights" / name


def parse_model_value(name: str, kind: type, raw: str) -> Any:
    """One ``rt_info["model_info"]`` value, stored as text, as the type of its :class:`ModelInfo` field.

    ``int``: whole numbers only ("128", not "128.0"); ``float``: any finite number; ``bool``: "true" / "false"
    (any case) or "1" / "0" -- never Python's ``bool(text)``, for which "False" is true; ``str``: as stored.

    Raises
    ------
    ValueError
        If the text is not a value of that type; the message names the field, the type and the text.
    """
    text = raw.strip()
    if kind is bool:
        value = {"true": True, "1": True, "false": False, "0": False}.get(text.lower())
        if value is None:
            raise ValueError(f"model_info {name} must be true or false, got {raw!r}")
        return value
    if kind is int:
        if not re.fullmatch(r"[+-]?[0-9]+", text):
            raise ValueError(f"model_info {name} must be a whole number, got {raw!r}")
        return int(text)
    if kind is float:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ValueError(f"model_info {name} must be a finite number, got {raw!r}")
        return number
    return raw


def format_model_value(value: Any) -> str:
    """The text :func:`parse_model_value` reads back as ``value`` (bools as "true" / "false")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _read_model_info(model, path: Path) -> ModelInfo:  # model: ov.Model
    """The :class:`ModelInfo` stored in ``model``'s rt_info; fields it lacks keep their defaults."""
    values = {}
    for name, kind in typing.get_type_hints(ModelInfo).items():
        if model.has_rt_info(["model_info", name]):
            raw = model.get_rt_info(["model_info", name]).astype(str)
            try:
                values[name] = parse_model_value(name, kind, raw)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
    return ModelInfo(**values)


def write_model_info(model, info: ModelInfo) -> None:  # model: ov.Model
    """Store every field of ``info`` in ``model``'s ``rt_info["model_info"]``, as :class:`Network` reads it back.

    The one writer of the model's parameters: ``training/export.py`` calls it before ``ov.save_model``.
    """
    for f in fields(ModelInfo):
        model.set_rt_info(format_model_value(getattr(info, f.name)), ["model_info", f.name])


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
        If the file is not a readable IR, a model_info value is malformed, its input is not
        ``(N, input_channels, input_size, input_size)`` as its model_info says, or ``num_threads`` is below 1.
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
        self.info = _read_model_info(model, path)
        if self.info.channel_order not in ("RGB", "BGR"):
            raise ValueError(f"{path}: model_info channel_order must be 'RGB' or 'BGR', got {self.info.channel_order!r}")
        shape = model.input(0).get_partial_shape()
        s = self.info.input_size
        c = self.info.input_channels
        if shape.rank.get_length() != 4 or [str(d) for d in list(shape)[1:]] != [str(c), str(s), str(s)]:
            raise ValueError(f"{path}: expected a network input of shape (N, {c}, {s}, {s}) as its model_info "
                             f"says, got {shape}")
        props: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
        if num_threads is not None:
            props["INFERENCE_NUM_THREADS"] = int(num_threads)
        props.update(config or {})
        self._core, self._model, self._device, self._props = core, model, device, props
        self._single = self._compile()
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._batch = BATCH  # of run_many's compilation
        self._many = None  # run_many's compilation, made on first use
        self._jobs = 0  # infer requests of each run_many queue
        self._idle_queues: queue.SimpleQueue = queue.SimpleQueue()  # AsyncInferQueues no run_many is using
        self._lock = threading.Lock()  # guards the first compilation for run_many, never held by a caller's loop

    def _compile(self, extra: dict[str, object] | None = None, batch: int = 1):
        """Compile the network for ``(1, C, S, S)`` inputs, or ``(1..batch, C, S, S)`` if ``batch > 1``, with
        ``extra`` properties over the user's."""
        import openvino as ov

        model = self._model.clone()
        c, s = self.info.input_channels, self.info.input_size
        model.reshape({model.input(0): ov.PartialShape([ov.Dimension(1, batch), c, s, s])})  # (1, 1) is static 1
        try:
            return self._core.compile_model(model, self._device, {**self._props, **(extra or {})})
        except RuntimeError as exc:
            raise ValueError(f"cannot compile {self.path} for device {self._device!r}: {' '.join(str(exc).split())}"
                             ) from None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Run one input ``(C, S, S)`` float32 -> ``(S, S)`` float32 probabilities. Thread-safe."""
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
        """Run ``count`` inputs (None: as many as ``inputs`` gives), each ``(C, S, S)`` float32; yields
        ``(index, (S, S) probabilities)`` in the order the results arrive. Thread-safe.

        Uses a second compilation of the network with the THROUGHPUT hint (several CPU streams), a batch
        dimension of 1 to :data:`BATCH`, and an ``AsyncInferQueue``: inputs go in batches of :data:`BATCH` (the
        last one smaller). The caller's work overlaps with the streams: ``inputs`` may be a generator that builds
        the next input while earlier batches run, and results are handed out as soon as they are ready.

        Each run has an infer queue of its own (idle ones are reused), so a consumer that pauses, or abandons the
        generator, holds up no other caller; an abandoned run's queue is reused once the generator is closed.
        """
        done: queue.SimpleQueue = queue.SimpleQueue()
        n = 0
        group: list[np.ndarray] = []
        jobs = self._take_queue()
        try:
            for x in inputs:
                group.append(x)
                n += 1
                if len(group) == self._batch:
                    jobs.start_async({0: np.stack(group)}, (done, n - self._batch))
                    group = []
                while not done.empty():
                    yield done.get()
            if group:
                jobs.start_async({0: np.stack(group)}, (done, n - len(group)))
        finally:
            jobs.wait_all()  # every request idle before another run takes this queue
            self._idle_queues.put(jobs)
        while not done.empty():
            yield done.get()
        if count is not None and n != count:
            raise ValueError(f"run_many: expected {count} inputs, got {n}")

    def _take_queue(self):  # -> ov.AsyncInferQueue
        """An idle infer queue over run_many's compilation: a used one, or a new one (compiling on first use)."""
        import openvino as ov

        try:
            return self._idle_queues.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._many is None:
                many = self._compile({"PERFORMANCE_HINT": "THROUGHPUT"}, batch=self._batch)
                # Two requests per stream, so a stream never waits while Python builds or finishes an object.
                self._jobs = 2 * int(many.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
                self._many = many
        jobs = ov.AsyncInferQueue(self._many, self._jobs)
        jobs.set_callback(_store_outputs)
        return jobs


def _store_outputs(request, userdata: tuple[queue.SimpleQueue, int]) -> None:
    """AsyncInferQueue callback: hand out each output of a batch whose first input had index ``first``."""
    done, first = userdata
    out = request.get_output_tensor(0).data
    for k in range(out.shape[0]):
        done.put((first + k, np.array(out[k, 0], dtype=np.float32)))
