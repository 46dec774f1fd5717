"""Box-labelled data sets in, polygons out: COCO instance JSON, YOLO detection labels, labelme JSON files.

Each reader turns a data set into :class:`Task` s, one per image, holding the boxes to segment; each writer puts
the results back into a copy of the input, keeping every other field, id and order as it was.

Box conventions
---------------
Every box is first stored as its edges ``(left, top, right, bottom)`` in *corner* coordinates, where pixel i
spans [i, i + 1): the object covers the pixels from column ``left`` to column ``right - 1``. The segmenter wants
the object's left-, top-, right- and bottom-most pixels in pixel-centre coordinates (inclusive), so
``x0 = left`` and ``x1 = right - 1`` (the centres of the first and last pixel; the same linear map for
fractional edges, i.e. the box shrunk by half a pixel on each side and moved by -0.5 px): the rule of
:func:`polyseg.prompt.box_from_edges`, which the CVAT and Label Studio integrations apply to their rectangles too.

- COCO ``bbox = [x, y, w, h]`` (corner coordinates): edges ``(x, y, x + w, y + h)``.
- YOLO ``class cx cy w h`` normalised by the image width W and height H: edges
  ``((cx - w/2) W, (cy - h/2) H, (cx + w/2) W, (cy + h/2) H)``, known only once the image is read.
- labelme ``rectangle`` points ``[[xa, ya], [xb, yb]]`` (any two opposite corners) are pixel indices, inclusive
  (labelme fills pixels ``min .. max`` with PIL): edges ``(min x, min y, max x + 1, max y + 1)``.

Output conventions: COCO polygons in corner coordinates (``Segmentation.to_coco``), or uncompressed RLE with
``rle=True`` (holes kept); YOLO-seg ``class x1 y1 x2 y2 ...`` normalised corner coordinates of the largest part
(a YOLO-seg line holds one polygon); labelme polygons in pixel-centre coordinates, one shape per part, parts of
one object sharing a ``group_id``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..imageio import file_kind, read_regular_file
from ..prompt import MIN_SPAN, OUTSIDE_TOLERANCE, box_from_edges
from ..result import Segmentation

FORMATS = ("coco", "yolo", "labelme")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".JPG", ".JPEG", ".PNG")

#: Why an object was left unchanged (the keys of the report's ``by_reason``).
REASONS = {
    "image_missing": "the image file does not exist",
    "image_unreadable": "the image file cannot be read or decoded (not a regular file, over 1 GiB, or not an image)",
    "unknown_image": "the annotation's image_id is not in 'images' (or is not a number or string)",
    "bad_file_name": "the image's file_name is not a non-empty string without NUL characters",
    "label_unreadable": "the label file cannot be read (a broken link, not a regular file, not UTF-8, not labelme JSON)",
    "bad_box": "the box is not 4 finite numbers with positive width and height",
    "bad_iscrowd": "iscrowd is not 0 or 1 (nor \"0\" or \"1\")",
    "box_outside_image": "the box reaches more than 1 px outside the image",
    "box_too_small": f"the box spans less than {MIN_SPAN:g} px between its first and last pixel centres",
    "no_object": "the network found no object in the box",
}


class AnnotateError(ValueError):
    """Bad input to ``polyseg annotate``: the message says what was wrong and what is expected."""


@dataclass(frozen=True)
class Task:
    """The boxes of one image.

    Attributes
    ----------
    key : str
        Unique in the data set: the COCO image id, or the label file's path relative to the input folder.
    image : str
        Path of the image file.
    boxes : tuple of (int, (4,) tuple of float)
        ``(object index, edges)``: edges ``(left, top, right, bottom)`` in corner coordinates, or in
        fractions of the image size if ``normalised``. The index is the annotation's place in the input.
    normalised : bool
        Boxes are fractions of the image width and height (YOLO).
    """

    key: str
    image: str
    boxes: tuple[tuple[int, tuple[float, float, float, float]], ...]
    normalised: bool = False

    def to_json(self) -> str:
        return json.dumps([self.key, self.image, self.boxes, self.normalised])

    @classmethod
    def from_json(cls, text: str) -> Task:
        key, image, boxes, normalised = json.loads(text)
        return cls(key, image, tuple((int(i), tuple(b)) for i, b in boxes), normalised)


def pixel_box(edges: tuple[float, ...], width: int, height: int, normalised: bool) -> tuple[np.ndarray | None, str]:
    """Edges ``(left, top, right, bottom)`` -> the segmenter's inclusive pixel-centre box ``(x0, y0, x1, y1)``.

    Returns
    -------
    box : (4,) float64 or None
        ``(left, top, right - 1, bottom - 1)``, clipped onto the image; None if the box is unusable.
    reason : str
        "" if usable, else a key of :data:`REASONS` ("bad_box", "box_outside_image", "box_too_small").
    """
    e = np.asarray(edges, np.float64)
    if e.shape != (4,) or not np.isfinite(e).all():
        return None, "bad_box"
    if normalised:
        e = e * (width, height, width, height)
    box = box_from_edges(e)
    if e[2] <= e[0] or e[3] <= e[1]:
        return None, "bad_box"
    lo = -0.5 - OUTSIDE_TOLERANCE
    if box[0] < lo or box[1] < lo or box[2] > width - 0.5 + OUTSIDE_TOLERANCE or box[3] > height - 0.5 + OUTSIDE_TOLERANCE:
        return None, "box_outside_image"
    box = np.clip(box, 0, (width - 1, height - 1, width - 1, height - 1))
    if box[2] - box[0] < MIN_SPAN or box[3] - box[1] < MIN_SPAN:
        return None, "box_too_small"
    return box, ""


def payload(seg: Segmentation, fmt: str, *, rle: bool = False) -> Any:
    """What replaces one box in the output, as JSON-ready values.

    Returns
    -------
    coco : dict
        ``segmentation`` (corner-coordinate polygons, or uncompressed RLE), ``area`` (mask pixels) and
        ``polyseg_score``.
    yolo : list of float
        ``[x1, y1, x2, y2, ...]`` of the largest part in corner coordinates, normalised by the image size.
    labelme : list of list
        The outer boundary of each part, ``[[x, y], ...]`` pixel centres, largest part first.
    """
    if fmt == "coco":
        coco = seg.to_coco(rle=rle)
        return {"segmentation": coco["segmentation"], "area": coco["area"], "polyseg_score": coco["score"]}
    if fmt == "yolo":
        return seg.to_yolo()
    if fmt == "labelme":
        return [shape["points"] for shape in seg.to_labelme()]
    raise AnnotateError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")


def output_mode(path: Path) -> int | None:
    """``os.stat(path).st_mode`` of an output path, None if nothing is there yet.

    Raises
    ------
    AnnotateError
        If a folder on the path is a file.
    """
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise AnnotateError(f"cannot write {path}: a folder on its path is a file") from None


def check_replaceable(path: Path) -> None:
    """Refuse, with one line, to write ``path`` unless it is a regular file or does not exist yet: a rename over
    a device node (``--out /dev/null``), a FIFO or a socket would replace it with a file.

    Raises
    ------
    AnnotateError
    """
    mode = output_mode(path)
    if mode is not None and not stat.S_ISREG(mode):
        raise AnnotateError(f"{path} is {file_kind(mode)}, not a regular file: choose another --out")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename, so that a reader
    (or a crash) sees either the old file or the whole new one. Only a regular file is replaced
    (:func:`check_replaceable`); it keeps its permissions, and a new file gets those of any new file (0666 less
    the umask), not ``mkstemp``'s 0600."""
    check_replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if path.exists():
                os.chmod(f.fileno(), stat.S_IMODE(os.stat(path).st_mode))
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _create_beside(path: Path) -> tuple[int, str]:
    """A new, empty temporary file ``.NAME.<random>.tmp`` beside ``path``, created with mode 0666 (which the
    kernel narrows by the umask, as for any new file); its descriptor and path."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = str(path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp"))
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


#: Largest JSON or label file read (bytes); a guard against ``/dev/zero``, not a limit on real data sets.
MAX_INPUT_BYTES = 1 << 34


def _read_text(path: Path) -> str:
    """A regular file's UTF-8 text (a FIFO or device is refused, not read: see ``read_regular_file``)."""
    return read_regular_file(path, MAX_INPUT_BYTES).decode("utf-8")


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(_read_text(path))
    except FileNotFoundError:
        raise AnnotateError(f"{what} not found: {path}") from None
    except OSError as exc:  # a folder, a device or FIFO, a permission
        raise AnnotateError(f"cannot read {path} ({exc.strerror}); expected {what}") from None
    except RecursionError:
        raise AnnotateError(f"{path} is not valid JSON (nested too deeply to parse); expected {what}") from None
    except ValueError as exc:  # malformed, not UTF-8, or an integer of more than 4300 digits
        raise AnnotateError(f"{path} is not valid JSON ({exc}); expected {what}") from None


