"""Readers for the annotation formats polyseg trains on.

Every reader yields :class:`Frame` objects: one RGB image and its object instances as boolean masks. Nothing
downstream knows which format a frame came from, so a new data set needs only a reader here.

Formats
-------
``semantic``   folders ``images/NAME.jpg`` + ``labels/NAME.png`` of per-pixel class indices (CamVid); instances are
               connected components of the object classes.
``coco``       COCO instance JSON (polygons, uncompressed and compressed RLE) + an image folder.
``cityscapes`` Cityscapes ``gtFine/SPLIT/CITY/*_gtFine_instanceIds.png`` (or ``*_gtFine_polygons.json``) with
               ``leftImg8bit/SPLIT/CITY/*_leftImg8bit.png``; the paper's 9 classes.
``masks``      an image folder + a folder of binary masks with the same stems; instances are components.
``via``        VGG Image Annotator 1.x JSON with polygon regions.
``yolo``       YOLO segmentation text files (``class x1 y1 x2 y2 ...``, normalised) + an image folder.
``salient``    an image folder + a folder of grey salient-object masks (DUTS); one object per group of nearby
               components (:func:`salient_objects`).
``parsing``    an image folder + MATLAB ``.mat`` human-parsing labels (Clothing Co-Parsing): the person is every
               non-background label.
``layered``    YOLOv8-seg polygons in *depth order* (later lines occlude earlier ones), class names from
               ``data.yaml``: the Roboflow export of Cityscapes, rasterised at the original 2048x1024.

Reserved data
-------------
Frames reserved for evaluation are refused here, before any of their files is opened: Cityscapes frames of the
cities in :data:`RESERVED_CITIES` (by the city prefix of the frame name, whichever folder they sit in), any path
containing ``val2017`` (COCO val2017, see :func:`check_not_reserved`) and a CamVid folder named ``test``.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

#: Cityscapes cities reserved for evaluation: never read for training or tuning.
RESERVED_CITIES = frozenset({"aachen", "bochum"})


def cityscapes_city(name: str) -> str:
    """The city of a Cityscapes frame name: ``bremen_000001_000019_leftImg8bit...`` -> ``bremen``."""
    return Path(name).name.split("_")[0].lower()


def check_not_reserved(path: Path | str, marker: str) -> None:
    """Raise ``ValueError`` if a component of ``path`` contains ``marker`` (``"val2017"``: COCO's validation
    images and annotations are reserved for evaluation)."""
    if any(marker in part.lower() for part in Path(path).parts):
        raise ValueError(f"{path}: {marker} data is reserved for evaluation and is never read here")


@dataclass
class Frame:
    """One image and its instances.

    Attributes
    ----------
    name : str
        Unique name of the image within its data set (used to split and to report).
    image : (H, W, 3) uint8
        RGB.
    instances : list of (class name, (H, W) bool mask)
    group : str
        Frames with the same group must land in the same split (augmented copies, video sequences).
    """

    name: str
    image: np.ndarray
    instances: list[tuple[str, np.ndarray]] = field(default_factory=list)
    group: str = ""


def read_rgb(path: Path | str) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB; raise ``FileNotFoundError`` if it cannot be read."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def polygons_to_mask(polygons: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Rasterise polygons given in *corner* coordinates (COCO, VIA, YOLO: pixel i spans [i, i+1)) into a bool
    mask, with COCO's own rasteriser (pycocotools), so a rectangle [x0, x1) x [y0, y1) fills exactly those pixels."""
    from pycocotools import mask as mask_utils  # training-only dependency

    flat = [np.asarray(p, np.float64).ravel().tolist() for p in polygons]
    flat = [p for p in flat if len(p) >= 6]
    if not flat:
        return np.zeros((height, width), bool)
    return mask_utils.decode(mask_utils.frPyObjects(flat, height, width)).any(axis=2)


def fill_centre_polygon(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """Fill one polygon whose vertices are pixel centres (Cityscapes), boundary pixels included."""
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.round(np.asarray(polygon, np.float64)).astype(np.int32).reshape(-1, 2)], 1)
    return mask.astype(bool)


