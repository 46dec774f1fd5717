"""The local engine: read and decode images in worker threads while the network segments the boxes of earlier
ones. The Ray engine runs the same :func:`segment_tasks` inside each of its actors, so both give the same results.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..imageio import MAX_IMAGE_FILE_BYTES, image_size, read_regular_file
from ..prompt import Prompt, check_tolerance
from ..segmenter import Prepared, Segmenter
from .formats import Task, payload, pixel_box

#: Largest image file read (bytes): a bigger one is "image_unreadable".
MAX_IMAGE_BYTES = MAX_IMAGE_FILE_BYTES
#: Largest image decoded (pixels): OpenCV's own default limit, checked from the header first.
MAX_IMAGE_PIXELS = 1 << 30


def load_image(path: str) -> tuple[np.ndarray | None, str]:
    """Read and decode an image file as ``cv2.imdecode`` does, to ``(H, W, 3)`` uint8 RGB.

    Returns
    -------
    image : (H, W, 3) uint8 or None
    reason : str
        "" on success, "image_missing" (no such file, or a folder) or "image_unreadable" (not a regular file,
        over :data:`MAX_IMAGE_BYTES`, unreadable, or not an image) otherwise.

    Only a regular file is read, with a size limit (:func:`polyseg.imageio.read_regular_file`): a FIFO does not
    hang the run, ``/dev/zero`` does not fill the memory. Decoding the file's bytes (rather than ``cv2.imread``)
    keeps OpenCV from printing warnings of its own, and gives the Ray engine, which reads the same bytes, the same
    pixels.
    """
    try:
        data = read_regular_file(path, MAX_IMAGE_BYTES)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None, "image_missing"
    except (OSError, ValueError):  # ValueError: a NUL in the path
        return None, "image_unreadable"
    return decode_image(data)


def decode_image(data: bytes) -> tuple[np.ndarray | None, str]:
    """Decode image file bytes to ``(H, W, 3)`` uint8 RGB; ``(None, "image_unreadable")`` if they are not one, or
    if its header claims more than :data:`MAX_IMAGE_PIXELS` pixels."""
    size = image_size(data)
    if not data or (size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS):
        return None, "image_unreadable"
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error:  # over OpenCV's pixel limit in a format whose header polyseg does not read
        image = None
    if image is None:
        return None, "image_unreadable"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), ""


def unreadable(task: Task, reason: str) -> dict[str, Any]:
    """The result of a task whose image could not be read: every box fails for ``reason``."""
    return {"task": task.key, "objects": {}, "failures": {str(i): reason for i, _ in task.boxes}}


#: Traced results a stream may wait on at once: the tracing threads' backlog, and so the images it keeps alive.
MAX_BACKLOG = 16


@dataclass
class _Pending:
    """One task on its way through :func:`segment_stream`: its result, and how many of its objects are out."""

    result: dict[str, Any]
    sent: int = 0  # objects handed to the network
    back: int = 0  # objects whose output came back
    read: bool = False  # every object of the task was handed to the network
    traced: list[Future] = field(default_factory=list)


def segment_stream(
    loaded: Iterable[tuple[Task, np.ndarray | None, str]],
    segmenter: Segmenter,
    fmt: str,
    *,
    rle: bool,
    tolerance: float,
    pool: ThreadPoolExecutor | None = None,
) -> Iterator[dict[str, Any]]:
    """Segment the boxes of a stream of decoded images, as one continuous stream through the network.

    Parameters
    ----------
    loaded : iterable of (Task, image, reason)
        Each task with its ``(H, W, 3)`` uint8 RGB image, or None and the reason it could not be read. Pulled
        lazily: the next image is taken when the network can accept its objects.
    pool : ThreadPoolExecutor, optional
        Threads that trace the network's outputs while this one builds its inputs; None: this thread does both.

    Yields
    ------
    dict
        Per task, in input order, as soon as all its objects are done: ``{"task": key, "objects": {index:
        payload}, "failures": {index: reason}}``, indices as strings in input order, payloads as
        :func:`polyseg.annotate.formats.payload` makes them.

    The objects are those :meth:`Segmenter.segment_many` would give image by image (the same preparation, network
    and tracing), but the network's streams never drain between images. Memory holds the images whose objects
    are in the network (a few batches) or waiting to be traced (at most :data:`MAX_BACKLOG`), whatever the
    number of tasks.
    """
    pending: deque[_Pending] = deque()  # in input order, not yet yielded
    jobs: dict[int, tuple[_Pending, int, Prepared]] = {}  # objects in the network, by input index
    backlog: deque[Future] = deque()

    def inputs() -> Iterator[np.ndarray]:  # built while the network runs the earlier ones
        n = 0
        for task, image, reason in loaded:
            item = _Pending({"task": task.key, "objects": {}, "failures": {}})
            pending.append(item)
            if image is None:
                item.result["failures"].update((i, reason) for i, _ in task.boxes)
            else:
                image = segmenter.prepare_image(image)
                for index, edges in task.boxes:
                    box, why = pixel_box(edges, image.shape[1], image.shape[0], task.normalised)
                    if box is None:
                        item.result["failures"][index] = why
                        continue
                    prepared = segmenter.prepare(image, Prompt(box=box))
                    jobs[n] = (item, index, prepared)
                    item.sent, n = item.sent + 1, n + 1
                    yield prepared.input
            item.read = True

    def finish(item: _Pending, index: int, prepared: Prepared, prob: np.ndarray) -> None:
        seg = segmenter.finish(prepared, prob, tolerance)
        item.result["objects"][index] = payload(seg, fmt, rle=rle) if seg.parts else None

    def ready(wait: bool) -> Iterator[dict[str, Any]]:  # the finished tasks at the head, in order
        while pending and pending[0].read and pending[0].back == pending[0].sent:
            if not wait and not all(f.done() for f in pending[0].traced):
                return
            item = pending.popleft()
            for f in item.traced:
                f.result()  # re-raises a tracing error
            yield _as_json(item.result)

    for j, prob in segmenter.network.run_many(inputs(), None):
        item, index, prepared = jobs.pop(j)
        item.back += 1
        if pool is None:
            finish(item, index, prepared, prob)
        else:  # traced in the pool's threads while this one feeds the network
            future = pool.submit(finish, item, index, prepared, prob)
            item.traced.append(future)
            backlog.append(future)
            while len(backlog) > MAX_BACKLOG:
                backlog.popleft().result()
            while backlog and backlog[0].done():
                backlog.popleft()
        yield from ready(wait=False)
    yield from ready(wait=True)
    if pending:  # every input came back: only a bug leaves a task behind
        raise RuntimeError(f"segment_stream: {len(pending)} tasks left unfinished")


def _as_json(result: dict[str, Any]) -> dict[str, Any]:
    """None marks an empty mask (a "no_object" failure); indices become JSON keys, in input order."""
    objects = result["objects"]
    result["failures"].update((i, "no_object") for i, p in objects.items() if p is None)
    result["objects"] = {str(i): objects[i] for i in sorted(objects) if objects[i] is not None}
    result["failures"] = {str(i): r for i, r in sorted(result["failures"].items())}
    return result


def segment_images(
    loaded: list[tuple[Task, np.ndarray | None, str]],
    segmenter: Segmenter,
    fmt: str,
    *,
    rle: bool,
    tolerance: float,
    pool: ThreadPoolExecutor | None = None,
) -> list[dict[str, Any]]:
    """:func:`segment_stream` of a list of decoded images (one batch of the Ray engine), as a list."""
    return list(segment_stream(loaded, segmenter, fmt, rle=rle, tolerance=tolerance, pool=pool))


def segment_tasks(
    tasks: Iterable[Task],
    segmenter: Segmenter | Future[Segmenter],
    fmt: str,
    *,
    rle: bool = False,
    tolerance: float = 1.4,
    workers: int = 2,
    finish_threads: int = 1,
) -> Iterator[dict[str, Any]]:
    """Results of :func:`segment_stream` for each task, in order: ``workers`` threads read and decode the next
    ``2 * workers`` images (decoding and OpenVINO release the GIL) while the network runs on the earlier ones,
    this thread building the network's inputs and ``finish_threads`` threads (0: this one) tracing its outputs.
    ``segmenter`` may still be loading (a Future): the first images are read meanwhile."""
    tolerance = check_tolerance(tolerance)
    todo = iter(tasks)
    ahead: deque[tuple[Task, Future]] = deque()
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="polyseg-read") as pool, ThreadPoolExecutor(
        finish_threads, thread_name_prefix="polyseg-finish"
    ) if finish_threads else contextlib.nullcontext() as finisher:

        def read(task: Task) -> tuple[np.ndarray | None, str]:
            return load_image(task.image) if task.boxes else (None, "")

        def fill() -> None:  # keep 2 * workers images reading ahead
            while len(ahead) < 2 * max(1, workers):
                task = next(todo, None)
                if task is None:
                    return
                ahead.append((task, pool.submit(read, task)))

        def loaded() -> Iterator[tuple[Task, np.ndarray | None, str]]:
            while ahead:
                task, future = ahead.popleft()
                fill()
                yield (task, *future.result())

        fill()  # the first images decode while the model compiles
        seg = segmenter.result() if isinstance(segmenter, Future) else segmenter
        yield from segment_stream(loaded(), seg, fmt, rle=rle, tolerance=tolerance, pool=finisher)