# --- the data sets --------------------------------------------------------------------------------------------


class DataSet:
    """A box-labelled data set: its tasks, and how results go back into (a copy of) it.

    Results are dicts ``{"task": key, "objects": {index: payload}, "failures": {index: reason}}`` with string
    indices (JSON keys), as the engines produce them.
    """

    fmt: str
    output_is_dir: bool

    def tasks(self) -> Iterator[Task]:
        """Every image with something to do (dir formats: every label file, even one without boxes)."""
        raise NotImplementedError

    def failures(self) -> list[tuple[str, int, str]]:
        """``(task key, object index, reason)`` found while reading, before any image is opened."""
        return []

    def fingerprint(self, task: Task) -> str:
        """A digest of everything a task's result depends on: its image path, its boxes and their places in the
        input (and, for label files, the file itself). The journal keeps it beside each result, so that a resumed
        run replays a result only if it is still the result of that input."""
        return hashlib.sha256(task.to_json().encode()).hexdigest()[:32]

    def accept(self, result: dict[str, Any], out: Path, replay: bool = False) -> None:
        """Take one image's results; ``replay`` for results read back from the journal of an earlier run."""
        raise NotImplementedError

    def finish(self, out: Path) -> None:
        """Write what is left of the output."""

    def describe(self, key: str, index: int) -> dict[str, Any]:
        """The image and annotation a failure names in the report."""
        return {"image": key, "annotation": index}