def components(mask: np.ndarray, min_area: int) -> list[np.ndarray]:
    """Split a bool mask into 8-connected components of at least ``min_area`` pixels."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return [labels == i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area]


def _images_by_stem(folder: Path, prefix: str = "") -> dict[str, Path]:
    """The images of ``folder`` by file stem, ``prefix`` removed from the stems that start with it."""
    return {
        p.stem.removeprefix(prefix): p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES
    }


# --- semantic label folders (CamVid) ---------------------------------------------------------------------------

CAMVID_CLASSES = {6: "sign", 8: "car", 9: "pedestrian", 10: "bicyclist"}


def read_semantic(
    root: Path | str, classes: dict[int, str] | None = None, min_area: int = 150
) -> Iterator[Frame]:
    """``root/images/NAME.*`` + ``root/labels/NAME.png`` (uint8 class index per pixel).

    Instances are 8-connected components of each class in ``classes`` (default: CamVid's car, pedestrian,
    bicyclist and sign/symbol) with at least ``min_area`` pixels. The frame's group is the CamVid sequence
    (the name up to the first ``_``).
    """
    root = Path(root)
    if root.name.lower() == "test":
        raise ValueError(f"{root}: CamVid's test split is reserved for evaluation and is never read here")
    classes = CAMVID_CLASSES if classes is None else classes
    images = _images_by_stem(root / "images")
    for label_path in sorted((root / "labels").glob("*.png")):
        labels = cv2.imread(str(label_path), cv2.IMREAD_GRAYSCALE)
        frame = Frame(label_path.stem, read_rgb(images[label_path.stem]), group=label_path.stem.split("_")[0])
        for index, name in classes.items():
            frame.instances += [(name, m) for m in components(labels == index, min_area)]
        yield frame


# --- COCO ------------------------------------------------------------------------------------------------------


def decode_coco_segmentation(segmentation, height: int, width: int) -> np.ndarray:
    """COCO ``segmentation`` (polygon list, uncompressed RLE or compressed RLE) -> ``(H, W)`` bool mask."""
    if isinstance(segmentation, list):
        return polygons_to_mask([np.asarray(p) for p in segmentation], height, width)
    from pycocotools import mask as mask_utils  # training-only dependency

    rle = segmentation
    if isinstance(rle.get("counts"), list):
        rle = mask_utils.frPyObjects(rle, height, width)
    return mask_utils.decode(rle).astype(bool)


def read_coco(
    annotation_file: Path | str,
    image_dir: Path | str | None = None,
    *,
    skip_classes: tuple[str, ...] = (),
    keep_classes: tuple[str, ...] | None = None,
    min_area: int = 100,
    group_fn: Callable[[str], str] | None = None,
    seen_ids: set[int] | None = None,
) -> Iterator[Frame]:
    """COCO instance JSON. ``image_dir`` defaults to the JSON's folder. Crowd annotations are skipped.

    ``seen_ids``, shared by several calls, de-duplicates images by COCO image id across files (each image is read
    once, from the first file that names it); ids read here are added to it.
    """
    annotation_file = Path(annotation_file)
    image_dir = annotation_file.parent if image_dir is None else Path(image_dir)
    check_not_reserved(annotation_file, "val2017")
    check_not_reserved(image_dir, "val2017")
    data = json.loads(annotation_file.read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    by_image: dict[int, list[dict]] = {}
    for ann in data["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    for info in data["images"]:
        if seen_ids is not None:
            if info["id"] in seen_ids:
                continue
            seen_ids.add(info["id"])
        anns = by_image.get(info["id"], [])
        h, w = info["height"], info["width"]
        instances = []
        for ann in anns:
            name = names[ann["category_id"]]
            if ann.get("iscrowd") or name in skip_classes or (keep_classes is not None and name not in keep_classes):
                continue
            mask = decode_coco_segmentation(ann["segmentation"], h, w)
            if mask.sum() >= min_area:
                instances.append((name, mask))
        if not instances:
            continue
        image = read_rgb(image_dir / info["file_name"])
        if image.shape[:2] != (h, w):
            raise ValueError(f"{info['file_name']}: image is {image.shape[:2]}, annotation says {(h, w)}")
        group = group_fn(info["file_name"]) if group_fn else info["file_name"]
        yield Frame(info["file_name"], image, instances, group)


def roboflow_group(file_name: str) -> str:
    """Roboflow exports name augmented copies ``NAME_jpg.rf.HASH.jpg``: group them by ``NAME``."""
    return file_name.split("_jpg.rf.")[0].split(".rf.")[0]


# --- Cityscapes ------------------------------------------------------------------------------------------------

#: The paper's 9 classes: Cityscapes label id -> name.
CITYSCAPES_CLASSES = {
    24: "person",
    25: "rider",
    26: "car",
    27: "truck",
    28: "bus",
    32: "motorcycle",
    33: "bicycle",
    19: "traffic light",
    20: "traffic sign",
}


def read_cityscapes(root: Path | str, split: str = "train", min_area: int = 150) -> Iterator[Frame]:
    """Cityscapes: ``root/gtFine/SPLIT/CITY/*_gtFine_instanceIds.png`` (or ``*_gtFine_polygons.json``) and
    ``root/leftImg8bit/SPLIT/CITY/*_leftImg8bit.png``.

    Instance ids are ``label_id * 1000 + k`` for the classes with instances; traffic lights and signs carry no
    instance ids, so their instances are connected components. Polygon JSON is used where no instance PNG exists.
    """
    root = Path(root)
    name_to_id = {v: k for k, v in CITYSCAPES_CLASSES.items()}
    for city_dir in sorted((root / "gtFine" / split).iterdir()):
        if city_dir.name.lower() in RESERVED_CITIES:
            continue
        stems = sorted({p.name.split("_gtFine_")[0] for p in city_dir.glob("*_gtFine_*")})
        for stem in stems:
            image = read_rgb(root / "leftImg8bit" / split / city_dir.name / f"{stem}_leftImg8bit.png")
            frame = Frame(stem, image, group=city_dir.name)
            ids_path = city_dir / f"{stem}_gtFine_instanceIds.png"
            if ids_path.exists():
                ids = cv2.imread(str(ids_path), cv2.IMREAD_UNCHANGED).astype(np.int64)
                for value in np.unique(ids):
                    label = value // 1000 if value >= 1000 else value
                    if label not in CITYSCAPES_CLASSES:
                        continue
                    mask = ids == value
                    parts = [mask] if value >= 1000 else components(mask, min_area)
                    frame.instances += [(CITYSCAPES_CLASSES[label], m) for m in parts if m.sum() >= min_area]
            else:
                data = json.loads((city_dir / f"{stem}_gtFine_polygons.json").read_text())
                h, w = data["imgHeight"], data["imgWidth"]
                for obj in data["objects"]:
                    label = obj["label"].removesuffix("group")
                    if label not in name_to_id or obj.get("deleted"):
                        continue
                    mask = fill_centre_polygon(np.asarray(obj["polygon"]), h, w)
                    if mask.sum() >= min_area:
                        frame.instances.append((label, mask))
            yield frame


# --- image + binary-mask folders -------------------------------------------------------------------------------


def read_mask_folders(
    image_dir: Path | str,
    mask_dir: Path | str,
    *,
    class_name: str = "object",
    min_area: int = 400,
    mask_suffix: str = "",
    instance_ids: bool = False,
) -> Iterator[Frame]:
    """An image folder and a mask folder with the same stems (the mask's stem may end in ``mask_suffix``, e.g.
    PennFudan's ``FudanPed00001_mask.png``).

    Binary masks (default): non-zero pixels are foreground and each 8-connected component of at least
    ``min_area`` pixels is one instance. With ``instance_ids`` each non-zero value is one instance (PennFudan:
    0 background, 1..n the pedestrians), so touching objects stay apart. Masks smaller than their image (same
    aspect ratio) are resized to it with nearest-neighbour.
    """
    masks = {stem.removesuffix(mask_suffix): p for stem, p in _images_by_stem(Path(mask_dir)).items()}
    for stem, image_path in _images_by_stem(Path(image_dir)).items():
        if stem not in masks:
            continue
        image = read_rgb(image_path)
        mask = cv2.imread(str(masks[stem]), cv2.IMREAD_UNCHANGED if instance_ids else cv2.IMREAD_GRAYSCALE)
        if mask.ndim == 3:
            mask = mask[:, :, 0]
        if mask.shape != image.shape[:2]:
            mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
        if instance_ids:
            parts = [m for m in (mask == v for v in np.unique(mask) if v != 0) if m.sum() >= min_area]
        else:
            parts = components(mask > 127, min_area)
        if parts:
            yield Frame(stem, image, [(class_name, m) for m in parts], stem)


def salient_objects(
    foreground: np.ndarray, *, gap: float = 0.03, min_fraction: float = 0.002, min_area: int = 400
) -> list[np.ndarray]:
    """Split a salient-object mask into objects.

    A saliency mask marks whatever stands out, so it may hold two separate objects, or one object seen in several
    parts (a dog behind a fence post, a handle apart from its cup). In DUTS-TR, 93 % of masks are one
    8-connected component; most of the others are one object cut by a thin occluder. So components closer than
    ``gap`` times the image diagonal (a dilation by a disc of that diameter links them) form one object, and
    components further apart are separate objects. Objects smaller than ``min_fraction`` of the image or
    ``min_area`` pixels (specks, halos) are dropped.

    Parameters
    ----------
    foreground : (H, W) bool
    gap, min_fraction, min_area : see above.

    Returns
    -------
    list of (H, W) bool masks, largest first; each holds only pixels of ``foreground``.
    """
    fg = foreground.astype(np.uint8)
    k = max(3, round(gap * np.hypot(*fg.shape)) | 1)
    linked = cv2.dilate(fg, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    n, labels = cv2.connectedComponents(linked, connectivity=8)
    keep = max(min_area, min_fraction * fg.size)
    objects = [m for m in ((labels == i) & foreground for i in range(1, n)) if m.sum() >= keep]
    return sorted(objects, key=lambda m: -int(m.sum()))


def read_salient(
    image_dir: Path | str,
    mask_dir: Path | str,
    *,
    class_name: str = "object",
    keep: Callable[[int], bool] | None = None,
    image_prefix: str = "",
    mask_prefix: str = "",
) -> Iterator[Frame]:
    """Images and grey salient-object masks with the same stems (DUTS: ``DUTS-TR-Image/x.jpg`` and
    ``DUTS-TR-Mask/x.png``; or the same once ``image_prefix`` / ``mask_prefix`` are removed: ``image_0001.jpg``
    and ``mask_0001.png``); mask pixels above 127 are foreground, split into objects by :func:`salient_objects`.
    ``keep(i)`` selects images by their index in stem order (a split decided before reading)."""
    masks = _images_by_stem(Path(mask_dir), mask_prefix)
    for i, (stem, image_path) in enumerate(_images_by_stem(Path(image_dir), image_prefix).items()):
        if stem not in masks or (keep is not None and not keep(i)):
            continue
        image = read_rgb(image_path)
        mask = cv2.imread(str(masks[stem]), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise FileNotFoundError(f"cannot read mask {masks[stem]}")
        if mask.shape != image.shape[:2]:
            mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        objects = salient_objects(mask > 127)
        if objects:
            yield Frame(stem, image, [(class_name, m) for m in objects], stem)


def read_parsing(
    image_dir: Path | str, label_dir: Path | str, *, variable: str = "groundtruth", keep: Callable[[int], bool] | None = None
) -> Iterator[Frame]:
    """Photos and MATLAB human-parsing labels with the same stems (Clothing Co-Parsing:
    ``photos/0001.jpg`` and ``annotations/pixel-level/0001.mat`` holding ``groundtruth``, 0 = background).

    The person is every labelled pixel: one object per photo, the components linked as in
    :func:`salient_objects` (a hand apart from the body belongs to it), the largest group kept. Needs SciPy.
    """
    from scipy.io import loadmat  # training-only dependency, imported where used

    images = _images_by_stem(Path(image_dir))
    for i, mat in enumerate(sorted(Path(label_dir).glob("*.mat"))):
        if mat.stem not in images or (keep is not None and not keep(i)):
            continue
        labels = np.asarray(loadmat(str(mat))[variable])
        image = read_rgb(images[mat.stem])
        if labels.shape != image.shape[:2]:
            raise ValueError(f"{mat}: labels {labels.shape} for an image of {image.shape[:2]}")
        objects = salient_objects(labels > 0, gap=0.05)
        if objects:
            yield Frame(mat.stem, image, [("person", objects[0])], mat.stem)


# --- VGG Image Annotator ---------------------------------------------------------------------------------------


def read_via(
    annotation_file: Path | str,
    *,
    class_key: str = "Clases",
    skip_classes: tuple[str, ...] = (),
    min_area: int = 100,
) -> Iterator[Frame]:
    """VIA 1.x JSON (dict of images with ``regions``); polygon regions only, images beside the JSON."""
    annotation_file = Path(annotation_file)
    data = json.loads(annotation_file.read_text())
    entries = data.values() if isinstance(data, dict) else data
    for entry in entries:
        path = annotation_file.parent / entry["filename"]
        if not path.exists():
            continue
        regions = entry["regions"].values() if isinstance(entry["regions"], dict) else entry["regions"]
        image = None
        instances = []
        for region in regions:
            shape = region["shape_attributes"]
            name = region.get("region_attributes", {}).get(class_key, "object")
            if shape.get("name") != "polygon" or name in skip_classes:
                continue
            if image is None:
                image = read_rgb(path)
            poly = np.stack([shape["all_points_x"], shape["all_points_y"]], axis=1)
            mask = polygons_to_mask([poly], *image.shape[:2])
            if mask.sum() >= min_area:
                instances.append((name, mask))
        if instances:
            yield Frame(entry["filename"], image, instances, entry["filename"])


# --- YOLO segmentation -----------------------------------------------------------------------------------------


def read_yolo(
    image_dir: Path | str, label_dir: Path | str, *, class_names: dict[int, str] | None = None, min_area: int = 100
) -> Iterator[Frame]:
    """YOLO segmentation: ``label_dir/NAME.txt`` lines ``class x1 y1 x2 y2 ...`` normalised to [0, 1]."""
    images = _images_by_stem(Path(image_dir))
    for label_path in sorted(Path(label_dir).glob("*.txt")):
        if label_path.stem not in images:
            continue
        image = read_rgb(images[label_path.stem])
        h, w = image.shape[:2]
        instances = []
        for line in label_path.read_text().splitlines():
            values = line.split()
            if len(values) < 7:
                continue
            cls = int(values[0])
            poly = np.asarray(values[1:], np.float64).reshape(-1, 2) * (w, h)
            mask = polygons_to_mask([poly], h, w)
            if mask.sum() >= min_area:
                instances.append(((class_names or {}).get(cls, str(cls)), mask))
        if instances:
            yield Frame(label_path.stem, image, instances, label_path.stem)


# --- YOLOv8-seg in depth order (the Roboflow export of Cityscapes) ------------------------------------------

#: The paper's 9 Cityscapes classes, by their names in the export's ``data.yaml``.
CITYSCAPES_NAMES = tuple(CITYSCAPES_CLASSES.values())
#: Cityscapes' own frame size (width, height).
CITYSCAPES_SIZE = (2048, 1024)


def yolo_class_names(data_yaml: Path | str) -> list[str]:
    """Class names of a YOLO export, by index, from its ``data.yaml`` (``names:`` as a list or an index map)."""
    import yaml  # training-only dependency

    names = yaml.safe_load(Path(data_yaml).read_text())["names"]
    return [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)


def paint_layers(polygons: list[np.ndarray], width: int, height: int) -> np.ndarray:
    """Paint polygons in order, later over earlier, as cityscapesScripts draws its instance images.

    Vertices are *pixel-centre* coordinates (Cityscapes: a vertex at integer ``x`` is pixel ``x``); a pixel is
    painted when its centre lies inside or on the polygon's outline (``cv2.fillPoly`` with 1/16 px vertex
    precision). Returns an ``(height, width)`` int32 map: 0 where nothing was painted, else 1 + the index of the
    polygon visible there.
    """
    shift = 4
    canvas = np.zeros((height, width), np.int32)
    for i, poly in enumerate(polygons):
        pts = np.round(np.asarray(poly, np.float64).reshape(-1, 2) * (1 << shift)).astype(np.int32)
        if len(pts) >= 3:
            cv2.fillPoly(canvas, [pts], i + 1, lineType=cv2.LINE_8, shift=shift)
    return canvas


def paint_layers_rounded(normalised: list[np.ndarray], at: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """The first 2.0 trial's drawing, kept for the rasterisation ablation: normalised polygons scaled to ``at``
    (width, height), vertices rounded to whole pixels, painted there with :func:`paint_layers`, then enlarged
    (nearest) to ``size``. Same ``(height, width)`` int32 map as :func:`paint_layers` at ``size``."""
    small = paint_layers([np.round(q * at) for q in normalised], *at)
    return small if tuple(at) == tuple(size) else cv2.resize(small, size, interpolation=cv2.INTER_NEAREST)


def read_layered(
    image_dir: Path | str,
    label_dir: Path | str,
    class_names: list[str],
    *,
    keep: tuple[str, ...] = CITYSCAPES_NAMES,
    size: tuple[int, int] | None = CITYSCAPES_SIZE,
    min_area: int = 150,
    frame_filter: Callable[[str], bool] | None = None,
    group_fn: Callable[[str], str] = cityscapes_city,
    labels_at: tuple[int, int] | None = None,
) -> Iterator[Frame]:
    """YOLOv8-seg labels whose lines are polygons in *depth order*: an object's visible region is its polygon
    minus every polygon after it in the file. That is how the Roboflow export of Cityscapes stores each frame's
    ``gtFine`` polygons (crowd classes such as ``cargroup`` and stuff classes included, as occluders).

    Parameters
    ----------
    image_dir, label_dir : folders of ``NAME.jpg`` and ``NAME.txt`` (``class x1 y1 x2 y2 ...``, normalised).
    class_names : names by class index (see :func:`yolo_class_names`).
    keep : classes that become instances; all other polygons only occlude.
    size : (width, height) at which the frame is rebuilt: the image is resized to it (bicubic) and the polygons
        are rasterised at it, so masks are exact at the original resolution even where the stored image is
        smaller (the export is 640x640, stretched from Cityscapes' 2048x1024). None: the stored image's size.
    min_area : instances with fewer visible pixels (at ``size``) are dropped.
    frame_filter : called with the frame name before anything of it is read; frames it rejects are skipped.
        Frames of :data:`RESERVED_CITIES` are always skipped.
    group_fn : the frame's group (default: its Cityscapes city, so that splits are made by city).
    labels_at : None (default): exact masks, drawn at ``size``. A (width, height) such as (640, 640): the masks
        are drawn there with rounded vertices and enlarged (:func:`paint_layers_rounded`), as the first trial
        drew them; only for the rasterisation ablation (``training/ablate.py``).

    Normalised vertices are scaled by the frame size and taken as pixel-centre coordinates (the export keeps
    Cityscapes' integer vertices: ``x_norm * 2048`` is a whole number).
    """
    images = _images_by_stem(Path(image_dir))
    keep_ids = {i for i, n in enumerate(class_names) if n in keep}
    for label_path in sorted(Path(label_dir).glob("*.txt")):
        name = label_path.stem
        if name not in images or cityscapes_city(name) in RESERVED_CITIES:
            continue
        if frame_filter is not None and not frame_filter(name):
            continue
        lines = [line.split() for line in label_path.read_text().splitlines()]
        lines = [v for v in lines if len(v) >= 7]
        if not any(int(v[0]) in keep_ids for v in lines):
            continue
        image = read_rgb(images[name])
        width, height = size if size is not None else (image.shape[1], image.shape[0])
        if (width, height) != (image.shape[1], image.shape[0]):
            image = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
        norm = [np.asarray(v[1:], np.float64).reshape(-1, 2) for v in lines]
        if labels_at is None:
            canvas = paint_layers([q * (width, height) for q in norm], width, height)
        else:
            canvas = paint_layers_rounded(norm, labels_at, (width, height))
        instances = []
        for i, v in enumerate(lines):
            if int(v[0]) not in keep_ids:
                continue
            mask = canvas == i + 1
            if mask.sum() >= min_area:
                instances.append((class_names[int(v[0])], mask))
        if instances:
            yield Frame(name, image, instances, group_fn(name))


#: The source name of the Roboflow YOLOv8-seg export of Cityscapes (:func:`user_sources`).
CITYSCAPES_YOLO_SOURCE = "cityscapes_rf"


def cityscapes_yolo_sources(
    root: Path | str, val_cities: tuple[str, ...] = ("tubingen", "ulm"), labels_at: tuple[int, int] | None = None
) -> dict[str, Callable[[], Iterator[Frame]]]:
    """Train / val readers for the Roboflow YOLOv8-seg export of Cityscapes (``root/data.yaml``,
    ``root/{train,valid,test}/{images,labels}``). Its folders are a random split of frames, so they are pooled
    and split again *by city*: ``val_cities`` for validation, every other city but the reserved ones for training.
    ``labels_at``: see :func:`read_layered`.
    """
    root = Path(root)
    names = yolo_class_names(root / "data.yaml")
    folders = [root / d for d in ("train", "valid", "test") if (root / d / "labels").exists()]

    def read(want_val: bool) -> Iterator[Frame]:
        in_split = lambda name: (cityscapes_city(name) in val_cities) == want_val
        for d in folders:
            yield from read_layered(d / "images", d / "labels", names, frame_filter=in_split, labels_at=labels_at)

    return {"train": lambda: read(False), "val": lambda: read(True)}


# --- the data sets in ../shared/data ---------------------------------------------------------------------------

COCO_NAMES_PERSON_CAR = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck", 9: "traffic light", 11: "stop sign"}


def shared_sources(data_root: Path | str) -> dict[str, dict[str, Callable[[], Iterator[Frame]]]]:
    """Readers for each data set in ``../shared/data``, by name and split (``train`` / ``val``).

    Sets that are missing on disk are left out, so training runs with whatever subset is present.
    """
    r = Path(data_root)
    out: dict[str, dict[str, Callable[[], Iterator[Frame]]]] = {}
    if (r / "camvid").exists():
        out["camvid"] = {s: (lambda s=s: read_semantic(r / "camvid" / s)) for s in ("train", "val")}
    if (r / "adas_without_da").exists():
        via = lambda s: read_via(r / "adas_without_da" / s / "via_annotations.json", skip_classes=("Pista",))
        out["adas"] = {"train": lambda: via("train"), "val": lambda: via("valid")}
    if (r / "otonom_trafficsigns").exists():
        skip = ("roadobjects", "yaya-gecidi", "kesikli-cizgi", "hemzemin-gecit")
        coco = lambda s: read_coco(
            r / "otonom_trafficsigns" / s / "_annotations.coco.json", skip_classes=skip, group_fn=roboflow_group
        )
        out["otonom"] = {"train": lambda: coco("train"), "val": lambda: coco("valid"), "test": lambda: coco("test")}
    if (r / "coco128-seg").exists():
        yolo = lambda: read_yolo(
            r / "coco128-seg/images/train2017", r / "coco128-seg/labels/train2017", class_names=COCO_NAMES_PERSON_CAR
        )
        # COCO128 has no split: every 5th image is held out for validation.
        out["coco128"] = {
            "train": lambda: (f for i, f in enumerate(yolo()) if i % 5 != 4),
            "val": lambda: (f for i, f in enumerate(yolo()) if i % 5 == 4),
        }
    if (r / "human_seg_vikram").exists():
        hs = r / "human_seg_vikram"
        out["humanseg"] = {"train": lambda: read_mask_folders(hs / "Training_Images", hs / "Ground_Truth", class_name="person")}
    return out


def user_sources(
    cityscapes: Path | str | None = None,
    coco: list[tuple[Path | str, ...]] | tuple[Path | str, ...] | None = None,
    coco_val: tuple[Path | str, ...] | None = None,
    *,
    cityscapes_yolo: Path | str | None = None,
    pennfudan: Path | str | None = None,
    duts: Path | str | None = None,
    ccp: Path | str | None = None,
    animals: Path | str | None = None,
    borrat: Path | str | None = None,
) -> dict[str, dict[str, Callable[[], Iterator[Frame]]]]:
    """Readers for data sets a user brings.

    Parameters
    ----------
    cityscapes : a Cityscapes root (``gtFine/`` and ``leftImg8bit/``; ``train`` and ``val`` splits).
    coco : one or more ``(annotation.json, image_dir)`` COCO instance files for training; images named by several
        files are read once (de-duplicated by image id).
    coco_val : ``(annotation.json, image_dir)`` for validation.
    cityscapes_yolo : the Roboflow YOLOv8-seg export of Cityscapes (the folder with ``data.yaml``), split by city
        (:func:`cityscapes_yolo_sources`).
    pennfudan : the ``PennFudanPed`` folder (``PNGImages/``, ``PedMasks/`` with instance ids); every 5th image is
        held out for validation.
    duts : the DUTS folder holding ``DUTS-TR/`` and ``DUTS-TE/`` (``*-Image/``, ``*-Mask/``): DUTS-TR and 9 of
        every 10 DUTS-TE images (in name order) train; every 10th DUTS-TE image validates.
    ccp : the Clothing Co-Parsing checkout (``photos/``, ``annotations/pixel-level/``); every 5th labelled photo
        (in name order) validates.
    animals : a folder of ``images/CLASS/image_N.jpg`` and ``masks/CLASS/mask_N.png`` (the Caltech-101 animal
        masks): one object class per sub-folder; every 5th image of each class (in name order) validates.
    borrat : the Borrat teacher-occlusion checkout: ``train/`` and ``valid/``, each with ``_annotations.coco.json``
        (its own split, by source frame: augmented copies of a frame stay on one side).
    """
    out: dict[str, dict[str, Callable[[], Iterator[Frame]]]] = {}
    if cityscapes is not None:
        out["cityscapes"] = {s: (lambda s=s: read_cityscapes(cityscapes, s)) for s in ("train", "val")}
    if cityscapes_yolo is not None:
        out[CITYSCAPES_YOLO_SOURCE] = cityscapes_yolo_sources(cityscapes_yolo)
    if pennfudan is not None:
        pf = Path(pennfudan)
        people = lambda: read_mask_folders(
            pf / "PNGImages", pf / "PedMasks", class_name="person", mask_suffix="_mask", instance_ids=True, min_area=150
        )
        out["pennfudan"] = {
            "train": lambda: (f for i, f in enumerate(people()) if i % 5 != 4),
            "val": lambda: (f for i, f in enumerate(people()) if i % 5 == 4),
        }
    if duts is not None:
        d = Path(duts)
        tr = lambda: read_salient(d / "DUTS-TR/DUTS-TR-Image", d / "DUTS-TR/DUTS-TR-Mask")
        te = lambda keep: read_salient(d / "DUTS-TE/DUTS-TE-Image", d / "DUTS-TE/DUTS-TE-Mask", keep=keep)
        out["duts"] = {
            "train": lambda: itertools.chain(tr(), te(lambda i: i % 10 != 9)),
            "val": lambda: te(lambda i: i % 10 == 9),
        }
    if ccp is not None:
        c = Path(ccp)
        parsing = lambda keep: read_parsing(c / "photos", c / "annotations/pixel-level", keep=keep)
        out["ccp"] = {"train": lambda: parsing(lambda i: i % 5 != 4), "val": lambda: parsing(lambda i: i % 5 == 4)}
    if animals is not None:
        a = Path(animals)

        def animal_frames(keep: Callable[[int], bool]) -> Iterator[Frame]:
            for cls in sorted(p.name for p in (a / "images").iterdir() if p.is_dir()):
                yield from read_salient(a / "images" / cls, a / "masks" / cls, class_name=cls, keep=keep,
                                        image_prefix="image_", mask_prefix="mask_")

        out["animals"] = {"train": lambda: animal_frames(lambda i: i % 5 != 4),
                          "val": lambda: animal_frames(lambda i: i % 5 == 4)}
    if borrat is not None:
        b = Path(borrat)
        out["borrat"] = {split: (lambda folder=folder: read_coco(b / folder / "_annotations.coco.json"))
                         for split, folder in (("train", "train"), ("val", "valid"))}
    if coco:
        files = [tuple(coco)] if isinstance(coco[0], (str, Path)) else [tuple(c) for c in coco]

        def coco_train() -> Iterator[Frame]:
            seen: set[int] = set()
            for f in files:
                yield from read_coco(*f, seen_ids=seen)

        out["coco"] = {"train": coco_train}
        if coco_val is not None:
            out["coco"]["val"] = lambda: read_coco(*coco_val)
    return out
