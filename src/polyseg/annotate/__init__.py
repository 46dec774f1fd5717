"""``polyseg annotate``: turn a whole box-labelled data set (COCO, YOLO, labelme) into polygons.

>>> from polyseg.annotate import annotate
>>> summary = annotate("instances.json", "images/", "instances_polyseg.json")   # COCO in, COCO with polygons out
>>> print(summary.line())

See :func:`annotate`. The local engine needs nothing beyond polyseg; ``engine="ray"`` needs ``polyseg[ray]``.
"""

from .formats import FORMATS, REASONS, AnnotateError
from .run import Summary, annotate

__all__ = ["FORMATS", "REASONS", "AnnotateError", "Summary", "annotate"]