class CocoSet(DataSet):
    """A COCO instance JSON (``images``, ``annotations`` with ``bbox = [x, y, w, h]``, corner coordinates).

    Annotations with a ``bbox`` get ``segmentation``, ``area`` (from the mask) and ``polyseg_score``; those with
    ``iscrowd`` 1 (or "1") are skipped, those with another value than 0 or 1 are reported as "bad_iscrowd", and those that already have a non-empty segmentation are kept unless
    ``overwrite``. Images are found by ``file_name`` under the images folder.
    """

    fmt, output_is_dir = "coco", False

    def __init__(self, path: Path, images: Path, overwrite: bool = False) -> None:
        doc = _load_json(path, "a COCO instance JSON file")
        if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list) or not isinstance(
            doc.get("images"), list
        ):
            raise AnnotateError(f"{path}: expected a COCO instance JSON object with 'images' and 'annotations' lists")
        self.doc = doc
        self._files: dict[str, str | None] = {}  # image key -> path; None: a file_name that names no file
        first: dict[str, int] = {}  # images[] index of each id
        for i, image in enumerate(doc["images"]):
            if not isinstance(image, dict) or "id" not in image or "file_name" not in image:
                raise AnnotateError(f"{path}: images[{i}] needs an 'id' and a 'file_name'")
            key = _image_key(image["id"])
            if key is None:
                continue  # no annotation can name it: theirs are "unknown_image"
            if key in first:
                raise AnnotateError(f"{path}: images[{i}] repeats the id {image['id']!r} of images[{first[key]}]: "
                                    "image ids must be unique")
            first[key] = i
            name = image["file_name"]
            self._files[key] = str(images / name) if isinstance(name, str) and name and "\0" not in name else None
        self._boxes: dict[str, list[tuple[int, tuple[float, ...]]]] = {}
        self._failures: list[tuple[str, int, str]] = []
        for i, ann in enumerate(doc["annotations"]):
            if not isinstance(ann, dict) or "bbox" not in ann:
                continue
            crowd = ann.get("iscrowd")
            if crowd not in _NOT_CROWD:
                if crowd not in _CROWD:
                    self._failures.append((str(ann.get("image_id")), i, "bad_iscrowd"))
                continue
            if ann.get("segmentation") and not overwrite:
                continue
            key = _image_key(ann.get("image_id"))
            bbox = ann["bbox"]
            if key is None or key not in self._files:
                self._failures.append((str(ann.get("image_id")), i, "unknown_image"))
            elif self._files[key] is None:
                self._failures.append((key, i, "bad_file_name"))
            elif not isinstance(bbox, list) or len(bbox) != 4 or not all(np.isfinite(_to_float(v)) for v in bbox):
                self._failures.append((key, i, "bad_box"))
            else:
                x, y, w, h = (float(v) for v in bbox)
                self._boxes.setdefault(key, []).append((i, (x, y, x + w, y + h)))

    def tasks(self) -> Iterator[Task]:
        for key, boxes in self._boxes.items():
            yield Task(key, str(self._files[key]), tuple(boxes))

    def failures(self) -> list[tuple[str, int, str]]:
        return self._failures

    def accept(self, result: dict[str, Any], out: Path, replay: bool = False) -> None:
        annotations = self.doc["annotations"]
        for index, update in result["objects"].items():
            annotations[int(index)].update(update)

    def finish(self, out: Path) -> None:
        write_atomic(out, json.dumps(self.doc))

    def describe(self, key: str, index: int) -> dict[str, Any]:
        return {"image": key, "annotation": self.doc["annotations"][index].get("id", index)}


