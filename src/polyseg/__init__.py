"""polyseg: object outlines from four extreme points or a box, in milliseconds on a CPU.

>>> from polyseg import Segmenter
>>> with Segmenter.from_pretrained() as seg:
...     polygon = seg.polygon(image_rgb, extreme_points)   # (N, 2) float (x, y), pixel centres
"""

from .contours import Part
from .crop import CropWindow
from .network import ModelInfo
from .prompt import Prompt
from .result import Segmentation
from .segmenter import Prepared, Segmenter

__version__ = "0.1.0"
__all__ = ["CropWindow", "ModelInfo", "Part", "Prepared", "Prompt", "Segmentation", "Segmenter", "__version__"]
