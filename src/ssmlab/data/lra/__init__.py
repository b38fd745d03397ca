"""Long Range Arena: loaders for the six released tasks (ListOps, Text, Retrieval, Image, Pathfinder, Path-X).

Importing this package registers the tasks `listops`, `text`, `retrieval`, `image`, `pathfinder`, `pathx`.
Files are read from the data directory (`data_dir=`, `$SSMLAB_DATA`, ...; see `files.data_root`); nothing
is downloaded.
"""

from . import files, image, listops, pathfinder, retrieval, text, tokenizers  # noqa: F401  (registers tasks)
from .files import DataFormatError as DataFormatError
from .files import DataNotFoundError as DataNotFoundError
from .files import data_root as data_root