class YoloSet(DataSet):
    """YOLO detection labels: ``LABELS/**/NAME.txt`` with lines ``class cx cy w h`` normalised to [0, 1]; the
    image is ``IMAGES/**/NAME.<ext>`` at the same relative path. Writes YOLO-seg labels (``class x1 y1 ...``)
    to the output folder at the same relative paths. Lines with more than 5 values are already polygons and are
    kept unless ``overwrite`` (then their bounding box is the prompt)."""

    fmt, output_is_dir = "yolo", True

    def __init__(self, labels: Path, images: Path, overwrite: bool = False) -> None:
        if not labels.is_dir():
            raise AnnotateError(f"YOLO labels folder not found: {labels} (expected a folder of NAME.txt files)")
        self.labels, self.images, self.overwrite = labels, images, overwrite
        self.files = sorted(p.relative_to(labels).as_posix() for p in labels.rglob("*.txt") if not p.is_dir())
        if not self.files:
            raise AnnotateError(f"{labels} holds no .txt label files; expected YOLO labels 'class cx cy w h'")
        self._failures: list[tuple[str, int, str]] = []

    def _image(self, rel: str) -> str:
        stem = self.images / Path(rel).with_suffix("")
        for ext in IMAGE_EXTENSIONS:
            if stem.with_name(stem.name + ext).is_file():
                return str(stem.with_name(stem.name + ext))
        return str(stem.with_name(stem.name + ".jpg"))

    def tasks(self) -> Iterator[Task]:
        for rel in self.files:
            try:
                text = _read_text(self.labels / rel)
            except (OSError, UnicodeDecodeError):
                self._failures.append((rel, -1, "label_unreadable"))  # the file is left out of the output
                continue
            boxes = []
            for i, line in enumerate(text.splitlines()):
                values = line.split()
                if len(values) < 5 or (len(values) > 5 and not self.overwrite):
                    continue
                try:
                    numbers = [float(v) for v in values[1:]]
                except ValueError:
                    numbers = [float("nan")] * 4
                if len(values) == 5:
                    cx, cy, w, h = numbers
                    boxes.append((i, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)))
                elif len(numbers) % 2 == 0:
                    xy = np.asarray(numbers).reshape(-1, 2)
                    boxes.append((i, (*xy.min(0).tolist(), *xy.max(0).tolist())))
            yield Task(rel, self._image(rel) if boxes else "", tuple(boxes), normalised=True)

    def fingerprint(self, task: Task) -> str:
        return _file_digest(self.labels / task.key, super().fingerprint(task))

    def accept(self, result: dict[str, Any], out: Path, replay: bool = False) -> None:
        target = out / result["task"]
        if replay and target.exists():
            return
        lines = _read_text(self.labels / result["task"]).splitlines()
        for index, polygon in result["objects"].items():
            lines[int(index)] = " ".join([lines[int(index)].split()[0], *(f"{v:.6g}" for v in polygon)])
        write_atomic(target, "".join(line + "\n" for line in lines))

    def failures(self) -> list[tuple[str, int, str]]:
        return self._failures

    def describe(self, key: str, index: int) -> dict[str, Any]:
        return {"image": key, "annotation": index + 1 if index >= 0 else None}  # line number; None: the file


class LabelmeSet(DataSet):
    """labelme JSON files (a folder, searched recursively, or one file): ``rectangle`` shapes become ``polygon``
    shapes in place, one per part (parts share a ``group_id``); everything else is kept. The image is
    ``imagePath`` relative to the JSON file, or its file name in the images folder if one is given."""

    fmt, output_is_dir = "labelme", True

    def __init__(self, path: Path, images: Path | None, overwrite: bool = False) -> None:
        if path.is_file():
            self.root, self.files = path.parent, [path.name]
        elif path.is_dir():
            self.root = path
            self.files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*.json") if not p.is_dir())
        else:
            raise AnnotateError(f"labelme input not found: {path} (expected a folder of labelme .json files)")
        if not self.files:
            raise AnnotateError(f"{path} holds no .json files; expected labelme JSON files")
        self.images = images
        self._failures: list[tuple[str, int, str]] = []

    def _read(self, rel: str) -> dict[str, Any]:
        doc = _load_json(self.root / rel, "a labelme JSON file")
        if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
            raise AnnotateError(f"{self.root / rel}: expected a labelme JSON object with a 'shapes' list")
        return doc

    def tasks(self) -> Iterator[Task]:
        for rel in self.files:
            try:
                doc = self._read(rel)
            except AnnotateError:
                self._failures.append((rel, -1, "label_unreadable"))  # the file is left out of the output
                continue
            boxes = []
            for i, shape in enumerate(doc["shapes"]):
                if isinstance(shape, dict) and shape.get("shape_type") == "rectangle":
                    try:
                        (xa, ya), (xb, yb) = shape["points"]
                        edges = (min(xa, xb), min(ya, yb), max(xa, xb) + 1, max(ya, yb) + 1)
                    except (KeyError, TypeError, ValueError):
                        edges = (float("nan"),) * 4
                    boxes.append((i, tuple(_to_float(v) for v in edges)))
            image_path = str(doc.get("imagePath") or "")
            if self.images is not None:
                image = self.images / Path(image_path.replace("\\", "/")).name
            else:
                image = (self.root / rel).parent / image_path
            yield Task(rel, str(image) if boxes else "", tuple(boxes))

    def fingerprint(self, task: Task) -> str:
        return _file_digest(self.root / task.key, super().fingerprint(task))

    def accept(self, result: dict[str, Any], out: Path, replay: bool = False) -> None:
        target = out / result["task"]
        if replay and target.exists():
            return
        doc = self._read(result["task"])
        used = {s.get("group_id") for s in doc["shapes"] if isinstance(s, dict)}
        next_group = max([g for g in used if isinstance(g, int)], default=0) + 1
        shapes: list[Any] = []
        for i, shape in enumerate(doc["shapes"]):
            parts = result["objects"].get(str(i))
            if parts is None:
                shapes.append(shape)
                continue
            group = shape.get("group_id")
            if group is None and len(parts) > 1:
                group, next_group = next_group, next_group + 1
            shapes.extend({**shape, "points": p, "shape_type": "polygon", "group_id": group} for p in parts)
        doc["shapes"] = shapes
        write_atomic(target, json.dumps(doc, indent=2, ensure_ascii=False))

    def failures(self) -> list[tuple[str, int, str]]:
        return self._failures

    def describe(self, key: str, index: int) -> dict[str, Any]:
        return {"image": key, "annotation": index if index >= 0 else None}  # shape index; None: the file


def _file_digest(path: Path, salt: str) -> str:
    """sha256 of ``salt`` and the bytes of the file at ``path`` (of the message if it cannot be read)."""
    digest = hashlib.sha256(salt.encode())
    try:
        digest.update(read_regular_file(path, MAX_INPUT_BYTES))
    except OSError as exc:
        digest.update(str(exc).encode())
    return digest.hexdigest()[:32]


#: ``iscrowd`` values of a single object (missing is one too), and of a crowd; anything else is reported.
_NOT_CROWD = (None, 0, "0")  # False == 0
_CROWD = (1, "1")  # True == 1


def _image_key(image_id: Any) -> str | None:
    """The task key of a COCO image id (a number or a string; 7 and "7" are one image); None for anything else
    (null, a list, a dict, a boolean), which names no image."""
    if isinstance(image_id, bool) or not isinstance(image_id, (int, float, str)):
        return None
    return str(image_id)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _to_float(v: Any) -> float:
    """A JSON number as a float: NaN if it is not a number, infinite if no float holds it (``10**400``)."""
    if not _is_number(v):
        return float("nan")
    try:
        return float(v)
    except OverflowError:
        return float("inf") if v > 0 else float("-inf")


def detect_format(path: Path) -> str:
    """Guess the format of ``path``: a JSON file with ``annotations`` is COCO, another JSON file or a folder of
    them labelme, a folder of ``.txt`` files YOLO."""
    if path.is_file():
        if path.suffix.lower() != ".json":
            raise AnnotateError(f"cannot tell the format of {path}: expected a .json file or a folder (or --format)")
        doc = _load_json(path, "a COCO or labelme JSON file")
        return "coco" if isinstance(doc, dict) and "annotations" in doc else "labelme"
    if path.is_dir():
        if next(path.rglob("*.txt"), None) is not None:
            return "yolo"
        if next(path.rglob("*.json"), None) is not None:
            return "labelme"
        raise AnnotateError(f"{path} holds no .txt (YOLO) or .json (labelme) files")
    raise AnnotateError(f"input not found: {path} (expected a COCO JSON file, a YOLO labels folder or labelme files)")


def open_dataset(path: Path, images: Path | None, fmt: str | None = None, overwrite: bool = False) -> DataSet:
    """Read the data set at ``path`` (format guessed by :func:`detect_format` if not given)."""
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise AnnotateError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if images is not None and not images.is_dir():
        raise AnnotateError(f"images folder not found: {images}")
    if fmt == "labelme":
        return LabelmeSet(path, images, overwrite)
    if images is None:
        raise AnnotateError(f"--images is required for {fmt}: the folder the images are in")
    if fmt == "coco":
        return CocoSet(path, images, overwrite)
    return YoloSet(path, images, overwrite)
